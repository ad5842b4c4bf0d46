/*
 * query.c
 *		Query building and running: turns a checked CruxRequest into SQL whose
 *		shape depends only on which filters are present and on the sort, runs it
 *		through SPI with the request's values as parameters, and keeps one prepared
 *		plan per shape for the life of the backend.
 *
 * All SQL here is schema-qualified and runs with search_path = pg_catalog, pg_temp
 * (set on the API functions), and as the caller, so row-level security applies.
 * The filters read the per-order summaries that the line-item triggers keep
 * (status_mask, min_sku_id), so a status filter is one integer test per order:
 * columns of crux.orders up to version 1.1, rows of crux.order_summaries (joined
 * for the sku_id sort, probed per order for a status filter) from 1.2 on;
 * req->layout says which.
 * total_results comes from the order counts the triggers also keep (version 1.1:
 * crux.order_counts, per retailer, UTC day or month and status mask): whole months
 * and days of the date range are summed from bucket rows, only the partial days at
 * its ends are counted order by order.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define MAX_QUERY_PARAMS 12

/* What a query returns: the number of matching orders, or one page of uuids. */
typedef enum QueryKind
{
	QUERY_COUNT,
	QUERY_PAGE,
	QUERY_COUNT_FROM_COUNTS
} QueryKind;

typedef struct PlanCacheEntry
{
	uint32		shape;			/* hash key: see query_shape() */
	SPIPlanPtr	plan;
} PlanCacheEntry;

static HTAB *plan_cache = NULL;
static SPIPlanPtr details_plans[CRUX_LAYOUT_1_2 + 1];

/* A query under construction: its text and its parameters. */
typedef struct QueryBuilder
{
	StringInfoData sql;
	int			nparams;
	Oid			types[MAX_QUERY_PARAMS];
	Datum		values[MAX_QUERY_PARAMS];
	char		nulls[MAX_QUERY_PARAMS];
} QueryBuilder;

/*
 * Everything that changes the SQL text, packed into one integer: which filters are
 * present, the conjunction, the sort and the kind of query. Values never do.
 */
static uint32
query_shape(const CruxRequest *req, QueryKind kind)
{
	uint32		shape = 0;

	if (req->status_mask != 0)
		shape |= 1 + (uint32) req->conjunction;	/* 1..3 */
	shape |= (req->has_start_date ? 1 : 0) << 2;
	shape |= (req->has_end_date ? 1 : 0) << 3;
	shape |= (req->term != NULL ? 1 : 0) << 4;
	shape |= (req->n_org_uuids > 0 ? 1 : 0) << 5;
	if (kind == QUERY_PAGE)
	{
		shape |= 1 << 6;
		shape |= (uint32) req->sort_key << 7;	/* 2 bits */
		shape |= (req->sort_asc ? 1 : 0) << 9;
	}
	if (kind == QUERY_COUNT_FROM_COUNTS)
		shape |= 1 << 10;
	/* bit 11: all-retailer counts (count_orders_from_buckets) */
	shape |= (uint32) req->layout << 12;	/* 2 bits */
	/* bit 14: the selection with the orders' ctids (run_order_uuid_query) */
	shape |= (req->n_org_uuids > 1 ? 1 : 0) << 15;
	/* bit 16: the term's matches counted with their page (run_term_page_query) */
	/* bit 17: a sparse status filter's date page (run_sparse_status_date_query) */
	return shape;
}

/* Adds a parameter and returns its number, for "$n" in the text. */
static int
add_param(QueryBuilder *qb, Oid type, Datum value, bool isnull)
{
	if (qb->nparams >= MAX_QUERY_PARAMS)
		elog(ERROR, "too many query parameters");
	qb->types[qb->nparams] = type;
	qb->values[qb->nparams] = value;
	qb->nulls[qb->nparams] = isnull ? 'n' : ' ';
	return ++qb->nparams;
}

static Datum
uuid_array_datum(const pg_uuid_t *uuids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&uuids[i]);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false,
										   TYPALIGN_CHAR));
}

/* " AND <mask> matches parameter $p", for the conjunction. */
static void
append_status_test(QueryBuilder *qb, const CruxRequest *req, const char *mask, int p)
{
	switch (req->conjunction)
	{
		case CRUX_CONJ_OR:
			appendStringInfo(&qb->sql, " AND (%s & $%d) <> 0", mask, p);
			break;
		case CRUX_CONJ_AND:
			appendStringInfo(&qb->sql, " AND (%s & $%d) = $%d", mask, p, p);
			break;
		case CRUX_CONJ_ONLY:
			appendStringInfo(&qb->sql, " AND %s = $%d", mask, p);
			break;
	}
}

