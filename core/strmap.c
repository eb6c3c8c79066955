/* SPDX-License-Identifier: MIT */
/* strmap.c: string-keyed chained hash map. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct node {
	struct node *next;
	uint64_t hash;
	void *value;
	char key[];
};

struct strmap {
	struct node **buckets;
	size_t nbuckets;
	size_t count;
	void (*free_value)(void *);
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

struct strmap *strmap_new(void (*free_value)(void *))
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	m->free_value = free_value;
	return m;
}

void strmap_free(struct strmap *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		struct node *n = m->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			if (m->free_value)
				m->free_value(n->value);
			free(n);
		}
	}
	free(m->buckets);
	free(m);
}

static struct node **find(const struct strmap *m, const char *key, uint64_t h)
{
	struct node **p = &m->buckets[h & (m->nbuckets - 1)];

	for (; *p; p = &(*p)->next)
		if ((*p)->hash == h && strcmp((*p)->key, key) == 0)
			return p;
	return p;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct node **p = find(m, key, fnv1a(key));

	return *p ? (*p)->value : NULL;
}

static void grow(struct strmap *m)
{
	size_t nb = m->nbuckets * 2, i;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep working with longer chains */
	for (i = 0; i < m->nbuckets; i++) {
		struct node *n = m->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

enum core_rc strmap_put(struct strmap *m, const char *key, void *value)
{
	uint64_t h = fnv1a(key);
	struct node **p = find(m, key, h), *n;
	size_t klen;

	if (*p) {
		if (m->free_value && (*p)->value != value)
			m->free_value((*p)->value);
		(*p)->value = value;
		return CORE_OK;
	}
	klen = strlen(key);
	n = malloc(sizeof(*n) + klen + 1);
	if (!n)
		return CORE_ENOMEM;
	memcpy(n->key, key, klen + 1);
	n->hash = h;
	n->value = value;
	n->next = NULL;
	*p = n;
	m->count++;
	if (m->count > m->nbuckets)
		grow(m);
	return CORE_OK;
}

void *strmap_take(struct strmap *m, const char *key)
{
	struct node **p = find(m, key, fnv1a(key)), *n = *p;
	void *v;

	if (!n)
		return NULL;
	*p = n->next;
	v = n->value;
	free(n);
	m->count--;
	return v;
}

size_t strmap_count(const struct strmap *m)
{
	return m->count;
}

void strmap_each(const struct strmap *m,
		 void (*fn)(const char *key, void *value, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		const struct node *n;

		for (n = m->buckets[i]; n; n = n->next)
			fn(n->key, n->value, ctx);
	}
}
