/*
 * totals.c
 *		total_results: the number of orders a request matches, from the order
 *		counts the triggers keep (crux.order_counts per retailer and month,
 *		crux.order_counts_all over all retailers by day and month, a count per
 *		status mask in each bucket). Whole months and days of the date range are
 *		summed from bucket rows; per retailer, a month the range covers in part is
 *		counted from an index, by its days in the range or, when fewer lie outside
 *		it, as its bucket less those; the parts of a day at the range's ends are
 *		counted from an index too (per retailer by index_count.c, without the
 *		executor, while the tables have the extension's policies alone).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "miscadmin.h"
#include "query.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* count(*) of the matching orders, counted order by order (a term's from its matches' summaries). */
static int64
count_orders_directly(const CruxRequest *req)
{
	QueryBuilder qb = {0};
	bool		isnull;
	Datum		count;

	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql, "SELECT count(*)");
	crux_append_filters(&qb, req, req->term != NULL ? CRUX_FROM_SUMMARIES : CRUX_FROM_ORDERS,
						CRUX_ALL_ORGS);
	crux_run_query(&qb, crux_query_shape(req, QUERY_COUNT));

	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(count);
}

/*
 * Whether the caller sees every order: then the counts over all retailers apply.
 * Mirrors row-level security on crux.orders: superusers and BYPASSRLS roles skip
 * it, and the "admin" policy lets crux_admin's members see every row. Anyone
 * else reads crux.order_counts, where row-level security leaves exactly the
 * buckets of the orders they see.
 */
bool
crux_caller_sees_all_orders(void)
{
	Oid			user = GetUserId();
	Oid			admin = get_role_oid("crux_admin", true);

	return superuser_arg(user) || has_bypassrls_privilege(user) ||
		(OidIsValid(admin) && has_privs_of_role(user, admin));
}

/* Whether the request's counts are those over all retailers (crux.order_counts_all). */
static bool
counts_over_all_retailers(const CruxRequest *req)
{
	return crux_caller_sees_all_orders() && req->n_org_uuids == 0;
}

/*
 * " FROM <the count table> c WHERE <its buckets of kind with period in [$from,
 * $to), or [$from, $to] when to_inclusive>": crux.order_counts holds months only, per
 * retailer (orgs: those of org_uuids); crux.order_counts_all days and months over
 * all retailers.
 */
static void
append_buckets(QueryBuilder *qb, bool all_retailers, char kind, int from, int to, int orgs,
			   bool to_inclusive)
{
	appendStringInfo(&qb->sql, " FROM %s c WHERE",
					 all_retailers ? "crux.order_counts_all" : "crux.order_counts");
	if (all_retailers)
		appendStringInfo(&qb->sql, " c.period_kind = '%c' AND", kind);
	else if (kind != 'm')
		elog(ERROR, "no day buckets per retailer");
	appendStringInfo(&qb->sql, " c.period >= $%d AND c.period %s $%d", from,
					 to_inclusive ? "<=" : "<", to);
	if (orgs > 0)
		appendStringInfo(&qb->sql, " AND c.retailer_uuid = ANY ($%d)", orgs);
}

/*
 * "crux.count_matching(c.counts, <mask>, <conjunction>)": a bucket row holds a
 * count per status mask; this sums those the filter matches (mask 0: none).
 */
static void
append_bucket_matches(QueryBuilder *qb, const CruxRequest *req, int mask)
{
	char		mask_text[16] = "0";

	if (mask > 0)
		snprintf(mask_text, sizeof(mask_text), "$%d", mask);
	appendStringInfo(&qb->sql, "crux.count_matching(c.counts, %s::smallint, %d::smallint)",
					 mask_text, (int) req->conjunction);
}

/* The parameters of the status filter (*mask) and of org_uuids (*orgs): 0 when absent. */
static void
add_bucket_filter_params(QueryBuilder *qb, const CruxRequest *req, int *mask, int *orgs)
{
	*mask = *orgs = 0;
	if (req->status_mask != 0)
		*mask = crux_add_param(qb, INT2OID, Int16GetDatum(req->status_mask), false);
	if (req->n_org_uuids > 0)
		*orgs = crux_add_param(qb, UUIDARRAYOID,
							   crux_uuid_array_datum(req->org_uuids, req->n_org_uuids), false);
}