/*
 * An order's status mask, for a status filter. Up to 1.1 a column of crux.orders.
 * From 1.2 on, when the orders are walked in another order than the sku_id sort's,
 * a probe of the order's summary row by primary key: the planner cannot estimate
 * how many orders a mask test keeps, and given a join it may read all of a
 * retailer's summaries and sort, where walking the orders in page order and
 * stopping at the page's end costs a few probes per row of the page.
 */
static const char *
status_mask_expression(const CruxRequest *req, bool joined_summaries)
{
	if (req->layout < CRUX_LAYOUT_1_2)
		return "o.status_mask";
	if (joined_summaries)
		return "s.status_mask";
	return "(SELECT s.status_mask FROM crux.order_summaries s WHERE s.order_uuid = o.uuid)";
}

/*
 * " FROM crux.orders o", joined to the orders' summaries (version 1.2 on) for the
 * sku_id sort, which walks their index on min_sku_id: every order has its summary
 * row, so the join keeps every order.
 */
static void
append_from(QueryBuilder *qb, const CruxRequest *req, bool sorts_by_sku)
{
	appendStringInfoString(&qb->sql, " FROM crux.orders o");
	if (sorts_by_sku && req->layout >= CRUX_LAYOUT_1_2)
		appendStringInfoString(&qb->sql,
							   " JOIN crux.order_summaries s ON s.order_uuid = o.uuid");
}

/*
 * " AND <the order's retailer is one of org_uuids>". One organization is an
 * equality, so that the page walks the index that leads with the retailer in the
 * sort's order, as row-level security's retailer test does; a generic plan of
 * "= ANY" cannot, even for an array of one. per_org: the organization the query
 * reads at a time, r.retailer_uuid (run_per_org_page_query).
 */
static void
append_org_test(QueryBuilder *qb, const CruxRequest *req, bool per_org)
{
	if (req->n_org_uuids == 0)
		return;
	if (per_org)
		appendStringInfoString(&qb->sql, " AND o.retailer_uuid = r.retailer_uuid");
	else if (req->n_org_uuids == 1)
		appendStringInfo(&qb->sql, " AND o.retailer_uuid = $%d",
						 add_param(qb, UUIDOID, UUIDPGetDatum(&req->org_uuids[0]), false));
	else
		appendStringInfo(&qb->sql, " AND o.retailer_uuid = ANY ($%d)",
						 add_param(qb, UUIDARRAYOID,
								   uuid_array_datum(req->org_uuids, req->n_org_uuids),
								   false));
}

/*
 * The FROM and WHERE clauses for the request's filters. per_org: the query reads
 * one organization of org_uuids at a time, r.retailer_uuid (run_per_org_page_query).
 */
static void
append_filters(QueryBuilder *qb, const CruxRequest *req, bool sorts_by_sku,
			   bool per_org)
{
	append_from(qb, req, sorts_by_sku);
	appendStringInfoString(&qb->sql, " WHERE true");

	if (req->status_mask != 0)
		append_status_test(qb, req, status_mask_expression(req, sorts_by_sku),
						   add_param(qb, INT2OID, Int16GetDatum(req->status_mask), false));
	if (req->has_start_date)
		appendStringInfo(&qb->sql, " AND o.created_date >= $%d",
						 add_param(qb, TIMESTAMPTZOID,
								   TimestampTzGetDatum(req->start_date), false));
	if (req->has_end_date)
		appendStringInfo(&qb->sql, " AND o.created_date < $%d",
						 add_param(qb, TIMESTAMPTZOID,
								   TimestampTzGetDatum(req->end_date), false));
	if (req->term != NULL)
	{
		int			t = add_param(qb, TEXTOID, CStringGetTextDatum(req->term), false);
		int			u = add_param(qb, UUIDOID,
								  req->term_is_uuid ? UUIDPGetDatum(&req->term_uuid) : (Datum) 0,
								  !req->term_is_uuid);

		appendStringInfo(&qb->sql,
						 " AND o.uuid IN (SELECT x.uuid FROM crux.orders x WHERE x.purchase_order_id = $%d"
						 " UNION ALL SELECT li.order_uuid FROM crux.line_items li WHERE li.sku_id = $%d"
						 " UNION ALL SELECT $%d WHERE $%d IS NOT NULL)",
						 t, t, u, u);
	}
	append_org_test(qb, req, per_org);
}

