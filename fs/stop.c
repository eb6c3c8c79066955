/* SPDX-License-Identifier: MIT */
/* stop.c: graceful stop on signals: wait for in-flight submissions, then unmount. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <fuse.h>

#include "log.h"
#include "stop.h"

static sem_t stop_sem;
static pthread_t watcher;
static struct bfs *stop_bfs;
static struct fuse *stop_fuse;
static pthread_t main_thread;
static bool loop_done; /* __atomic: written by main, read by the watcher */

static void on_signal(int sig)
{
	(void)sig;
	sem_post(&stop_sem); /* async-signal-safe */
}

static void on_wake(int sig)
{
	(void)sig; /* only interrupts the loop's sem_wait() */
}

static void *watch(void *arg)
{
	struct timespec ts = { 0, 100 * 1000000L };
	bool said = false;

	(void)arg;
	while (sem_wait(&stop_sem) != 0 && errno == EINTR)
		;
	if (__atomic_load_n(&loop_done, __ATOMIC_ACQUIRE))
		return NULL;
	/* A close() waiting for its upload must get its answer first. */
	while (submit_busy(stop_bfs)) {
		if (!said)
			log_warn("stop requested: waiting for submissions in flight "
				 "to finish before unmounting");
		said = true;
		nanosleep(&ts, NULL);
	}
	fuse_exit(stop_fuse);
	/* The loop's main thread sleeps in sem_wait(): interrupt it so that it
	 * sees the exit flag, stops the (now idle) workers and returns. */
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

int stop_begin(struct bfs *b, struct fuse *f)
{
	struct sigaction sa;

	stop_bfs = b;
	stop_fuse = f;
	main_thread = pthread_self();
	if (sem_init(&stop_sem, 0, 0) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL))
		return -1;
	sa.sa_handler = on_wake; /* no SA_RESTART: interrupts sem_wait() */
	if (sigaction(SIGUSR1, &sa, NULL))
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return -1;
	return pthread_create(&watcher, NULL, watch, NULL) ? -1 : 0;
}

void stop_end(void)
{
	__atomic_store_n(&loop_done, true, __ATOMIC_RELEASE);
	sem_post(&stop_sem);
	pthread_join(watcher, NULL);
	sem_destroy(&stop_sem);
}
