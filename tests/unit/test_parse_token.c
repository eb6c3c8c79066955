/* SPDX-License-Identifier: MIT */
/* test_parse_token.c: token responses of Entra ID, IMDS, App Service, az and commands, and their errors. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "token_internal.h"

#define NOW 1800000000

static void parse_ok(const char *body, bool bare, const char *want, int64_t want_exp,
		     const char *what)
{
	struct token t;
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc = parse_token(body, strlen(body), NOW, bare, &t, &err);

	ok(rc == CORE_OK && t.value && !strcmp(t.value, want) && t.expires_on == want_exp,
	   "%s: rc %s value %s exp %lld (%s)", what, core_rc_name(rc),
	   t.value ? t.value : "(null)", (long long)t.expires_on, err.msg);
	token_release(&t);
}

static void token_error(const char *body, struct core_err *err)
{
	parse_token_error(body, strlen(body), err);
}

static void parse_bad(const char *body, bool bare, const char *what)
{
	struct token t;
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc = parse_token(body, strlen(body), NOW, bare, &t, &err);

	ok(rc == CORE_EPARSE && !t.value && err.msg[0], "%s refused: %s", what, err.msg);
	token_release(&t);
}

int main(void)
{
	struct core_err err = CORE_ERR_INIT;
	char *s;
	struct tm tm;
	time_t local;

	/* Entra ID v2.0 token endpoint */
	parse_ok("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
		 "\"access_token\":\"eyJ0.eyJ1.sig\"}",
		 false, "eyJ0.eyJ1.sig", NOW + 3599, "entra expires_in number");
	/* IMDS: numbers as strings, expires_on wins over expires_in */
	parse_ok("{\"access_token\":\"imds\",\"client_id\":\"c\",\"expires_in\":\"86399\","
		 "\"expires_on\":\"1800086399\",\"ext_expires_in\":\"86399\","
		 "\"not_before\":\"1799999700\",\"resource\":\"https://cognitiveservices.azure.com\","
		 "\"token_type\":\"Bearer\"}",
		 false, "imds", 1800086399, "imds string numbers");
	/* App Service 2019-08-01 */
	parse_ok("{\"access_token\":\"as\",\"expires_on\":\"1800003600\",\"resource\":\"r\","
		 "\"token_type\":\"Bearer\",\"client_id\":\"c\"}",
		 false, "as", 1800003600, "app service");
	/* az account get-access-token (recent: expires_on integer) */
	parse_ok("{\"accessToken\":\"cli\",\"expiresOn\":\"2027-01-15 10:00:00.000000\","
		 "\"expires_on\":1800001000,\"subscription\":\"s\",\"tenant\":\"t\","
		 "\"tokenType\":\"Bearer\"}",
		 false, "cli", 1800001000, "az with expires_on");
	/* older az: only expiresOn, in local time */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2027 - 1900;
	tm.tm_mon = 0;
	tm.tm_mday = 15;
	tm.tm_hour = 10;
	tm.tm_isdst = -1;
	local = mktime(&tm);
	parse_ok("{\"accessToken\":\"old\",\"expiresOn\":\"2027-01-15 10:00:00.123456\","
		 "\"tokenType\":\"Bearer\"}",
		 false, "old", (int64_t)local, "old az expiresOn local time");
	/* no lifetime at all: 0 */
	parse_ok("{\"access_token\":\"nolife\"}", false, "nolife", 0, "no expiry");
	/* bare token from a command */
	parse_ok("  tok-from-command\n", true, "tok-from-command", 0, "bare token");
	parse_ok("{\"access_token\":\"j\",\"expires_in\":\"60\"}\n", true, "j", NOW + 60,
		 "command JSON");

	parse_bad("{\"token_type\":\"Bearer\"}", false, "no access_token");
	parse_bad("{\"access_token\":\"\"}", false, "empty token");
	parse_bad("{\"access_token\":\"a b\"}", false, "token with a space");
	parse_bad("{\"access_token\":\"a\\r\\nX-Injected: 1\"}", false, "header injection");
	parse_bad("{\"access_token\":12}", false, "token as a number");
	parse_bad("<html>oops</html>", false, "HTML");
	parse_bad("two\nlines", true, "bare token of two lines");
	parse_bad("", true, "empty output");
	s = malloc(20000);
	memset(s, 'a', 19999);
	s[19999] = '\0';
	parse_bad(s, true, "20000-byte token");
	free(s);
	parse_ok("{\"access_token\":\"x\",\"expires_in\":-5}", false, "x", 0, "negative lifetime ignored");

	/* errors */
	err.http_status = 401;
	token_error("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
			  "Invalid client secret provided. Ensure the secret being sent in the "
			  "request is the client secret value.\\r\\nTrace ID: 1\\r\\n"
			  "Correlation ID: 2\",\"error_codes\":[7000215]}",
			  &err);
	ok(!strcmp(err.code, "invalid_client") &&
	   !strncmp(err.msg, "AADSTS7000215: Invalid client secret provided.", 46) &&
	   !strstr(err.msg, "Trace ID"), "AADSTS error: %s / %s", err.code, err.msg);
	core_err_clear(&err);
	token_error("{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}",
		    &err);
	ok(!strcmp(err.msg, "Identity not found"), "IMDS error: %s", err.msg);
	core_err_clear(&err);
	err.http_status = 502;
	token_error("<html>bad gateway</html>", &err);
	ok(err.msg[0] != '\0', "HTML error body still gives a message: %s", err.msg);
	core_err_clear(&err);
	token_error("{\"error\":{\"code\":\"Unauthorized\",\"message\":\"nope\"}}", &err);
	ok(strstr(err.msg, "nope") != NULL, "Azure-shaped error: %s", err.msg);

	s = token_scope_resource("https://cognitiveservices.azure.com/.default");
	ok(s && !strcmp(s, "https://cognitiveservices.azure.com"), "scope to resource: %s", s);
	free(s);
	s = token_scope_resource("api://x");
	ok(s && !strcmp(s, "api://x"), "scope without .default kept: %s", s);
	free(s);
	return done_testing();
}