static const char *
sort_expression(const CruxRequest *req)
{
	switch (req->sort_key)
	{
		case CRUX_SORT_DATE:
			return "o.created_date";
		case CRUX_SORT_STATUS:
			return "o.status COLLATE \"C\"";
		case CRUX_SORT_SKU_ID:
			return req->layout >= CRUX_LAYOUT_1_2 ? "s.min_sku_id" : "o.min_sku_id";
		case CRUX_SORT_UUID:
			return "o.uuid";
	}
	elog(ERROR, "unexpected sort key %d", (int) req->sort_key);
}

/*
 * " ORDER BY key, uuid": a missing value sorts as larger than any value; ties
 * break on the uuid in the same direction, so that pages never overlap or skip.
 * key and uuid name the sort value and the order's uuid where the query reads
 * them (the uuid sort has no other key).
 */
static void
append_order_by(QueryBuilder *qb, const CruxRequest *req, const char *key,
				const char *uuid)
{
	const char *dir = req->sort_asc ? "ASC NULLS LAST" : "DESC NULLS FIRST";

	if (req->sort_key == CRUX_SORT_UUID)
		appendStringInfo(&qb->sql, " ORDER BY %s %s", uuid, dir);
	else
		appendStringInfo(&qb->sql, " ORDER BY %s %s, %s %s", key, dir, uuid, dir);
}

