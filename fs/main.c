/* SPDX-License-Identifier: MIT */
/* main.c: the batchfs program: options, preflight against the service, (mount: next release). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <fuse.h>

#include "api.h"
#include "config.h"
#include "log.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct core_err err = CORE_ERR_INIT;
	struct bfs_options o;
	struct api_config cfg;
	struct api_client *client = NULL;
	struct auth *auth = NULL;
	struct batch_page page;
	int ret = 1;

	if (bfs_options_parse(&args, &o) != 0) {
		fuse_opt_free_args(&args);
		return 2;
	}
	if (o.show_help) {
		bfs_options_usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (o.show_version) {
		printf("batchfs %s (libfuse %d, %s)\n", PACKAGE_VERSION,
		       fuse_version(), curl_version());
		ret = 0;
		goto out;
	}
	log_init(o.debug ? LOG_LVL_DEBUG : LOG_LVL_WARN, false);
	if (!o.mountpoint) {
		fprintf(stderr, "batchfs: no mountpoint given (see --help)\n");
		ret = 2;
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "batchfs: cannot initialise libcurl\n");
		goto out;
	}
	if (bfs_options_api_config(&o, &cfg, &auth, &err) ||
	    api_client_new(&cfg, auth, &client, &err)) {
		fprintf(stderr, "batchfs: %s\n", err.msg);
		goto out_curl;
	}
	/* Preflight: the endpoint answers and the credential is accepted. */
	if (api_batch_list(client, NULL, 1, &page, &err)) {
		fprintf(stderr, "batchfs: preflight failed: %s\n", err.msg);
		goto out_client;
	}
	batch_page_release(&page);
	fprintf(stderr, "batchfs: %s endpoint reachable and credential accepted; "
			"mounting arrives with the filesystem layer (not in this build)\n",
		api_surface_name(cfg.surface));
	ret = 3;
out_client:
	api_client_free(client);
out_curl:
	curl_global_cleanup();
out:
	bfs_options_release(&o);
	fuse_opt_free_args(&args);
	return ret;
}
