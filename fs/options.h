/* SPDX-License-Identifier: MIT */
/* options.h: batchfs command-line and environment configuration. */
#ifndef BATCHFS_OPTIONS_H
#define BATCHFS_OPTIONS_H

#include <stdbool.h>

#include <fuse_opt.h>

#include "api.h"

/*
 * Options come from -o key=value (fuse_opt) and, where unset, from the
 * environment variables of the official SDKs: AZURE_OPENAI_ENDPOINT,
 * AZURE_OPENAI_API_KEY, OPENAI_API_VERSION, OPENAI_API_KEY, OPENAI_BASE_URL.
 * Secrets are never accepted on the command line (they would show in ps):
 * only from the environment or a key file (key_file=PATH, mode 0600 or
 * stricter).
 *
 * Ownership: struct bfs_options owns its strings; bfs_options_release()
 * frees them. Not thread-safe: parse once in main() before any thread runs.
 */
struct bfs_options {
	char *surface;	   /* azure | azure-v1 | openai */
	char *endpoint;
	char *api_version;
	char *key_file;
	char *auth;	   /* api-key | bearer | ad-token | a token_kind name */
	char *scope;	   /* Entra ID token scope */
	char *tenant_id;   /* AZURE_TENANT_ID */
	char *client_id;   /* AZURE_CLIENT_ID */
	char *authority_host; /* AZURE_AUTHORITY_HOST */
	char *imds_endpoint;  /* AZURE_POD_IDENTITY_AUTHORITY_HOST */
	char *token_command;  /* prints a token */
	char *az_command;     /* the Azure CLI */
	char *subscription_id; /* ARM deployment discovery: AZURE_SUBSCRIPTION_ID */
	char *resource_group;
	char *account_name;
	char *management_endpoint; /* default https://management.azure.com */
	char *organization;
	char *project;
	char *ca_file;
	char *deployments; /* a,b,c */
	int allow_http;
	int connect_timeout_ms;
	int request_timeout_ms;
	int deadline_ms;
	int stall_timeout_ms;
	int max_retries;
	char *spool_dir;
	char *cache_dir;
	char *spool_size;   /* bytes, with k/M/G suffixes */
	char *cache_size;
	char *stream_after; /* bytes, with k/M/G suffixes; "0": never */
	int max_streams;
	int max_downloads;
	int list_ttl_ms;
	int status_ttl_ms;
	int process_timeout_ms;
	char *attr_timeout; /* seconds, may be fractional */
	int allow_other;
	int check_only;
	int show_help;
	int show_version;
	int debug;
	char *log_level;    /* error | warning | info | debug */
	int foreground;
	char *mountpoint;
	char *source;	    /* "batchfs SOURCE MOUNTPOINT": the endpoint, or a name */
};

/* Parses args (argv without secrets) into *o; prints the problem on error. */
int bfs_options_parse(struct fuse_args *args, struct bfs_options *o);
void bfs_options_release(struct bfs_options *o);
void bfs_options_usage(const char *prog);

/*
 * Builds the API configuration and the credential from the options and
 * the environment. On success *auth is owned by the caller (hand it to
 * api_client_new()). Strings in *cfg borrow from *o.
 */
enum core_rc bfs_options_api_config(const struct bfs_options *o,
				    struct api_config *cfg, struct auth **auth,
				    struct core_err *err);

/*
 * The credential for the Azure management API (ARM deployment discovery),
 * when subscription_id, resource_group and account_name are set: the same
 * kind of token credential as the data plane, for the management scope.
 * *auth NULL when discovery through ARM is not configured. Call before
 * bfs_options_api_config() (which wipes secrets from the environment).
 */
/* Wipes the secret environment variables (keys, client secret, tokens) in
 * place and unsets them. main() calls it once the credentials are built. */
void bfs_options_wipe_secret_env(void);

enum core_rc bfs_options_arm_auth(const struct bfs_options *o, struct auth **auth,
				  struct core_err *err);

#endif