/* The kept plan for this shape, prepared the first time the shape is seen. */
static SPIPlanPtr
plan_for_shape(uint32 shape, QueryBuilder *qb)
{
	PlanCacheEntry *entry;
	bool		found;

	if (plan_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(PlanCacheEntry);
		plan_cache = hash_create("crux_orders plans", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(plan_cache, &shape, HASH_FIND, &found);
	if (found)
		return entry->plan;

	{
		SPIPlanPtr	plan = SPI_prepare(qb->sql.data, qb->nparams, qb->types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", qb->sql.data,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		entry = hash_search(plan_cache, &shape, HASH_ENTER, &found);
		entry->plan = plan;
		return plan;
	}
}

static void
run_query(QueryBuilder *qb, uint32 shape)
{
	SPIPlanPtr	plan = plan_for_shape(shape, qb);
	int			rc = SPI_execute_plan(plan, qb->values, qb->nulls, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * Runs a query with enable_sort off, so that its rows come in the order of an
 * index walk: the sku_id sort from version 1.2 on. Row-level security's
 * retailer test is a parameter the planner guesses at 1% of the rows; it then
 * prefers reading all of a retailer's order summaries and sorting them (300 ms
 * for a retailer with a third of 1,000,000 orders) to walking the index on
 * min_sku_id and stopping at the page's end (a few milliseconds). The setting
 * is restored afterwards, on error too (as a function's SET clause is).
 */
static void
run_query_walking_index(QueryBuilder *qb, uint32 shape)
{
	int			nest_level = NewGUCNestLevel();

	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	run_query(qb, shape);
	AtEOXact_GUC(true, nest_level);
}

/* count(*) of the matching orders, counted order by order. */
static int64
count_orders_directly(const CruxRequest *req)
{
	QueryBuilder qb = {0};
	bool		isnull;
	Datum		count;

	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql, "SELECT count(*)");
	append_filters(&qb, req, false, false);
	run_query(&qb, query_shape(req, QUERY_COUNT));

	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(count);
}

/*
 * How a date range [start, end) splits for the count tables: whole months
 * [month_from, month_to) from the month buckets, whole days [day_from, month_from)
 * and [month_to, day_to) from the day buckets, and the parts of a day at either
 * end, [start, first_midnight) and [last_midnight, end), from crux.orders. Days
 * and months are UTC, as the buckets are. A missing bound is infinite.
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

static DateADT
day_floor(TimestampTz t)
{
	int64		day = t / USECS_PER_DAY;

	if (t % USECS_PER_DAY < 0)
		day--;
	return (DateADT) day;
}

static DateADT
day_ceil(TimestampTz t)
{
	DateADT		day = day_floor(t);

	return (int64) day * USECS_PER_DAY < t ? day + 1 : day;
}

static DateADT
month_floor(DateADT day)
{
	int			year,
				month,
				mday;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	return date2j(year, month, 1) - POSTGRES_EPOCH_JDATE;
}

static DateADT
month_ceil(DateADT day)
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

/*
 * Splits the request's date range; false when the count tables would not help
 * (a range within one day, or an empty one).
 */
static bool
split_date_range(const CruxRequest *req, CountRanges *r)
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
		first_day = day_ceil(r->start);
		r->first_midnight = (TimestampTz) first_day * USECS_PER_DAY;
	}
	if (req->has_end_date)
	{
		last_day = day_floor(r->end);
		r->last_midnight = (TimestampTz) last_day * USECS_PER_DAY;
	}
	if (req->has_start_date && req->has_end_date && first_day >= last_day)
		return false;

	r->day_from = first_day;
	r->day_to = last_day;
	r->month_from = req->has_start_date ? month_ceil(first_day) : DATEVAL_NOBEGIN;
	r->month_to = req->has_end_date ? month_floor(last_day) : DATEVAL_NOEND;
	if (r->month_from >= r->month_to)
		r->month_from = r->month_to = last_day;	/* no whole month: days only */
	return true;
}

/*
 * Whether the caller sees every order: then the counts over all retailers apply.
 * Mirrors row-level security on crux.orders: superusers and BYPASSRLS roles skip
 * it, and the "admin" policy lets crux_admin's members see every row. Anyone
 * else reads crux.order_counts, where row-level security leaves exactly the
 * buckets of the orders they see.
 */
static bool
caller_sees_all_orders(void)
{
	Oid			user = GetUserId();
	Oid			admin = get_role_oid("crux_admin", true);

	return superuser_arg(user) || has_bypassrls_privilege(user) ||
		(OidIsValid(admin) && has_privs_of_role(user, admin));
}

/*
 * " + (sum of the <kind> buckets with period in [$from, $to))". From version 1.2
 * on a bucket is one row holding a count per status mask (crux.count_matching
 * sums those the filter matches), and crux.order_counts holds months only.
 */
static void
append_bucket_sum(QueryBuilder *qb, const CruxRequest *req, bool all_retailers,
				  char kind, int from, int to, int mask, int orgs)
{
	if (req->layout >= CRUX_LAYOUT_1_2)
	{
		char		mask_text[16] = "0";

		if (mask > 0)
			snprintf(mask_text, sizeof(mask_text), "$%d", mask);
		appendStringInfo(&qb->sql,
						 " + (SELECT coalesce(sum(crux.count_matching(c.counts, %s::smallint,"
						 " %d::smallint)), 0)::bigint FROM %s c WHERE",
						 mask_text, (int) req->conjunction,
						 all_retailers ? "crux.order_counts_all" : "crux.order_counts");
		if (all_retailers)
			appendStringInfo(&qb->sql, " c.period_kind = '%c' AND", kind);
		else if (kind != 'm')
			elog(ERROR, "no day buckets per retailer from version 1.2 on");
		appendStringInfo(&qb->sql, " c.period >= $%d AND c.period < $%d", from, to);
		if (orgs > 0)
			appendStringInfo(&qb->sql, " AND c.retailer_uuid = ANY ($%d)", orgs);
		appendStringInfoChar(&qb->sql, ')');
		return;
	}
	appendStringInfo(&qb->sql,
					 " + (SELECT coalesce(sum(c.n), 0)::bigint FROM %s c"
					 " WHERE c.period_kind = '%c' AND c.period >= $%d AND c.period < $%d",
					 all_retailers ? "crux.order_counts_all" : "crux.order_counts",
					 kind, from, to);
	if (mask > 0)
		append_status_test(qb, req, "c.status_mask", mask);
	if (orgs > 0)
		appendStringInfo(&qb->sql, " AND c.retailer_uuid = ANY ($%d)", orgs);
	appendStringInfoChar(&qb->sql, ')');
}

/*
 * " + (the caller's orders of the whole days [$from, $to))", counted index-only:
 * from version 1.2 on, the counts per retailer keep months only. With a status
 * filter from crux.order_summaries' index (retailer_uuid, created_day, status_mask),
 * which row-level security's retailer test leads into; from 1.3 on it holds only
 * orders with line items (status_mask <> 0), which every status filter implies.
 * Without one from crux.orders' index (retailer_uuid, created_date, uuid), between
 * the days' UTC midnights.
 */
static void
append_summary_day_count(QueryBuilder *qb, const CruxRequest *req, int from, int to,
						 int mask, int orgs)
{
	if (mask > 0)
	{
		appendStringInfo(&qb->sql,
						 " + (SELECT count(*) FROM crux.order_summaries s"
						 " WHERE s.created_day >= $%d AND s.created_day < $%d"
						 " AND s.status_mask <> 0", from, to);
		append_status_test(qb, req, "s.status_mask", mask);
		if (orgs > 0)
			appendStringInfo(&qb->sql, " AND s.retailer_uuid = ANY ($%d)", orgs);
	}
	else
	{
		appendStringInfo(&qb->sql,
						 " + (SELECT count(*) FROM crux.orders o"
						 " WHERE o.created_date >= ($%d::timestamp AT TIME ZONE 'UTC')"
						 " AND o.created_date < ($%d::timestamp AT TIME ZONE 'UTC')", from, to);
		if (orgs > 0)
			appendStringInfo(&qb->sql, " AND o.retailer_uuid = ANY ($%d)", orgs);
	}
	appendStringInfoChar(&qb->sql, ')');
}

/*
 * The count from the buckets the triggers keep (crux.order_counts): whole months
 * and days summed from a few hundred bucket rows (from 1.2 on, a tenant's whole
 * days counted index-only from its order summaries), the partial days at the ends
 * of the range counted from crux.orders. Exact: the buckets change in the same
 * transactions as the orders, and this runs in the same snapshot as the page.
 */
static int64
count_orders_from_buckets(const CruxRequest *req, const CountRanges *r)
{
	QueryBuilder qb = {0};
	bool		all_retailers = caller_sees_all_orders() && req->n_org_uuids == 0;
	int			month_from,
				month_to,
				day_from,
				day_to,
				mask = 0,
				orgs = 0;
	bool		isnull;
	Datum		count;
	uint32		shape;

	initStringInfo(&qb.sql);
	month_from = add_param(&qb, DATEOID, DateADTGetDatum(r->month_from), false);
	month_to = add_param(&qb, DATEOID, DateADTGetDatum(r->month_to), false);
	day_from = add_param(&qb, DATEOID, DateADTGetDatum(r->day_from), false);
	day_to = add_param(&qb, DATEOID, DateADTGetDatum(r->day_to), false);
	if (req->status_mask != 0)
		mask = add_param(&qb, INT2OID, Int16GetDatum(req->status_mask), false);
	if (req->n_org_uuids > 0)
		orgs = add_param(&qb, UUIDARRAYOID,
						 uuid_array_datum(req->org_uuids, req->n_org_uuids), false);

	appendStringInfoString(&qb.sql, "SELECT 0::bigint");
	append_bucket_sum(&qb, req, all_retailers, 'm', month_from, month_to, mask, orgs);
	if (all_retailers || req->layout < CRUX_LAYOUT_1_2)
	{
		append_bucket_sum(&qb, req, all_retailers, 'd', day_from, month_from, mask, orgs);
		append_bucket_sum(&qb, req, all_retailers, 'd', month_to, day_to, mask, orgs);
	}
	else
	{
		append_summary_day_count(&qb, req, day_from, month_from, mask, orgs);
		append_summary_day_count(&qb, req, month_to, day_to, mask, orgs);
	}

	appendStringInfoString(&qb.sql, " + (SELECT count(*)");
	append_from(&qb, req, false);
	appendStringInfoString(&qb.sql, " WHERE true");
	if (mask > 0)
		append_status_test(&qb, req, status_mask_expression(req, false), mask);
	if (orgs > 0)
		appendStringInfo(&qb.sql, " AND o.retailer_uuid = ANY ($%d)", orgs);
	appendStringInfo(&qb.sql,
					 " AND ((o.created_date >= $%d AND o.created_date < $%d)"
					 " OR (o.created_date >= $%d AND o.created_date < $%d)))",
					 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(r->start), false),
					 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(r->first_midnight), false),
					 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(r->last_midnight), false),
					 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(r->end), false));

	shape = query_shape(req, QUERY_COUNT_FROM_COUNTS) | (all_retailers ? 1 << 11 : 0);
	run_query(&qb, shape);

	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(count);
}