/*
 * " + (sum of the <kind> buckets with period in [$from, $to))", or [$from, $to] when
 * to_inclusive (an infinite $to: the orders dated at infinity too)
 */
static void
append_bucket_sum(QueryBuilder *qb, const CruxRequest *req, bool all_retailers,
				  char kind, int from, int to, int mask, int orgs, bool to_inclusive)
{
	appendStringInfoString(&qb->sql, " + (SELECT coalesce(sum(");
	append_bucket_matches(qb, req, mask);
	appendStringInfoString(&qb->sql, "), 0)::bigint");
	append_buckets(qb, all_retailers, kind, from, to, orgs, to_inclusive);
	appendStringInfoChar(&qb->sql, ')');
}

/*
 * " + (the caller's orders of the whole days [$from, $to))", or " - (...)" when
 * sign is '-', counted index-only: the counts per retailer keep months only. With
 * a status filter from crux.order_summaries' index (retailer_uuid, created_day,
 * status_mask), which row-level security's retailer test leads into; it holds
 * only orders with line items (status_mask <> 0), which every status filter
 * implies. Without one from crux.orders' index (retailer_uuid, created_date,
 * uuid), between the days' UTC midnights.
 */
static void
append_summary_day_count(QueryBuilder *qb, const CruxRequest *req, char sign, int from, int to,
						 int mask, int orgs)
{
	Assert(sign == '+' || sign == '-');
	if (mask > 0)
	{
		appendStringInfo(&qb->sql,
						 " %c (SELECT count(*) FROM crux.order_summaries s"
						 " WHERE s.created_day >= $%d AND s.created_day < $%d"
						 " AND s.status_mask <> 0", sign, from, to);
		crux_append_status_test(qb, req, "s.status_mask", mask);
		if (orgs > 0)
			appendStringInfo(&qb->sql, " AND s.retailer_uuid = ANY ($%d)", orgs);
	}
	else
	{
		appendStringInfo(&qb->sql,
						 " %c (SELECT count(*) FROM crux.orders o"
						 " WHERE o.created_date >= ($%d::timestamp AT TIME ZONE 'UTC')"
						 " AND o.created_date < ($%d::timestamp AT TIME ZONE 'UTC')",
						 sign, from, to);
		if (orgs > 0)
			appendStringInfo(&qb->sql, " AND o.retailer_uuid = ANY ($%d)", orgs);
	}
	appendStringInfoChar(&qb->sql, ')');
}

/* A date parameter of the query: its number. */
static int
date_param(QueryBuilder *qb, DateADT day)
{
	return crux_add_param(qb, DATEOID, DateADTGetDatum(day), false);
}

/*
 * The parameters of the days [from, to): both NULL when the range is empty, so
 * that an index scan of it stops before its first descent (one per organization
 * of org_uuids) instead of finding nothing.
 */
static void
day_range_params(QueryBuilder *qb, DateADT from, DateADT to, int *from_param, int *to_param)
{
	bool		empty = from >= to;

	*from_param = crux_add_param(qb, DATEOID, DateADTGetDatum(from), empty);
	*to_param = crux_add_param(qb, DATEOID, DateADTGetDatum(to), empty);
}

/*
 * Whether the count is the sum of every bucket: without a date range, no month
 * or day is counted in part.
 */
static bool
counts_every_bucket(const CruxRequest *req)
{
	return !req->has_start_date && !req->has_end_date;
}

/*
 * " + (the whole months and days of the range)", per retailer (the caller's, or
 * those of org_uuids) as crux_plan_retailer_days splits them, or over all retailers
 * from the day and month buckets of crux.order_counts_all. With days_from_index,
 * only the months per retailer: count_days_from_index counts their days.
 */
