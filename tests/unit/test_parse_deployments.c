/* SPDX-License-Identifier: MIT */
/* test_parse_deployments.c: legacy data-plane, /models and ARM deployment listings. */
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "tap.h"

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int main(void)
{
	struct deployment_list l;
	struct core_err err = CORE_ERR_INIT;
	size_t len;
	char *s;

	s = example_body("authoring-2022-12-01/get_deployments.json", "200", &len);
	ok(parse_deployments(s, len, DEPLOY_SRC_LEGACY, &l, &err) == CORE_OK && l.n == 1,
	   "legacy listing");
	ok(streq(l.items[0].name, "deployment-afa0669ca01e4693ae3a93baf40f26d6") &&
		   streq(l.items[0].model, "curie") && streq(l.items[0].status, "succeeded") &&
		   l.items[0].sku == NULL,
	   "legacy: id is the name, no sku");
	deployment_list_release(&l);
	free(s);
	s = example_body("arm-cognitiveservices/ListDeployments-2024-10-01.json", "200",
		    &len);
	ok(parse_deployments(s, len, DEPLOY_SRC_ARM, &l, &err) == CORE_OK && l.n == 1,
	   "ARM listing");
	ok(streq(l.items[0].name, "deploymentName") && streq(l.items[0].sku, "Standard") &&
		   streq(l.items[0].model, "ada"),
	   "ARM: name, sku, model");
	deployment_list_release(&l);
	free(s);
	s = fixture("openai_models.json", &len);
	ok(parse_deployments(s, len, DEPLOY_SRC_MODELS, &l, &err) == CORE_OK && l.n == 2 &&
		   streq(l.items[1].name, "gpt-4o-mini"),
	   "openai models");
	deployment_list_release(&l);
	free(s);
	ok(parse_deployments("{\"value\":[{\"sku\":{}},{\"name\":\"x\"}],\"nextLink\":\"https://n\"}", strlen("{\"value\":[{\"sku\":{}},{\"name\":\"x\"}],\"nextLink\":\"https://n\"}"), DEPLOY_SRC_ARM, &l, &err) == CORE_OK &&
		   l.n == 1 && streq(l.next_link, "https://n"),
	   "nameless items skipped, nextLink kept");
	deployment_list_release(&l);
	ok(parse_deployments("{\"data\":7}", strlen("{\"data\":7}"), DEPLOY_SRC_LEGACY, &l, &err) == CORE_EPARSE,
	   "not an array: %s", err.msg);
	return done_testing();
}