/*
 * The number of matching orders. With the count tables (version 1.1 on), from
 * the buckets unless the request searches a term, whose matches are few and are
 * counted directly.
 */
int64
crux_count_orders(const CruxRequest *req)
{
	CountRanges ranges;

	if (req->layout >= CRUX_LAYOUT_1_1 && req->term == NULL && split_date_range(req, &ranges))
		return count_orders_from_buckets(req, &ranges);
	return count_orders_directly(req);
}

/* " OFFSET $o LIMIT $c": count < 0 is no limit (LIMIT NULL). */
static void
append_offset_limit(QueryBuilder *qb, int64 offset, int64 count)
{
	appendStringInfo(&qb->sql, " OFFSET $%d",
					 add_param(qb, INT8OID, Int64GetDatum(offset), false));
	appendStringInfo(&qb->sql, " LIMIT $%d",
					 add_param(qb, INT8OID, Int64GetDatum(count), count < 0));
}

/* The sku_id sort walks its index only with enable_sort off (see above). */
static void
run_page_query(QueryBuilder *qb, const CruxRequest *req, uint32 shape)
{
	if (req->layout >= CRUX_LAYOUT_1_2 && req->sort_key == CRUX_SORT_SKU_ID)
		run_query_walking_index(qb, shape);
	else
		run_query(qb, shape);
}

