/* SPDX-License-Identifier: MIT */
/* arm.h: deployment discovery through the Azure management API (ARM). */
#ifndef BATCHFS_ARM_H
#define BATCHFS_ARM_H

#include <stdbool.h>

#include "auth.h"
#include "err.h"
#include "http.h"
#include "model.h"

/*
 * Lists the deployments of one Azure OpenAI / AI Services account:
 * GET {endpoint}/subscriptions/{s}/resourceGroups/{rg}/providers/
 * Microsoft.CognitiveServices/accounts/{a}/deployments, following nextLink
 * (only to the same scheme and host as the endpoint: a management token is
 * never sent elsewhere), at most ARM_MAX_PAGES pages. Only deployments
 * whose SKU is a batch one (GlobalBatch, DataZoneBatch) are kept.
 *
 * auth is borrowed (a token credential for TOKEN_SCOPE_MANAGEMENT).
 * Blocking network I/O; thread-safe (no shared state).
 */
#define ARM_DEFAULT_ENDPOINT "https://management.azure.com"
#define ARM_API_VERSION "2023-05-01"
#define ARM_MAX_PAGES 100

struct arm_config {
	const char *endpoint; /* NULL: ARM_DEFAULT_ENDPOINT */
	const char *subscription_id;
	const char *resource_group;
	const char *account_name;
	bool allow_http;
	struct http_config http;
};

/* true for the SKUs that run batch jobs. */
bool arm_sku_is_batch(const char *sku);

enum core_rc arm_deployment_list(const struct arm_config *cfg, struct auth *auth,
				 struct deployment_list *out, struct core_err *err)
	__attribute__((warn_unused_result));

#endif
