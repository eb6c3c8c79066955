/* SPDX-License-Identifier: MIT */
/* json.h: tolerant field readers over cJSON, private to core's parse_*.c files. */
#ifndef BATCHFS_JSON_H
#define BATCHFS_JSON_H

/*
 * PRIVATE to core/: only the parse_*.c modules include this header, so that
 * cJSON never appears in the API that fs/ or tests see (parse.h and api.h
 * take bytes and return model.h structs).
 *
 * The readers implement the tolerance rules of notes/api.md §10: null and ""
 * read as absent, numbers where strings are expected are stringified, ISO
 * strings where integers are expected are parsed, wrong types read as absent.
 * Pure functions; thread-safe.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/* Parses len bytes (not necessarily NUL-terminated). The root must be an
 * object. *out is freed with cJSON_Delete(). Depth is bounded by cJSON's
 * CJSON_NESTING_LIMIT, so hostile nesting fails cleanly. */
enum core_rc json_parse_object(const char *data, size_t len, cJSON **out,
			       struct core_err *err)
	__attribute__((warn_unused_result));

/* Case-sensitive member lookup; NULL when obj is not an object. */
const cJSON *json_get(const cJSON *obj, const char *key);

/*
 * Copies a string member into *out (heap). Numbers become their decimal
 * text; null, "", absent, or any other type give *out = NULL. Returns
 * CORE_ENOMEM only when a copy failed.
 */
enum core_rc json_dup_string(const cJSON *obj, const char *key, char **out)
	__attribute__((warn_unused_result));

/* Same as json_dup_string() but for an item rather than a member. */
enum core_rc json_dup_item(const cJSON *item, char **out)
	__attribute__((warn_unused_result));

/* Borrowed string value of a member, or NULL (no copy, no stringify). */
const char *json_peek_string(const cJSON *obj, const char *key);

/* Unix seconds from an integer, a float, a numeric string or an ISO-8601
 * string; TIME_NONE (0) otherwise. */
int64_t json_get_time(const cJSON *obj, const char *key);

/* An integer from a number or a numeric string; dflt otherwise. */
int64_t json_get_int(const cJSON *obj, const char *key, int64_t dflt);

/* true/false, 1/0, "true"/"false"; dflt otherwise. */
bool json_get_bool(const cJSON *obj, const char *key, bool dflt);

/*
 * Converts the array arr into a calloc'd C array of item_size elements.
 * fill(item, elem, err) converts one item: CORE_OK keeps it, CORE_EPARSE
 * skips it (fill must leave elem zeroed), anything else stops the walk.
 * *items and *n receive the kept elements (on failure too, so the caller's
 * release function frees them). arr not an array: CORE_EPARSE.
 */
enum core_rc json_collect(const cJSON *arr, size_t item_size,
			  enum core_rc (*fill)(const cJSON *item, void *elem,
					       struct core_err *err),
			  void **items, size_t *n, struct core_err *err)
	__attribute__((warn_unused_result));

#endif