/*
 * The page of an admin naming several organizations: each organization's first
 * offset + count orders, read by walking the index that leads with the retailer,
 * then merged by the same sort and cut to the page. Its cost grows with the
 * organizations named and the page, not with the orders of everyone else.
 */
static void
run_per_org_page_query(const CruxRequest *req, int64 offset, int64 count,
					   bool with_ctids)
{
	QueryBuilder qb = {0};
	uint32		shape = query_shape(req, QUERY_PAGE) | (with_ctids ? 1 << 14 : 0);
	bool		sorts_by_sku = req->sort_key == CRUX_SORT_SKU_ID;

	initStringInfo(&qb.sql);
	appendStringInfo(&qb.sql,
					 "SELECT p.uuid%s FROM unnest($%d::uuid[]) AS r(retailer_uuid)"
					 " CROSS JOIN LATERAL (SELECT o.uuid, o.ctid, %s AS sort_key",
					 with_ctids ? ", p.ctid" : "",
					 add_param(&qb, UUIDARRAYOID,
							   uuid_array_datum(req->org_uuids, req->n_org_uuids), false),
					 sort_expression(req));
	append_filters(&qb, req, sorts_by_sku, true);
	append_order_by(&qb, req, sort_expression(req), "o.uuid");
	appendStringInfo(&qb.sql, " LIMIT $%d) p",
					 add_param(&qb, INT8OID, Int64GetDatum(offset + count), count < 0));
	append_order_by(&qb, req, "p.sort_key", "p.uuid");
	append_offset_limit(&qb, offset, count);
	run_page_query(&qb, req, shape);
}

/*
 * Whether the status filter keeps few orders: "only", and "and" of two or more
 * statuses (each status keeps a tenth to a half of the orders with "or"). Walking
 * the orders in page order and probing each one's summary costs a probe for every
 * order walked, most of them for nothing; for a sparse filter the date sort reads
 * the summaries' own day index instead (run_sparse_status_date_query).
 */
static bool
status_filter_is_sparse(const CruxRequest *req)
{
	if (req->status_mask == 0 || req->layout < CRUX_LAYOUT_1_2)
		return false;
	if ((req->has_start_date && !IS_VALID_TIMESTAMP(req->start_date)) ||
		(req->has_end_date && !IS_VALID_TIMESTAMP(req->end_date)))
		return false;
	return req->conjunction == CRUX_CONJ_ONLY ||
		(req->conjunction == CRUX_CONJ_AND && (req->status_mask & (req->status_mask - 1)) != 0);
}

/*
 * The page of a sparse status filter, sorted by date: the summaries' index that
 * leads with the day (per retailer for a tenant and for one organization, over
 * all retailers for an admin) is walked in the sort's direction and its status
 * masks tested index-only; only the orders that match are read, for their exact
 * created_date, and sorted within their day (incremental sort), which gives the
 * date order since a day is the UTC day of created_date. Orders without line
 * items never match a status filter, as the index (status_mask <> 0) says.
 */
