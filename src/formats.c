/*
 * formats.c
 *		The textual values of a request that PostgreSQL's own input functions would
 *		read too leniently or raise errors for: strict ISO 8601 timestamps and uuids
 *		(with or without hyphens). Each answers false instead of raising, so that the
 *		caller reports the request key that held the value. And the forms the API
 *		writes timestamps, dates and uuids in.
 */
#include "postgres.h"

#include "crux_orders.h"
#include "datatype/timestamp.h"
#include "utils/datetime.h"
#include "utils/date.h"
#include "utils/timestamp.h"

/* Reads exactly n decimal digits at *p; false if there are fewer. */
static bool
take_digits(const char **p, int n, int *result)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*result = v;
	return true;
}

/*
 * A strict ISO 8601 timestamp: YYYY-MM-DD, optionally followed by T (or a space)
 * and hh:mm, :ss, .fraction (up to 6 digits), and a zone (Z, +hh, +hhmm, +hh:mm).
 * No zone means UTC, whatever the session's TimeZone.
 */
bool
crux_parse_iso_timestamp(const char *s, TimestampTz *result)
{
	const char *p = s;
	int			year,
				month,
				day,
				hour = 0,
				minute = 0,
				second = 0;
	int64		usec = 0;
	int			zone_seconds = 0;
	static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			days_in_month;

	if (!take_digits(&p, 4, &year) || *p++ != '-' ||
		!take_digits(&p, 2, &month) || *p++ != '-' ||
		!take_digits(&p, 2, &day))
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ')
	{
		p++;
		if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &minute))
			return false;
		if (*p == ':')
		{
			p++;
			if (!take_digits(&p, 2, &second))
				return false;
			if (*p == '.')
			{
				int			ndigits = 0;
				int64		scale = 100000;

				p++;
				while (*p >= '0' && *p <= '9')
				{
					if (++ndigits > 6)
						return false;
					usec += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
				if (ndigits == 0)
					return false;
			}
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1;
		int			zh,
					zm = 0;

		p++;
		if (!take_digits(&p, 2, &zh))
			return false;
		if (*p == ':')
			p++;
		if (*p != '\0' && !take_digits(&p, 2, &zm))
			return false;
		if (zh > 15 || zm > 59)
			return false;
		zone_seconds = sign * (zh * 3600 + zm * 60);
	}
	if (*p != '\0')
		return false;

	if (year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59)
		return false;
	days_in_month = month_days[month - 1];
	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		days_in_month = 29;
	if (day < 1 || day > days_in_month)
		return false;

	*result = ((int64) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
		+ ((int64) (hour * 3600 + minute * 60 + second - zone_seconds)) * USECS_PER_SEC
		+ usec;
	return true;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = pg_ascii_tolower((unsigned char) c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A UUID in its standard form (8-4-4-4-12 hex digits) or as 32 hex digits, in
 * either case.
 */
bool
crux_parse_uuid(const char *s, int len, pg_uuid_t *uuid)
{
	int			nibble = 0;

	if (len != 36 && len != 32)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			h;

		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		h = hex_digit(s[i]);
		if (h < 0)
			return false;
		if (nibble % 2 == 0)
			uuid->data[nibble / 2] = h << 4;
		else
			uuid->data[nibble / 2] |= h;
		nibble++;
	}
	return nibble == 32;
}

/* value (0 <= value < 10^width) in exactly width decimal digits at p; returns their end. */
static char *
put_digits(char *p, int value, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		p[i] = '0' + value % 10;
		value /= 10;
	}
	return p + width;
}

/* year-month-day (year 1 to 9999) at p; returns its end. */
static char *
put_date(char *p, int year, int month, int day)
{
	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	return put_digits(p, day, 2);
}

/*
 * A timestamp as the API writes it, UTC with six fractional digits and a Z
 * (2017-12-05T22:32:32.217413Z), or infinity / -infinity, into buf
 * (CRUX_TIMESTAMP_LEN bytes at least); returns its length.
 */
int
crux_format_timestamp(TimestampTz ts, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *p;

	if (TIMESTAMP_NOT_FINITE(ts))
		return sprintf(buf, "%s", TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity");
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (tm.tm_year < 1 || tm.tm_year > 9999)
		return sprintf(buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					   tm.tm_year, tm.tm_mon, tm.tm_mday,
					   tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	p = put_date(buf, tm.tm_year, tm.tm_mon, tm.tm_mday);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (int) fsec, 6);
	*p++ = 'Z';
	*p = '\0';
	return p - buf;
}

/* A date as the API writes it (2018-03-01), or infinity / -infinity; as above. */
int
crux_format_date(DateADT date, char *buf)
{
	int			year,
				month,
				day;
	char	   *p;

	if (DATE_NOT_FINITE(date))
		return sprintf(buf, "%s", DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity");
	j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	if (year < 1 || year > 9999)
		return sprintf(buf, "%04d-%02d-%02d", year, month, day);
	p = put_date(buf, year, month, day);
	*p = '\0';
	return p - buf;
}

/*
 * A uuid as uuid_out writes it (lower-case hex, grouped 8-4-4-4-12) into buf, which
 * holds CRUX_UUID_TEXT_LEN + 1 bytes; without uuid_out's string building.
 */
int
crux_format_uuid(const pg_uuid_t *uuid, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = buf;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0F];
	}
	*p = '\0';
	return CRUX_UUID_TEXT_LEN;
}

/* The same, palloc'd in the current memory context. */
char *
crux_uuid_text(const pg_uuid_t *uuid)
{
	char	   *text = palloc(CRUX_UUID_TEXT_LEN + 1);

	crux_format_uuid(uuid, text);
	return text;
}

/* Two uuids in bytewise order, which is uuid's own (for qsort and bsearch). */
int
crux_compare_uuids(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}
