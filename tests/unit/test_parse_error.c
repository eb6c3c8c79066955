/* SPDX-License-Identifier: MIT */
/* test_parse_error.c: error bodies in every shape the surfaces send. */
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "tap.h"

static void run(const char *name, struct core_err *err)
{
	size_t len;
	char *s = fixture(name, &len);

	core_err_clear(err);
	parse_error_body(s, len, err);
	free(s);
}

int main(void)
{
	struct core_err err;

	run("error_azure_404.json", &err);
	ok(!strcmp(err.code, "404") && !strcmp(err.msg, "Resource not found"),
	   "azure gateway 404: [%s] %s", err.code, err.msg);
	run("error_azure_401.json", &err);
	ok(!strcmp(err.code, "401") && strstr(err.msg, "Access denied"), "azure 401");
	run("error_openai_401.json", &err);
	ok(!strcmp(err.code, "invalid_api_key") && strstr(err.msg, "Incorrect API key"),
	   "openai 401");
	run("error_azure_429.json", &err);
	ok(!strcmp(err.code, "429") && strstr(err.msg, "retry after 37 seconds"),
	   "azure 429 text");
	run("error_token_limit.json", &err);
	ok(!strcmp(err.code, "token_limit_exceeded"), "token_limit_exceeded code");
	run("error_azure_v1.json", &err);
	ok(!strcmp(err.code, "invalid_request") && strstr(err.msg, "purpose"), "azure v1");
	run("error_numeric_code.json", &err);
	ok(!strcmp(err.code, "500"), "numeric code -> \"500\"");
	run("error_gateway.html", &err);
	ok(err.code[0] == '\0' && strstr(err.msg, "unexpected body: <html>"),
	   "html body quoted: %s", err.msg);
	ok(strlen(err.msg) < 160, "html quote is short");

	core_err_clear(&err);
	strcpy(err.msg, "POST /x: HTTP 400");
	parse_error_body("{\"error\":{\"code\":\"bad\",\"message\":\"line1\\nline2\\u0001\"}}", strlen("{\"error\":{\"code\":\"bad\",\"message\":\"line1\\nline2\\u0001\"}}"), &err);
	ok(!strcmp(err.msg, "POST /x: HTTP 400: line1 line2 "),
	   "appends, control characters blanked: '%s'", err.msg);
	core_err_clear(&err);
	parse_error_body("{\"code\":\"flat\",\"message\":\"m\"}", strlen("{\"code\":\"flat\",\"message\":\"m\"}"), &err);
	ok(!strcmp(err.code, "flat") && !strcmp(err.msg, "m"), "bare object");
	core_err_clear(&err);
	parse_error_body("{\"error\":{\"type\":\"server_error\"}}", strlen("{\"error\":{\"type\":\"server_error\"}}"), &err);
	ok(!strcmp(err.code, "server_error"), "type when no code");
	core_err_clear(&err);
	parse_error_body("{\"error\":{\"code\":\"a b\\u0007\"}}", strlen("{\"error\":{\"code\":\"a b\\u0007\"}}"), &err);
	ok(!strcmp(err.code, "a_b_"), "code sanitised: '%s'", err.code);
	core_err_clear(&err);
	parse_error_body("{\"error\":{\"code\":\"trunc", strlen("{\"error\":{\"code\":\"trunc"), &err);
	ok(err.code[0] == '\0' && strstr(err.msg, "unexpected body"), "truncated json");
	core_err_clear(&err);
	parse_error_body(NULL, 0, &err);
	ok(err.msg[0] == '\0' && err.code[0] == '\0', "no body");
	parse_error_body("x", strlen("x"), NULL);
	ok(1, "NULL err tolerated");
	return done_testing();
}
