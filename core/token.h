/* SPDX-License-Identifier: MIT */
/* token.h: Microsoft Entra ID token sources and the DefaultAzureCredential-style chain. */
#ifndef BATCHFS_TOKEN_H
#define BATCHFS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"

/*
 * A token source gets access tokens for a scope from one place: the Entra ID
 * token endpoint (client secret, client certificate, workload identity),
 * a managed identity endpoint (IMDS or App Service), the Azure CLI, or a
 * user command. TOKEN_CHAIN tries them in the order of the Azure SDKs'
 * DefaultAzureCredential (environment, workload identity, managed identity,
 * Azure CLI) and keeps the first that answers; a source that is not set up
 * here ("unavailable": no variables, no IMDS, az not logged in) passes to
 * the next, a source that is set up but refused (a wrong secret) stops the
 * chain with its error, as the SDKs do.
 *
 * Caching and refreshing tokens is struct auth's job (auth.h); a source only
 * fetches. Ownership: token_source_new() copies every string of the config;
 * secrets (client secret, certificate password, identity header) are kept
 * locked in memory where possible and wiped at token_source_free().
 * Thread-safety: token_source_fetch() does blocking network or process I/O
 * and must not run twice at once on the same source (struct auth serialises
 * it); token_source_describe() may run at any time from any thread.
 */

struct token {
	char *value;	    /* the access token: a secret, wiped by token_release() */
	int64_t expires_on; /* unix seconds; 0 when the source did not say */
};

void token_release(struct token *t);

enum token_kind {
	TOKEN_CHAIN,		  /* "default" */
	TOKEN_ENVIRONMENT,	  /* "environment": client secret, else certificate */
	TOKEN_CLIENT_SECRET,	  /* "client-secret" */
	TOKEN_CLIENT_CERTIFICATE, /* "client-certificate" */
	TOKEN_WORKLOAD_IDENTITY,  /* "workload-identity" */
	TOKEN_MANAGED_IDENTITY,	  /* "managed-identity" */
	TOKEN_AZURE_CLI,	  /* "azure-cli" */
	TOKEN_COMMAND,		  /* "token-command" */
	TOKEN_KIND_COUNT
};

/* true and *out set when name is one of the names above. */
bool token_kind_parse(const char *name, enum token_kind *out);
const char *token_kind_name(enum token_kind k);

#define TOKEN_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define TOKEN_DEFAULT_IMDS "http://169.254.169.254"
#define TOKEN_SCOPE_COGNITIVE "https://cognitiveservices.azure.com/.default"
#define TOKEN_SCOPE_MANAGEMENT "https://management.azure.com/.default"

struct token_config {
	const char *authority_host;	  /* AZURE_AUTHORITY_HOST; NULL: the default */
	const char *tenant_id;		  /* AZURE_TENANT_ID */
	const char *client_id;		  /* AZURE_CLIENT_ID (also a user-assigned identity) */
	const char *client_secret;	  /* AZURE_CLIENT_SECRET: secret */
	const char *certificate_path;	  /* AZURE_CLIENT_CERTIFICATE_PATH */
	const char *certificate_password; /* AZURE_CLIENT_CERTIFICATE_PASSWORD: secret */
	const char *federated_token_file; /* AZURE_FEDERATED_TOKEN_FILE */
	const char *identity_endpoint;	  /* IDENTITY_ENDPOINT (App Service) */
	const char *identity_header;	  /* IDENTITY_HEADER (App Service): secret */
	const char *imds_endpoint;	  /* NULL: TOKEN_DEFAULT_IMDS */
	const char *az_command;		  /* NULL: "az" found on PATH */
	const char *token_command;	  /* run by /bin/sh -c; prints a token */
	long command_timeout_ms;	  /* az and token_command; 0: 10000 */
	long imds_probe_timeout_ms;	  /* the chain's IMDS connect limit; 0: 1000 */
	bool allow_http;		  /* plain http:// to non-loopback hosts */
	struct http_config http;	  /* for token endpoints */
};

/* Zeroes cfg and sets the http defaults. */
void token_config_defaults(struct token_config *cfg);

struct token_source;

/*
 * Builds a source of `kind` from cfg. Checks what can be checked without
 * I/O: the variables it needs, endpoints (https, or http to loopback), the
 * certificate (loaded now). CORE_EINVAL names what is missing. No network.
 */
enum core_rc token_source_new(enum token_kind kind,
			      const struct token_config *cfg,
			      struct token_source **out, struct core_err *err)
	__attribute__((warn_unused_result));
void token_source_free(struct token_source *s);

/*
 * Fetches a token for scope (e.g. TOKEN_SCOPE_COGNITIVE). Returns
 * CORE_ENOTFOUND when the source is not set up here (unavailable),
 * CORE_EAUTH when it refused the credential, or a transport error.
 */
enum core_rc token_source_fetch(struct token_source *s, const char *scope,
				struct token *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* The kind in use ("client-secret"; for the chain, the member it settled
 * on, or "default" before the first token). */
const char *token_source_kind(const struct token_source *s);

/* What the source is, safe to show (never a secret): "tenant=T client_id=C". */
void token_source_describe(const struct token_source *s, char *buf, size_t n);

#endif