static void
run_sparse_status_date_query(const CruxRequest *req, int64 offset, int64 count)
{
	QueryBuilder qb = {0};
	const char *dir = req->sort_asc ? "ASC" : "DESC";

	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql,
						   "SELECT o.uuid FROM crux.order_summaries s"
						   " JOIN crux.orders o ON o.uuid = s.order_uuid"
						   " WHERE s.status_mask <> 0");
	append_status_test(&qb, req, "s.status_mask",
					   add_param(&qb, INT2OID, Int16GetDatum(req->status_mask), false));
	if (req->has_start_date)
		appendStringInfo(&qb.sql, " AND s.created_day >= $%d AND o.created_date >= $%d",
						 add_param(&qb, DATEOID, DateADTGetDatum(day_floor(req->start_date)), false),
						 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(req->start_date), false));
	if (req->has_end_date)
		appendStringInfo(&qb.sql, " AND s.created_day <= $%d AND o.created_date < $%d",
						 add_param(&qb, DATEOID, DateADTGetDatum(day_floor(req->end_date)), false),
						 add_param(&qb, TIMESTAMPTZOID, TimestampTzGetDatum(req->end_date), false));
	if (req->n_org_uuids == 1)
		appendStringInfo(&qb.sql, " AND s.retailer_uuid = $%d",
						 add_param(&qb, UUIDOID, UUIDPGetDatum(&req->org_uuids[0]), false));
	appendStringInfo(&qb.sql, " ORDER BY s.created_day %s, o.created_date %s, o.uuid %s",
					 dir, dir, dir);
	append_offset_limit(&qb, offset, count);
	run_query_walking_index(&qb, query_shape(req, QUERY_PAGE) | 1 << 17);
}

/*
 * Runs the sorted selection of order uuids from position offset on: count of them,
 * or all when count < 0 (LIMIT NULL). with_ctids: each with its row's ctid too.
 */
static void
run_order_uuid_query(const CruxRequest *req, int64 offset, int64 count, bool with_ctids)
{
	QueryBuilder qb = {0};
	uint32		shape = query_shape(req, QUERY_PAGE) | (with_ctids ? 1 << 14 : 0);

	if (req->n_org_uuids > 1 && req->term == NULL)
	{
		run_per_org_page_query(req, offset, count, with_ctids);
		return;
	}
	if (req->sort_key == CRUX_SORT_DATE && req->term == NULL && !with_ctids &&
		status_filter_is_sparse(req))
	{
		run_sparse_status_date_query(req, offset, count);
		return;
	}
	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql, with_ctids ? "SELECT o.uuid, o.ctid" : "SELECT o.uuid");
	append_filters(&qb, req, req->sort_key == CRUX_SORT_SKU_ID, false);
	append_order_by(&qb, req, sort_expression(req), "o.uuid");
	append_offset_limit(&qb, offset, count);
	run_page_query(&qb, req, shape);
}

/*
 * The selected order uuids, sorted, from position first (0 = the request's start)
 * on: count of them, or all up to the request's limit when count < 0. With
 * with_ctids, a second column holds each order's ctid (valid in this snapshot).
 */
SPITupleTable *
crux_order_uuid_range(const CruxRequest *req, int64 first, int64 count, bool with_ctids)
{
	int64		offset = req->start + first;

	if (req->has_limit)
	{
		int64		room = Max(req->limit - offset, 0);

		count = count < 0 ? room : Min(count, room);
	}
	run_order_uuid_query(req, offset, count, with_ctids);
	return SPI_tuptable;
}

/* How many orders an export of the request covers: from start to limit. */
int64
crux_count_export_orders(const CruxRequest *req)
{
	int64		total = crux_count_orders(req);
	int64		end = req->has_limit ? Min(req->limit, total) : total;

	return Max(end - req->start, 0);
}

/* The first column of the last result, order uuids, copied into the current context. */
static int
copy_page_uuids(Datum **uuids)
{
	int			n = (int) SPI_processed;

	*uuids = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
									  &isnull);
		pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

		memcpy(copy, DatumGetUUIDP(d), sizeof(pg_uuid_t));
		(*uuids)[i] = UUIDPGetDatum(copy);
	}
	return n;
}

/*
 * The page of a request with a term and the number of its matches, from one
 * query: the term's matches (one order for a uuid or a PO, up to thousands for a
 * popular SKU) are resolved once, counted by a window over them, sorted and cut
 * to the page. The matches are few enough to sort, so no index is walked for the
 * sku_id sort. False when the page is empty (start past the matches): nothing was
 * counted then.
 */