static void
append_whole_day_counts(QueryBuilder *qb, const CruxRequest *req, const CountRanges *r,
						bool all_retailers, int mask, int orgs, bool days_from_index)
{
	/* without an end date, the months run to infinity, the orders dated there included */
	if (all_retailers)
	{
		int			month_from = date_param(qb, r->month_from);
		int			month_to = date_param(qb, r->month_to);
		int			day_from,
					day_to;

		append_bucket_sum(qb, req, true, 'm', month_from, month_to, mask, orgs, !req->has_end_date);
		if (counts_every_bucket(req))
			return;
		day_from = date_param(qb, r->day_from);
		day_to = date_param(qb, r->day_to);
		append_bucket_sum(qb, req, true, 'd', day_from, month_from, mask, orgs, false);
		append_bucket_sum(qb, req, true, 'd', month_to, day_to, mask, orgs, false);
	}
	else
	{
		RetailerDays p = crux_plan_retailer_days(r);
		int			months_from = date_param(qb, p.months_from);
		int			months_to = date_param(qb, p.months_to);

		Assert(DATE_IS_NOEND(p.months_to) == !req->has_end_date);
		append_bucket_sum(qb, req, false, 'm', months_from, months_to, mask, orgs,
						  !req->has_end_date);
		if (counts_every_bucket(req) || days_from_index)
			return;
		for (int i = 0; i < 4; i++)
		{
			const DateADT *piece = i < 2 ? p.add[i] : p.subtract[i - 2];
			int			from,
						to;

			day_range_params(qb, piece[0], piece[1], &from, &to);
			append_summary_day_count(qb, req, i < 2 ? '+' : '-', from, to, mask, orgs);
		}
	}
}

/*
 * "(o.created_date >= $from AND o.created_date < $to)", both parameters NULL when
 * the range is empty (as without a date range), which no index scan then reads.
 */
static void
append_instant_range(QueryBuilder *qb, TimestampTz from, TimestampTz to)
{
	bool		empty = from >= to;

	appendStringInfo(&qb->sql, "(o.created_date >= $%d AND o.created_date < $%d)",
					 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(from), empty),
					 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(to), empty));
}

/*
 * " + (the orders of the parts of a day at either end of the range)", counted
 * order by order from crux.orders, each status mask probed.
 */
static void
append_partial_day_count(QueryBuilder *qb, const CruxRequest *req, const CountRanges *r,
						 int mask, int orgs)
{
	appendStringInfoString(&qb->sql, " + (SELECT count(*)");
	crux_append_from(qb, CRUX_FROM_ORDERS);
	appendStringInfoString(&qb->sql, " WHERE true");
	if (mask > 0)
		crux_append_status_test(qb, req, crux_status_mask_expression(req, false), mask);
	if (orgs > 0)
		appendStringInfo(&qb->sql, " AND o.retailer_uuid = ANY ($%d)", orgs);
	appendStringInfoString(&qb->sql, " AND (");
	append_instant_range(qb, r->start, r->first_midnight);
	appendStringInfoString(&qb->sql, " OR ");
	append_instant_range(qb, r->last_midnight, r->end);
	appendStringInfoString(&qb->sql, "))");
}

/*
 * " + (the orders of [from, to), a part of one day, that a status filter keeps)",
 * counted index-only from the summaries' day index, which
 * includes created_date. A range at an infinite bound is empty (from = to): its
 * day is then NULL, and nothing is read.
 */
static void
append_partial_day_summary_count(QueryBuilder *qb, const CruxRequest *req,
								 TimestampTz from, TimestampTz to, int mask, int orgs)
{
	bool		empty = !IS_VALID_TIMESTAMP(from) || !IS_VALID_TIMESTAMP(to) || from >= to;

	appendStringInfo(&qb->sql,
					 " + (SELECT count(*) FROM crux.order_summaries s"
					 " WHERE s.created_day = $%d AND s.status_mask <> 0",
					 crux_add_param(qb, DATEOID,
									empty ? (Datum) 0 : DateADTGetDatum(crux_day_floor(from)),
									empty));
	crux_append_status_test(qb, req, "s.status_mask", mask);
	if (orgs > 0)
		appendStringInfo(&qb->sql, " AND s.retailer_uuid = ANY ($%d)", orgs);
	appendStringInfo(&qb->sql, " AND s.created_date >= $%d AND s.created_date < $%d)",
					 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(from), empty),
					 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(to), empty));
}

/*
 * Whether the days and parts of days that a count per retailer reads from an
 * index are counted by index_count.c, without the executor (about a tenth of
 * the cost an order), rather than by the query.
 */
static bool
counts_days_from_index(const CruxRequest *req, bool all_retailers, int mask)
{
	return !all_retailers && !counts_every_bucket(req) &&
		crux_can_count_from_index(mask > 0);
}

