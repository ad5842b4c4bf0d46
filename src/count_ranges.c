/*
 * count_ranges.c
 *		How a request's date range splits for the count tables: UTC days and
 *		months, the whole days and the parts of a day at its ends, and per
 *		retailer which months the counts take whole (less their days outside the
 *		range) and which days they count one by one. Pure date arithmetic; the
 *		queries that sum the pieces are totals.c's.
 */
#include "postgres.h"

#include "count_ranges.h"
#include "utils/datetime.h"

/* The UTC day of an instant. */
DateADT
crux_day_floor(TimestampTz t)
{
	int64		day = t / USECS_PER_DAY;

	if (t % USECS_PER_DAY < 0)
		day--;
	return (DateADT) day;
}

/* The first instant of a finite day, UTC. */
TimestampTz
crux_midnight(DateADT day)
{
	Assert(!DATE_NOT_FINITE(day));
	return (TimestampTz) day * USECS_PER_DAY;
}

/* The first UTC day that starts at or after an instant. */
DateADT
crux_day_ceil(TimestampTz t)
{
	DateADT		day = crux_day_floor(t);

	return crux_midnight(day) < t ? day + 1 : day;
}

/* The first day of day's month. */
DateADT
crux_month_floor(DateADT day)
{
	int			year,
				month,
				mday;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	return date2j(year, month, 1) - POSTGRES_EPOCH_JDATE;
}

/* The first day of a month on or after day. */
DateADT
crux_month_ceil(DateADT day)
{
	int			year,
				month,
				mday;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	if (mday == 1)
		return day;
	return (month == 12 ? date2j(year + 1, 1, 1) : date2j(year, month + 1, 1))
		- POSTGRES_EPOCH_JDATE;
}

/* The first day of the month after day's. */
DateADT
crux_next_month(DateADT day)
{
	return crux_month_ceil(day + 1);
}

/*
 * Splits the request's date range; false when the count tables would not help
 * (a range within one day, or an empty one).
 */
bool
crux_split_date_range(const CruxRequest *req, CountRanges *r)
{
	DateADT		first_day = DATEVAL_NOBEGIN;
	DateADT		last_day = DATEVAL_NOEND;

	r->start = req->has_start_date ? req->start_date : DT_NOBEGIN;
	r->end = req->has_end_date ? req->end_date : DT_NOEND;
	if ((req->has_start_date && !IS_VALID_TIMESTAMP(r->start)) ||
		(req->has_end_date && !IS_VALID_TIMESTAMP(r->end)))
		return false;

	r->first_midnight = r->start;
	r->last_midnight = r->end;
	if (req->has_start_date)
	{
		first_day = crux_day_ceil(r->start);
		r->first_midnight = crux_midnight(first_day);
	}
	if (req->has_end_date)
	{
		last_day = crux_day_floor(r->end);
		r->last_midnight = crux_midnight(last_day);
	}
	if (req->has_start_date && req->has_end_date && first_day >= last_day)
		return false;

	r->day_from = first_day;
	r->day_to = last_day;
	r->month_from = req->has_start_date ? crux_month_ceil(first_day) : DATEVAL_NOBEGIN;
	r->month_to = req->has_end_date ? crux_month_floor(last_day) : DATEVAL_NOEND;
	if (r->month_from >= r->month_to)
		r->month_from = r->month_to = last_day;	/* no whole month: days only */
	return true;
}


RetailerDays
crux_plan_retailer_days(const CountRanges *r)
{
	DateADT		from = r->day_from;
	DateADT		to = r->day_to;
	RetailerDays p = {0};

	if (!DATE_NOT_FINITE(from) && !DATE_NOT_FINITE(to) && crux_month_floor(from) == crux_month_floor(to - 1))
	{
		DateADT		month = crux_month_floor(from);
		DateADT		month_end = crux_next_month(month);

		if ((from - month) + (month_end - to) < to - from)
		{
			p.months_from = month;
			p.months_to = month_end;
			p.subtract[0][0] = month;
			p.subtract[0][1] = from;
			p.subtract[1][0] = to;
			p.subtract[1][1] = month_end;
		}
		else
		{
			p.add[0][0] = from;
			p.add[0][1] = to;
		}
		return p;
	}
	p.months_from = DATE_NOT_FINITE(from) ? from : crux_month_ceil(from);
	p.months_to = DATE_NOT_FINITE(to) ? to : crux_month_floor(to);
	if (!DATE_NOT_FINITE(from) && from < p.months_from)
	{
		DateADT		month = crux_month_floor(from);

		if (from - month < p.months_from - from)
		{
			p.subtract[0][0] = month;
			p.subtract[0][1] = from;
			p.months_from = month;
		}
		else
		{
			p.add[0][0] = from;
			p.add[0][1] = p.months_from;
		}
	}
	if (!DATE_NOT_FINITE(to) && p.months_to < to)
	{
		DateADT		month_end = crux_month_ceil(to);

		if (month_end - to < to - p.months_to)
		{
			p.subtract[1][0] = to;
			p.subtract[1][1] = month_end;
			p.months_to = month_end;
		}
		else
		{
			p.add[1][0] = p.months_to;
			p.add[1][1] = to;
		}
	}
	return p;
}
