/* SPDX-License-Identifier: MIT */
/* token_internal.h: the token source struct, shared by the token_*.c files only. */
#ifndef BATCHFS_TOKEN_INTERNAL_H
#define BATCHFS_TOKEN_INTERNAL_H

#include <stdatomic.h>

#include "token.h"

struct cert_credential;

#define TOKEN_CHAIN_MAX 4

struct token_source {
	enum token_kind kind;
	/* copies of the config; secret fields are wiped at free */
	char *authority;	 /* no trailing slash */
	char *tenant_id;
	char *client_id;
	char *client_secret;	 /* secret */
	char *federated_token_file;
	char *identity_endpoint;
	char *identity_header;	 /* secret */
	char *imds_endpoint;
	char *az_command;
	char *token_command;
	long command_timeout_ms;
	struct cert_credential *cert;
	struct http_client *http; /* token endpoints; NULL for process sources */
	bool app_service;	  /* managed identity through IDENTITY_ENDPOINT */
	/* TOKEN_ENVIRONMENT: the one member it stands for; TOKEN_CHAIN: all */
	struct token_source *members[TOKEN_CHAIN_MAX];
	int nmembers;
	atomic_int chosen; /* chain: index of the member in use, -1 before */
};

/* The Entra ID token endpoint (token_entra.c): client secret, certificate
 * and workload identity. */
enum core_rc token_entra_fetch(struct token_source *s, const char *scope,
			       struct token *out, struct core_err *err);
/* IMDS or App Service (token_msi.c). */
enum core_rc token_msi_fetch(struct token_source *s, const char *scope,
			     struct token *out, struct core_err *err);
/* az account get-access-token, or the user's command (token_exec.c). */
enum core_rc token_exec_fetch(struct token_source *s, const char *scope,
			      struct token *out, struct core_err *err);

/*
 * Reads a token response in any of the shapes the sources print (parse_token.c):
 * {access_token|accessToken, expires_on|expiresOn (epoch number or string, or
 * "YYYY-MM-DD HH:MM:SS.ffffff" local time as old az prints), expires_in
 * (number or string)}. now is the current unix time, for expires_in. A body
 * that is one line without '{' is taken as a bare token (token_command).
 */
enum core_rc parse_token(const char *body, size_t len, int64_t now, bool bare_ok,
			 struct token *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* Reads an Entra ID / IMDS error body ({error, error_description}) into err->msg
 * and err->code; the first sentence only, without trace ids. */
void parse_token_error(const char *body, size_t len, struct core_err *err);

/* A refused token request: reads the service's error body (parse_token_error)
 * and sets err to rc with "<prefix>: <what the service said>". Returns rc. */
enum core_rc token_refused(struct core_err *err, enum core_rc rc, const char *body,
			   size_t len, const char *prefix);

/* "resource" form of a scope: "https://x/.default" -> "https://x". Heap. */
char *token_scope_resource(const char *scope);

#endif