/*
 * The retailers of a count per retailer whose orders the caller sees (*n of
 * them), as row-level security on crux.orders would leave them: those of
 * org_uuids for a caller who sees every order; else the organization the role
 * acts for, if any, and if org_uuids, when given, names it.
 */
static pg_uuid_t *
retailers_seen(const CruxRequest *req, int *n)
{
	pg_uuid_t  *org;

	if (crux_caller_sees_all_orders())
	{
		Assert(req->n_org_uuids > 0);
		*n = req->n_org_uuids;
		return req->org_uuids;
	}
	org = palloc(sizeof(pg_uuid_t));
	*n = crux_acting_org(org) &&
		(req->n_org_uuids == 0 ||
		 bsearch(org, req->org_uuids, req->n_org_uuids, sizeof(pg_uuid_t),
				 crux_compare_uuids) != NULL) ? 1 : 0;
	return org;
}

/*
 * The orders of the pieces that append_whole_day_counts leaves out with
 * days_from_index (the days crux_plan_retailer_days adds, less those it
 * subtracts) and of the parts of a day at the range's ends, counted from the
 * index by retailer and date (with a status filter, the summaries' by day).
 */
static int64
count_days_from_index(const CruxRequest *req, const CountRanges *r)
{
	RetailerDays p = crux_plan_retailer_days(r);
	CruxCountedRanges added = {0};
	CruxCountedRanges subtracted = {0};
	int			n;
	pg_uuid_t  *retailers = retailers_seen(req, &n);

	if (n == 0)
		return 0;
	added.n_days = subtracted.n_days = 2;
	for (int i = 0; i < 2; i++)
	{
		added.day_from[i] = p.add[i][0];
		added.day_to[i] = p.add[i][1];
		subtracted.day_from[i] = p.subtract[i][0];
		subtracted.day_to[i] = p.subtract[i][1];
	}
	added.n_instants = 2;
	added.from[0] = r->start;
	added.to[0] = r->first_midnight;
	added.from[1] = r->last_midnight;
	added.to[1] = r->end;
	return crux_count_from_index(retailers, n, req->status_mask, req->conjunction, &added) -
		crux_count_from_index(retailers, n, req->status_mask, req->conjunction, &subtracted);
}

/*
 * The count from the buckets the triggers keep (crux.order_counts): whole months
 * and days summed from a few hundred bucket rows (per retailer, the months the
 * range covers in part as crux_plan_retailer_days says), the partial days at the ends
 * of the range from an index (with a status filter, the summaries' day indexes).
 * Exact: the buckets change in the same transactions as the orders, and this runs
 * in the same snapshot as the page.
 */
static int64
count_orders_from_buckets(const CruxRequest *req, const CountRanges *r)
{
	QueryBuilder qb = {0};
	bool		all_retailers = counts_over_all_retailers(req);
	int			mask,
				orgs;
	bool		isnull;
	Datum		count;
	uint32		shape;
	bool		days_from_index;

	initStringInfo(&qb.sql);
	add_bucket_filter_params(&qb, req, &mask, &orgs);
	days_from_index = counts_days_from_index(req, all_retailers, mask);
	appendStringInfoString(&qb.sql, "SELECT 0::bigint");
	append_whole_day_counts(&qb, req, r, all_retailers, mask, orgs, days_from_index);

	if (!counts_every_bucket(req) && !days_from_index)	/* else no part of a day to count here */
	{
		if (mask > 0)
		{
			append_partial_day_summary_count(&qb, req, r->start, r->first_midnight, mask, orgs);
			append_partial_day_summary_count(&qb, req, r->last_midnight, r->end, mask, orgs);
		}
		else
			append_partial_day_count(&qb, req, r, mask, orgs);
	}

	shape = crux_query_shape(req, QUERY_COUNT_FROM_COUNTS) | (all_retailers ? 1 << 11 : 0) |
		(days_from_index ? 1u << 29 : 0);
	crux_run_query(&qb, shape);

	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return (isnull ? 0 : DatumGetInt64(count)) +
		(days_from_index ? count_days_from_index(req, r) : 0);
}

/*
 * Whether a status filter's date range, which holds no whole day, covers at least
 * an eighth of the one or two days it touches: then counting the summaries of
 * those days from their index costs less than reading the range's orders one by
 * one, each with its summary (about eight times dearer an order).
 */
