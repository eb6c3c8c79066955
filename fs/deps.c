/* SPDX-License-Identifier: MIT */
/* deps.c: the set of deployment names and their drop boxes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs.h"

void drop_free(void *p)
{
	struct drop *d = p;

	if (!d)
		return;
	strmap_free(d->entries);
	strmap_free(d->reasons);
	free(d->deployment);
	free(d);
}

bool deps_add(struct bfs *b, const char *name)
{
	struct drop *d;
	bool ok = true;

	if (!bfs_name_ok(name) || name[0] == '.')
		return false;
	pthread_mutex_lock(&b->deps_lock);
	if (!strmap_get(b->deps, name)) {
		d = calloc(1, sizeof(*d));
		ok = d && (d->deployment = strdup(name)) &&
		     (d->entries = strmap_new(entry_unref_cb)) &&
		     (d->reasons = strmap_new(free)) &&
		     strmap_put(b->deps, name, d) == CORE_OK;
		if (!ok)
			drop_free(d);
	}
	pthread_mutex_unlock(&b->deps_lock);
	return ok;
}

bool deps_has(struct bfs *b, const char *name)
{
	bool has;

	pthread_mutex_lock(&b->deps_lock);
	has = strmap_get(b->deps, name) != NULL;
	pthread_mutex_unlock(&b->deps_lock);
	return has;
}

int deps_remove(struct bfs *b, const char *name)
{
	struct drop *d;
	int ret = 0;

	pthread_mutex_lock(&b->deps_lock);
	d = strmap_get(b->deps, name);
	if (!d)
		ret = -ENOENT;
	else if (strmap_count(d->entries) || strmap_count(d->reasons))
		ret = -ENOTEMPTY;
	else
		drop_free(strmap_take(b->deps, name));
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

struct collect {
	char **names;
	size_t n;
	bool oom;
};

static void collect_name(const char *key, void *value, void *ctx)
{
	struct collect *c = ctx;

	(void)value;
	if (c->oom)
		return;
	c->names[c->n] = strdup(key);
	if (!c->names[c->n])
		c->oom = true;
	else
		c->n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **deps_list(struct bfs *b, size_t *n)
{
	struct collect c = { NULL, 0, false };

	pthread_mutex_lock(&b->deps_lock);
	c.names = calloc(strmap_count(b->deps) + 1, sizeof(char *));
	if (c.names)
		strmap_each(b->deps, collect_name, &c);
	pthread_mutex_unlock(&b->deps_lock);
	if (c.names)
		qsort(c.names, c.n, sizeof(char *), cmp_str);
	*n = c.n;
	return c.names;
}

void deps_list_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
