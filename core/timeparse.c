/* SPDX-License-Identifier: MIT */
/* timeparse.c: ISO-8601 and HTTP-date parsing without the C library's TZ state. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timeparse.h"

int64_t time_from_utc(int year, int mon, int day, int hour, int min, int sec)
{
	/* Howard Hinnant's days_from_civil. */
	int64_t y = year - (mon <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = era * 146097 + doe - 719468;

	return days * 86400 + hour * 3600 + min * 60 + sec;
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool valid_fields(int mo, int d, int h, int mi, int s)
{
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 24 &&
	       mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

static bool parse_unix_string(const char *s, int64_t *out)
{
	char *end;
	double v;

	if (!*s)
		return false;
	v = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (*end || v != v || v < -1e15 || v > 1e15)
		return false;
	*out = (int64_t)v;
	return true;
}

bool time_parse_iso8601(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int64_t t;

	if (!s)
		return false;
	while (isspace((unsigned char)*p))
		p++;
	if (strlen(p) < 10 || p[4] != '-')
		return parse_unix_string(p, out);
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return false;
		}
		if (*p == '.' || *p == ',') {
			p++;
			if (!isdigit((unsigned char)*p))
				return false;
			while (isdigit((unsigned char)*p))
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;

			if (!digits(&p, 2, &oh))
				return false;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
				return false;
			if (oh > 23 || om > 59)
				return false;
			oh *= sign;
			om *= sign;
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p || !valid_fields(mo, d, h, mi, sec))
		return false;
	t = time_from_utc(y, mo, d, h, mi, sec);
	*out = t - (int64_t)oh * 3600 - (int64_t)om * 60;
	return true;
}

static int month_index(const char *m)
{
	static const char *const months[] = { "jan", "feb", "mar", "apr",
					      "may", "jun", "jul", "aug",
					      "sep", "oct", "nov", "dec" };
	int i;

	for (i = 0; i < 12; i++)
		if (strncasecmp(m, months[i], 3) == 0)
			return i + 1;
	return 0;
}

bool time_parse_http_date(const char *s, int64_t *out)
{
	char wk[16], mon[8], tz[8];
	int d, y, h, mi, sec, m;

	if (!s)
		return false;
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, " %15[A-Za-z], %d %3s %d %d:%d:%d %7s", wk, &d, mon, &y,
		   &h, &mi, &sec, tz) == 8)
		goto done;
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	if (sscanf(s, " %15[A-Za-z], %d-%3s-%d %d:%d:%d %7s", wk, &d, mon, &y,
		   &h, &mi, &sec, tz) == 8) {
		if (y < 100)
			y += y < 70 ? 2000 : 1900;
		goto done;
	}
	/* asctime: Sun Nov  6 08:49:37 1994 */
	if (sscanf(s, " %15s %3s %d %d:%d:%d %d", wk, mon, &d, &h, &mi, &sec,
		   &y) == 7) {
		strcpy(tz, "GMT");
		goto done;
	}
	return false;
done:
	m = month_index(mon);
	/* The year bound keeps time_from_utc() and callers' arithmetic in range. */
	if (!m || y < 1 || y > 9999 || strcasecmp(tz, "GMT") != 0 ||
	    !valid_fields(m, d, h, mi, sec))
		return false;
	*out = time_from_utc(y, m, d, h, mi, sec);
	return true;
}
