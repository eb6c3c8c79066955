/* SPDX-License-Identifier: MIT */
/* token_exec.c: tokens printed by a process: the Azure CLI or the user's token_command. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "token_internal.h"

extern char **environ;

#define OUT_MAX 65536
#define ERR_MAX 4096

struct proc_result {
	char out[OUT_MAX + 1];
	size_t out_len;
	char err[ERR_MAX + 1];
	size_t err_len;
	int status;	/* wait status */
	bool timed_out;
	int spawn_errno; /* posix_spawn failed with this */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv with envp, stdin /dev/null, and collects stdout and stderr
 * (bounded) until it exits or timeout_ms passes (then it is killed). */
static void run_process(char *const argv[], char *const envp[], long timeout_ms,
			struct proc_result *r)
{
	posix_spawn_file_actions_t fa;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int64_t deadline = mono_ms() + timeout_ms;
	pid_t pid = -1;
	int rc;

	memset(r, 0, sizeof(*r));
	if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		r->spawn_errno = errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (rc) {
		r->spawn_errno = rc;
		pid = -1;
		goto out;
	}
	for (;;) {
		struct pollfd pf[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
		int64_t left = deadline - mono_ms();
		int i, open_fds = 0;

		for (i = 0; i < 2; i++)
			if (pf[i].fd < 0)
				pf[i].events = 0;
			else
				open_fds++;
		if (!open_fds)
			break;
		if (left <= 0) {
			r->timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pf, 2, (int)left) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			char tmp[4096];
			char *dst = i ? r->err : r->out;
			size_t *len = i ? &r->err_len : &r->out_len;
			size_t cap = i ? ERR_MAX : OUT_MAX;
			ssize_t n;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pf[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				close(i ? errp[0] : outp[0]);
				if (i)
					errp[0] = -1;
				else
					outp[0] = -1;
				continue;
			}
			if (*len < cap) {
				size_t k = (size_t)n < cap - *len ? (size_t)n : cap - *len;

				memcpy(dst + *len, tmp, k);
				*len += k;
			}
			OPENSSL_cleanse(tmp, sizeof(tmp));
		}
	}
out:
	if (pid > 0) {
		while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
			;
	}
	if (outp[0] >= 0)
		close(outp[0]);
	if (errp[0] >= 0)
		close(errp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	r->out[r->out_len] = '\0';
	r->err[r->err_len] = '\0';
}

/* The first non-empty line of stderr, printable, for an error message. */
static void first_line(const char *s, char *dst, size_t n)
{
	size_t i = 0;

	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	while (*s && *s != '\n' && i + 1 < n) {
		dst[i++] = ((unsigned char)*s < 0x20) ? ' ' : *s;
		s++;
	}
	dst[i] = '\0';
}

/* environ plus BATCHFS_TOKEN_SCOPE and BATCHFS_TOKEN_RESOURCE. */
static char **command_env(const char *scope, const char *resource, size_t *count)
{
	size_t n = 0, i;
	char **envp;

	while (environ && environ[n])
		n++;
	envp = calloc(n + 3, sizeof(*envp));
	if (!envp)
		return NULL;
	for (i = 0; i < n; i++)
		envp[i] = environ[i];
	if (asprintf(&envp[n], "BATCHFS_TOKEN_SCOPE=%s", scope) < 0) {
		envp[n] = NULL;
		free(envp);
		return NULL;
	}
	if (asprintf(&envp[n + 1], "BATCHFS_TOKEN_RESOURCE=%s", resource) < 0) {
		free(envp[n]);
		free(envp);
		return NULL;
	}
	*count = n;
	return envp;
}

enum core_rc token_exec_fetch(struct token_source *s, const char *scope,
			      struct token *out, struct core_err *err)
{
	bool cli = s->kind == TOKEN_AZURE_CLI;
	char *resource = token_scope_resource(scope), **envp = NULL, line[300];
	const char *what = cli ? "Azure CLI" : "token_command";
	struct proc_result *r = NULL;
	size_t nenv = 0;
	enum core_rc rc;

	if (!resource || !(r = malloc(sizeof(*r))) ||
	    (!cli && !(envp = command_env(scope, resource, &nenv)))) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto done;
	}
	if (cli) {
		/* posix_spawn wants char *const[]: writable copies of the words */
		char a1[] = "account", a2[] = "get-access-token", a3[] = "--output",
		     a4[] = "json", a5[] = "--resource", a6[] = "--tenant";
		char *argv[10] = { s->az_command, a1, a2, a3, a4, a5, resource };
		int k = 7;

		if (s->tenant_id) {
			argv[k++] = a6;
			argv[k++] = s->tenant_id;
		}
		argv[k] = NULL;
		run_process(argv, environ, s->command_timeout_ms, r);
	} else {
		char sh[] = "/bin/sh", dash_c[] = "-c";
		char *argv[4] = { sh, dash_c, s->token_command, NULL };

		run_process(argv, envp, s->command_timeout_ms, r);
	}
	first_line(r->err, line, sizeof(line));
	if (r->spawn_errno) {
		rc = core_err_set(err, cli && r->spawn_errno == ENOENT ? CORE_ENOTFOUND
									: CORE_EAUTH,
				  "cannot run %s '%s': %s", what,
				  cli ? s->az_command : "/bin/sh", strerror(r->spawn_errno));
	} else if (r->timed_out) {
		rc = core_err_set(err, CORE_ETIMEDOUT, "%s did not answer within %ld ms",
				  what, s->command_timeout_ms);
	} else if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
		int code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);

		if (cli && (code == 127 || strstr(r->err, "az login") ||
			    strstr(r->err, "not found")))
			rc = core_err_set(err, CORE_ENOTFOUND,
					  "Azure CLI not usable (run 'az login'): %s",
					  line[0] ? line : "exit status 127");
		else
			rc = core_err_set(err, CORE_EAUTH, "%s failed (exit %d): %s",
					  what, code, line[0] ? line : "no message");
	} else {
		rc = parse_token(r->out, r->out_len, (int64_t)time(NULL), !cli, out, err);
		if (rc) {
			char said[sizeof(err->msg)];

			snprintf(said, sizeof(said), "%s", err ? err->msg : "");
			rc = core_err_set(err, CORE_EAUTH, "%s printed no usable token: %s",
					  what, said);
		}
	}
done:
	if (r) {
		OPENSSL_cleanse(r, sizeof(*r));
		free(r);
	}
	if (envp) {
		free(envp[nenv]);
		free(envp[nenv + 1]);
		free(envp);
	}
	free(resource);
	return rc;
}