static bool
status_filter_covers_much_of_its_days(const CruxRequest *req)
{
	int64		days;

	if (req->status_mask == 0 || !req->has_start_date || !req->has_end_date ||
		!IS_VALID_TIMESTAMP(req->start_date) || !IS_VALID_TIMESTAMP(req->end_date) ||
		req->start_date >= req->end_date)
		return false;
	days = crux_day_floor(req->end_date - 1) - crux_day_floor(req->start_date) + 1;
	return (req->end_date - req->start_date) * 8 >= days * USECS_PER_DAY;
}

/*
 * The orders that a status filter keeps in a date range that holds no whole day
 * (within one day, or across one midnight): from the summaries' day indexes (which
 * include created_date), a day at a time, as the parts of a day at the ends of a
 * longer range.
 */
static int64
count_status_filter_without_whole_days(const CruxRequest *req)
{
	QueryBuilder qb = {0};
	TimestampTz last_midnight = crux_midnight(crux_day_floor(req->end_date - 1));
	TimestampTz split = Max(req->start_date, last_midnight);
	int			mask,
				orgs;
	bool		isnull;

	initStringInfo(&qb.sql);
	add_bucket_filter_params(&qb, req, &mask, &orgs);
	appendStringInfoString(&qb.sql, "SELECT 0::bigint");
	append_partial_day_summary_count(&qb, req, req->start_date, split, mask, orgs);
	append_partial_day_summary_count(&qb, req, split, req->end_date, mask, orgs);
	crux_run_query(&qb, crux_query_shape(req, QUERY_COUNT_FROM_COUNTS) | 1u << 25);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/*
 * The number of matching orders: from the count tables' buckets, or, for a
 * status filter over much of a day or two but no whole day, from the summaries'
 * day indexes; counted directly when the request searches a term, whose matches
 * are few, and for other ranges without a whole day.
 */
int64
crux_count_orders(const CruxRequest *req)
{
	CountRanges ranges;

	if (req->term != NULL)
		return count_orders_directly(req);
	if (crux_split_date_range(req, &ranges))
		return count_orders_from_buckets(req, &ranges);
	if (status_filter_covers_much_of_its_days(req))
		return count_status_filter_without_whole_days(req);
	return count_orders_directly(req);
}

/*
 * About how many orders a request matches, for choosing how to walk a page: its
 * date range widened to whole UTC months, which the count tables sum from their
 * buckets alone (a range with partial months counts the orders of some of its
 * days one by one), scaled back to the range's length when both of its ends are
 * given. Exact without a date range; a term's, an infinite bound's and an empty
 * range's counted as crux_count_orders counts them.
 */
int64
crux_estimate_orders(const CruxRequest *req)
{
	CruxRequest widened = *req;
	double		share = 1.0;

	if (req->term != NULL ||
		(req->has_start_date && !IS_VALID_TIMESTAMP(req->start_date)) ||
		(req->has_end_date && !IS_VALID_TIMESTAMP(req->end_date)) ||
		(req->has_start_date && req->has_end_date && req->end_date <= req->start_date))
		return crux_count_orders(req);
	if (req->has_start_date)
		widened.start_date = crux_midnight(crux_month_floor(crux_day_floor(req->start_date)));
	if (req->has_end_date)
		widened.end_date = crux_midnight(crux_month_ceil(crux_day_ceil(req->end_date)));
	if (req->has_start_date && req->has_end_date)
		share = (double) (req->end_date - req->start_date) /
			(double) (widened.end_date - widened.start_date);
	return (int64) (share * (double) crux_count_orders(&widened) + 0.5);
}

/*
 * The orders of each organization of org_uuids, whatever their dates and statuses,
 * summed from its buckets: orders[i] for req->org_uuids[i] (sorted bytewise and
 * distinct, as the request keeps them), 0 for one without orders. One kept plan.
 */
void
crux_orders_of_each_org(const CruxRequest *req, int64 *orders)
{
	static SPIPlanPtr plan = NULL;
	Oid			type = UUIDARRAYOID;
	Datum		orgs = crux_uuid_array_datum(req->org_uuids, req->n_org_uuids);

	crux_kept_plan(&plan,
				   "SELECT c.retailer_uuid, sum(crux.count_matching(c.counts, 0::smallint,"
				   " 0::smallint))::bigint FROM crux.order_counts c"
				   " WHERE c.retailer_uuid OPERATOR(pg_catalog.=) ANY ($1) GROUP BY c.retailer_uuid",
				   1, &type, CURSOR_OPT_GENERIC_PLAN);
	crux_select_with_kept_plan(plan, &orgs, NULL, "the orders of each organization");
	memset(orders, 0, sizeof(int64) * req->n_org_uuids);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		org = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &isnull);
		Datum		n = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &isnull);
		pg_uuid_t  *listed = bsearch(DatumGetUUIDP(org), req->org_uuids, req->n_org_uuids,
								 sizeof(pg_uuid_t), crux_compare_uuids);

		if (listed != NULL && !isnull)
			orders[listed - req->org_uuids] = DatumGetInt64(n);
	}
}

