/* SPDX-License-Identifier: MIT */
/* hasher.c: SHA-256 of a file being written, computed inline or by its own thread following the writes. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hasher.h"

#define HASH_CHUNK (1u << 20)

struct hasher {
	EVP_MD_CTX *md;
	bool following;
	pthread_t thread;
	int fd;

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* fed, ended, stopped / caught up */
	uint64_t fed;		/* bytes written so far */
	uint64_t done;		/* bytes hashed so far */
	bool ended;		/* no more feeds: exit once caught up */
	bool stop;		/* exit now */
	int read_errno;		/* the thread could not read: it stopped */
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	char *chunk = malloc(HASH_CHUNK);
	uint64_t at, until;
	ssize_t n;

	pthread_mutex_lock(&h->lock);
	if (!chunk)
		h->read_errno = ENOMEM;
	while (chunk && !h->stop && !h->read_errno) {
		if (h->done >= h->fed) {
			if (h->ended)
				break;
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		at = h->done;
		until = h->fed - at > HASH_CHUNK ? at + HASH_CHUNK : h->fed;
		pthread_mutex_unlock(&h->lock);
		do
			n = pread(h->fd, chunk, (size_t)(until - at), (off_t)at);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			EVP_DigestUpdate(h->md, chunk, (size_t)n);
		pthread_mutex_lock(&h->lock);
		if (n <= 0)
			h->read_errno = n < 0 ? errno : EIO;
		else
			h->done += (uint64_t)n;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	free(chunk);
	return NULL;
}

enum core_rc hasher_new(struct hasher **out, struct core_err *err)
{
	struct hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	h->md = EVP_MD_CTX_new();
	if (!h->md || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h->md);
		free(h);
		return core_err_set(err, CORE_ENOMEM, "cannot start sha-256");
	}
	h->fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	*out = h;
	return CORE_OK;
}

void hasher_update(struct hasher *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->md, data, len);
}

bool hasher_follow(struct hasher *h, int fd, uint64_t from)
{
	if (h->following)
		return true;
	h->fd = fd;
	h->fed = h->done = from;
	if (pthread_create(&h->thread, NULL, hasher_main, h) != 0)
		return false;
	h->following = true;
	return true;
}

bool hasher_following(const struct hasher *h)
{
	return h->following;
}

void hasher_feed(struct hasher *h, uint64_t size)
{
	pthread_mutex_lock(&h->lock);
	if (size > h->fed) {
		h->fed = size;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

/* Ends the thread: at once (stop) or once it caught up. */
static void hasher_join(struct hasher *h, bool stop)
{
	if (!h->following)
		return;
	pthread_mutex_lock(&h->lock);
	h->ended = true;
	h->stop = stop;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	h->following = false;
}

enum core_rc hasher_final(struct hasher *h, char hex[65], struct core_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	hasher_join(h, false);
	if (h->read_errno)
		return core_err_set(err, CORE_EIO, "cannot read the spool to hash it: %s",
				    strerror(h->read_errno));
	EVP_DigestFinal_ex(h->md, md, &mdlen);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * i] = '\0';
	return CORE_OK;
}

void hasher_free(struct hasher *h)
{
	if (!h)
		return;
	hasher_join(h, true);
	EVP_MD_CTX_free(h->md);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