static bool
run_term_page_query(const CruxRequest *req, int64 *total)
{
	QueryBuilder qb = {0};
	bool		isnull;

	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql, "SELECT o.uuid, count(*) OVER ()");
	append_filters(&qb, req, req->sort_key == CRUX_SORT_SKU_ID, false);
	append_order_by(&qb, req, sort_expression(req), "o.uuid");
	append_offset_limit(&qb, req->start, req->limit - req->start);
	run_query(&qb, query_shape(req, QUERY_PAGE) | 1 << 16);
	if (SPI_processed == 0)
		return false;
	*total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 2, &isnull));
	return true;
}

/*
 * What crux_get_orders answers: the number of matching orders, and the uuids of
 * the page's orders in page order (*n_uuids of them, copied into the current
 * memory context).
 */
int64
crux_count_and_page(const CruxRequest *req, Datum **uuids, int *n_uuids)
{
	int64		total;

	*n_uuids = 0;
	if (req->term != NULL && req->limit > req->start)
	{
		if (run_term_page_query(req, &total))
		{
			*n_uuids = copy_page_uuids(uuids);
			return total;
		}
		return crux_count_orders(req);
	}
	total = crux_count_orders(req);
	if (req->limit > req->start && req->start < total)
	{
		run_order_uuid_query(req, req->start, req->limit - req->start, false);
		*n_uuids = copy_page_uuids(uuids);
	}
	return total;
}

/*
 * Everything the response shows of the given orders, in page order, then line
 * items in (position, uuid) order, then tracking numbers in (shipping_date,
 * tracking_number, uuid) order with missing dates last. The columns are those of
 * CruxDetailColumn.
 */
#define DETAILS_SQL(summary, summary_join) \
"SELECT p.n, o.uuid, o.status,"\
"       (" summary ".status_mask <> 0 AND " summary ".n_unallocated = 0),"\
"       o.purchase_order_id, o.created_date, o.notes,"\
"       o.estimated_shipping_cost, o.drop_ship_fee, o.order_fee,"\
"       r.name, o.retailer_uuid, u.name, u.email,"\
"       o.address_name, o.address_business_name, o.address_address1,"\
"       o.address_address2, o.address_city, o.address_state,"\
"       o.address_postal_code, o.address_phone_number,"\
"       o.shipping_carrier, o.shipping_method,"\
"       li.uuid, li.status::text, li.item_uuid, li.item_name, li.sku_uuid,"\
"       li.sku_id, li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,"\
"       li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,"\
"       li.quantity_rejected, li.backorder_date,"\
"       t.uuid, t.tracking_number, t.shipping_carrier, t.shipping_method,"\
"       t.shipping_weight, t.shipping_cost, t.shipping_date, t.quantity"\
"  FROM unnest($1::uuid[]) WITH ORDINALITY AS p(uuid, n)"\
"  JOIN crux.orders o ON o.uuid = p.uuid"\
summary_join \
"  LEFT JOIN crux.organizations r ON r.uuid = o.retailer_uuid"\
"  LEFT JOIN crux.users u ON u.uuid = o.user_uuid"\
"  LEFT JOIN crux.line_items li ON li.order_uuid = o.uuid"\
"  LEFT JOIN crux.tracking_numbers t ON t.line_item_uuid = li.uuid"\
" ORDER BY p.n, li.position, li.uuid,"\
"          t.shipping_date NULLS LAST, t.tracking_number COLLATE \"C\", t.uuid"

/* by layout: the summaries as columns of crux.orders, or their own table */
static const char *const details_sql[CRUX_LAYOUT_1_2 + 1] = {
	DETAILS_SQL("o", ""),
	DETAILS_SQL("o", ""),
	DETAILS_SQL("s", "  LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid")
};

SPITupleTable *
crux_fetch_order_details(CruxLayout layout, Datum *uuids, int n_uuids)
{
	Datum		arg;
	int			rc;

	if (details_plans[layout] == NULL)
	{
		Oid			argtype = UUIDARRAYOID;
		SPIPlanPtr	plan = SPI_prepare(details_sql[layout], 1, &argtype);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for the order details: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		details_plans[layout] = plan;
	}

	arg = PointerGetDatum(construct_array(uuids, n_uuids, UUIDOID, UUID_LEN, false,
										  TYPALIGN_CHAR));
	rc = SPI_execute_plan(details_plans[layout], &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}