/*
 * The buckets (days over all retailers, months per retailer) whose periods lie in
 * [from, to), each with how many of its orders the request's filters keep, in the
 * walk's order: SPI_tuptable's rows of (period, count). An infinite bound takes in
 * the bucket of the orders dated at that infinity.
 */
static void
run_bucket_counts_query(const CruxRequest *req, bool all_retailers, DateADT from, DateADT to)
{
	QueryBuilder qb = {0};
	int			mask,
				orgs,
				from_param,
				to_param;

	initStringInfo(&qb.sql);
	from_param = crux_add_param(&qb, DATEOID, DateADTGetDatum(from), false);
	to_param = crux_add_param(&qb, DATEOID,
							  DateADTGetDatum(DATE_NOT_FINITE(to) ? to : to - 1), false);
	add_bucket_filter_params(&qb, req, &mask, &orgs);
	appendStringInfoString(&qb.sql, "SELECT c.period, sum(");
	append_bucket_matches(&qb, req, mask);
	appendStringInfoString(&qb.sql, ")::bigint");
	append_buckets(&qb, all_retailers, all_retailers ? 'd' : 'm', from_param, to_param, orgs,
				   true);
	appendStringInfo(&qb.sql, " GROUP BY c.period ORDER BY c.period %s",
					 req->sort_asc ? "ASC" : "DESC");
	crux_run_query(&qb, crux_query_shape(req, QUERY_COUNT_FROM_COUNTS) | 1u << 12 |
				   (all_retailers ? 1u << 11 : 0) | (req->sort_asc ? 1u << 9 : 0));
}

/* The bucket after the one that starts on day. */
static DateADT
next_bucket(DateADT day, bool all_retailers)
{
	return all_retailers ? day + 1 : crux_next_month(day);
}

/*
 * Where a walk from one end of the date range (the start when ascending) meets the
 * buckets (days over all retailers, months per retailer): the part of the range in
 * the bucket the walk starts in, [edge_from, edge_to) (empty at a missing or
 * bucket-aligned end), that bucket, and the periods [from, to) of the whole buckets
 * after it. False when the range holds no whole bucket.
 */
typedef struct WalkBuckets
{
	bool		has_edge;
	TimestampTz edge_from;
	TimestampTz edge_to;
	DateADT		edge_bucket;
	DateADT		from;
	DateADT		to;
} WalkBuckets;

static bool
walk_buckets(const CruxRequest *req, bool all_retailers, WalkBuckets *w)
{
	CountRanges r;

	if (!crux_split_date_range(req, &r))
		return false;
	w->from = req->has_start_date ? (all_retailers ? r.day_from : crux_month_ceil(r.day_from))
		: DATEVAL_NOBEGIN;
	w->to = req->has_end_date ? (all_retailers ? r.day_to : crux_month_floor(r.day_to))
		: DATEVAL_NOEND;
	if (w->from >= w->to)
		return false;
	w->has_edge = false;
	if (req->sort_asc && req->has_start_date)
	{
		w->edge_from = r.start;
		w->edge_to = crux_midnight(w->from);
		w->edge_bucket = all_retailers ? crux_day_floor(r.start) :
			crux_month_floor(crux_day_floor(r.start));
		w->has_edge = w->edge_to > w->edge_from;
	}
	else if (!req->sort_asc && req->has_end_date)
	{
		w->edge_from = crux_midnight(w->to);
		w->edge_to = r.end;
		w->edge_bucket = w->to;
		w->has_edge = w->edge_to > w->edge_from;
	}
	return true;
}

