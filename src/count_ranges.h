/*
 * count_ranges.h
 *		How a request's date range splits for the count tables (count_ranges.c),
 *		which totals.c sums: UTC days and months, whole and partial.
 */
#ifndef CRUX_COUNT_RANGES_H
#define CRUX_COUNT_RANGES_H

#include "crux_orders.h"
#include "utils/date.h"
#include "utils/timestamp.h"

/*
 * How a date range [start, end) splits for the count tables: whole days
 * [day_from, day_to), of which over all retailers the whole months [month_from,
 * month_to) come from the month buckets and the other days [day_from, month_from)
 * and [month_to, day_to) from the day buckets (per retailer, plan_retailer_days
 * splits the whole days), and the parts of a day at either end, [start,
 * first_midnight) and [last_midnight, end). Days and months are UTC, as the
 * buckets are. A missing bound is infinite.
 */
typedef struct CountRanges
{
	DateADT		month_from;
	DateADT		month_to;
	DateADT		day_from;
	DateADT		day_to;
	TimestampTz start;
	TimestampTz first_midnight;
	TimestampTz last_midnight;
	TimestampTz end;
} CountRanges;

/*
 * How the whole days [day_from, day_to) of a range are counted per retailer,
 * whose buckets are months: the months [months_from, months_to) from their
 * buckets, and each month the days cover in part either by those days, counted
 * one by one (add), or, when fewer of its days lie outside them, as its bucket
 * less the days outside (subtract). No more than half of a month at either end
 * of the range is then counted one by one. Unused pieces are empty ([0, 0), the
 * day 2000-01-01 not included).
 */
typedef struct RetailerDays
{
	DateADT		months_from;
	DateADT		months_to;
	DateADT		add[2][2];
	DateADT		subtract[2][2];
} RetailerDays;

extern DateADT crux_day_floor(TimestampTz t);
extern TimestampTz crux_midnight(DateADT day);
extern DateADT crux_day_ceil(TimestampTz t);
extern DateADT crux_month_floor(DateADT day);
extern DateADT crux_month_ceil(DateADT day);
extern DateADT crux_next_month(DateADT day);
extern bool crux_split_date_range(const CruxRequest *req, CountRanges *r);
extern RetailerDays crux_plan_retailer_days(const CountRanges *r);

#endif							/* CRUX_COUNT_RANGES_H */