/*
 * The orders of [from, to) that the request's status filter keeps, as
 * total_results counts a range.
 */
static int64
count_status_filter_in(const CruxRequest *req, TimestampTz from, TimestampTz to)
{
	CruxRequest part = *req;

	part.has_start_date = part.has_end_date = true;
	part.start_date = from;
	part.end_date = to;
	return crux_count_orders(&part);
}

/* The rows of run_bucket_counts_query: their periods and counts, in the walk's order. */
typedef struct BucketCounts
{
	int			n;
	DateADT    *periods;
	int64	   *counts;
} BucketCounts;

static BucketCounts
bucket_counts(const CruxRequest *req, bool all_retailers, DateADT from, DateADT to)
{
	BucketCounts b;

	run_bucket_counts_query(req, all_retailers, from, to);
	b.n = (int) SPI_processed;
	b.periods = palloc(sizeof(DateADT) * Max(b.n, 1));
	b.counts = palloc(sizeof(int64) * Max(b.n, 1));
	for (int i = 0; i < b.n; i++)
	{
		bool		isnull;

		b.periods[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		b.counts[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 2, &isnull));
	}
	return b;
}

/*
 * A later page under the date sort: its walk passes, at the end of the date range
 * it starts from, the part of the range in the bucket it starts in, then whole
 * buckets of the count tables (days over all retailers, months per retailer).
 * Those that end before the page's first position are counted (the buckets from
 * their rows, the part as total_results counts it) instead of walked. *page: the
 * request with its date range cut where the walk then starts, and its positions
 * moved back by the orders cut off. The part is counted only when the count of its
 * whole bucket says that a whole bucket after it ends before the page. Exact: the
 * buckets change in the same transactions as the orders, and this runs in the
 * same snapshot as the page. False when nothing is cut.
 */
bool
crux_skip_whole_buckets(const CruxRequest *req, CruxRequest *page)
{
	bool		all_retailers = counts_over_all_retailers(req);
	WalkBuckets w = {0};
	BucketCounts b;
	int			i = 0;
	int64		skipped = 0;
	bool		cut = false;
	TimestampTz cut_at = 0;

	if (!walk_buckets(req, all_retailers, &w))
		return false;
	/* the edge's bucket too (first in the walk's order), when there is an edge */
	b = bucket_counts(req, all_retailers,
					  w.has_edge && req->sort_asc ? w.edge_bucket : w.from,
					  w.has_edge && !req->sort_asc ? next_bucket(w.to, all_retailers) : w.to);
	/*
	 * First in the walk: the edge's bucket, whose count bounds the edge's, or
	 * without an edge the bucket of the orders dated at infinity, if any (exact)
	 */
	if (b.n > 0 && (w.has_edge ? b.periods[0] == w.edge_bucket
					: DATE_NOT_FINITE(b.periods[0])))
		skipped = b.counts[i++];
	/* the first whole bucket must end before the page; one at infinity ends nowhere */
	if (i == b.n || DATE_NOT_FINITE(b.periods[i]) || skipped + b.counts[i] > req->start)
		return false;
	if (w.has_edge && skipped > 0)
		skipped = count_status_filter_in(req, w.edge_from, w.edge_to);
	for (; i < b.n && !DATE_NOT_FINITE(b.periods[i]) &&
		 skipped + b.counts[i] <= req->start; i++)
	{
		skipped += b.counts[i];
		cut = true;
		cut_at = crux_midnight(req->sort_asc ? next_bucket(b.periods[i], all_retailers)
						  : b.periods[i]);
	}
	if (!cut)					/* the count tables disagree with the summaries */
		return false;
	*page = *req;
	if (req->sort_asc)
	{
		page->has_start_date = true;
		page->start_date = cut_at;
	}
	else
	{
		page->has_end_date = true;
		page->end_date = cut_at;
	}
	page->start -= skipped;
	page->limit -= skipped;
	return true;
}

/* How many orders an export of the request covers: from start to limit. */
int64
crux_count_export_orders(const CruxRequest *req)
{
	int64		total = crux_count_orders(req);
	int64		end = req->has_limit ? Min(req->limit, total) : total;

	return Max(end - req->start, 0);
}
