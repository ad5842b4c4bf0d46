/*
 * pages.c
 *		The page: the uuids of the orders at sorted positions [start, limit). Each
 *		query walks an index in the sort's order and stops at the page's end: the
 *		index that leads with the retailer for a tenant (row-level security's
 *		retailer test) and for one organization of org_uuids; one such walk per
 *		organization for several, merged in order (org_walks.c); the summaries'
 *		day index for a sparse status filter sorted by date. A term's matches,
 *		few, are resolved once, counted and sorted.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "query.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/* " OFFSET $o LIMIT $c": count < 0 is no limit (LIMIT NULL). */
void
crux_append_offset_limit(QueryBuilder *qb, int64 offset, int64 count)
{
	appendStringInfo(&qb->sql, " OFFSET $%d",
					 crux_add_param(qb, INT8OID, Int64GetDatum(offset), false));
	appendStringInfo(&qb->sql, " LIMIT $%d",
					 crux_add_param(qb, INT8OID, Int64GetDatum(count), count < 0));
}

/* Whether the request has start_date or end_date. */
static bool
has_date_range(const CruxRequest *req)
{
	return req->has_start_date || req->has_end_date;
}

/*
 * How many columns the index crux.<name> includes beside its keys, or -1 when
 * this version has no such index. Looked up in the syscache on every call.
 */
static int
index_included_columns(const char *name)
{
	Oid			index = crux_table_oid(name);
	HeapTuple	tuple;
	int			included = -1;

	tuple = OidIsValid(index) ? SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index)) : NULL;
	if (HeapTupleIsValid(tuple))
	{
		included = ((Form_pg_index) GETSTRUCT(tuple))->indnatts -
			((Form_pg_index) GETSTRUCT(tuple))->indnkeyatts;
		ReleaseSysCache(tuple);
	}
	return included;
}

/*
 * Whether the uuid sort with a status filter walks the summaries instead of the
 * orders (version 1.16 on, which has their index by retailer and order): a tenant
 * and each organization of org_uuids walk that index, which holds each order's
 * status mask, and from version 1.19 its created_date, and test them index-only;
 * an admin without org_uuids walks their primary key and reads each mask (and
 * date) from the summary, where walking the orders probes each order's summary by
 * that key. Not with a date range before 1.19, nor with a term, which the
 * summaries' indexes do not hold, nor for an export (the orders' ctids).
 */
static bool
uuid_sort_walks_summaries(const CruxRequest *req, bool with_ctids)
{
	if (req->sort_key != CRUX_SORT_UUID || req->status_mask == 0 || req->term != NULL ||
		with_ctids)
		return false;
	return index_included_columns("order_summaries_retailer_order_uuid_idx") >=
		(has_date_range(req) ? 2 : 1);
}

/* A date range under another sort (reading_the_range_costs_less). */
static bool
sorts_a_date_range(const CruxRequest *req)
{
	return req->sort_key != CRUX_SORT_DATE && req->term == NULL && has_date_range(req);
}

/* Whether that walk leads with the retailer: a tenant's, or an organization's of org_uuids. */
static bool
summaries_walk_leads_with_retailer(const CruxRequest *req)
{
	return req->n_org_uuids > 0 || !crux_caller_sees_all_orders();
}

/*
 * Whether the status sort walks the summaries' indexes by status (version 1.18
 * on, whose summaries carry their order's status, and which has no such index of
 * the orders): by retailer, status and order for a tenant and each organization
 * of org_uuids, by status and order over all retailers, each holding the order's
 * status mask and created_date, so that a status filter and a date range are
 * tested index-only, no summary probed. Not for a term or an export (the orders'
 * ctids), which read the orders and sort them.
 */
static bool
status_sort_walks_summaries(const CruxRequest *req, bool with_ctids)
{
	return req->sort_key == CRUX_SORT_STATUS && req->term == NULL && !with_ctids &&
		OidIsValid(crux_table_oid("order_summaries_status_idx"));
}

/*
 * Where a page reads its orders: the sku_id sort walks the summaries' index, and
 * tests a date range on the summary's created_date (its order's; from version 1.17
 * the index holds it beside the status mask); it is joined to the orders only when
 * a term or an export (their ctids) needs their own columns. Joined for a date
 * range, the planner, which guesses a tenant's orders at a hundredth of all, may
 * rescan the range for every summary walked. The uuid sort with a status filter
 * and the status sort walk the summaries alone when uuid_sort_walks_summaries and
 * status_sort_walks_summaries say so. A term's matches are looked up in the
 * summaries alone unless the status sort or an export needs the orders.
 */
CruxSource
crux_page_source(const CruxRequest *req, bool with_ctids)
{
	if (req->term != NULL && !with_ctids && req->sort_key != CRUX_SORT_STATUS)
		return CRUX_FROM_SUMMARIES;
	if (uuid_sort_walks_summaries(req, with_ctids) ||
		status_sort_walks_summaries(req, with_ctids))
		return CRUX_FROM_SUMMARIES;
	if (req->sort_key != CRUX_SORT_SKU_ID)
		return CRUX_FROM_ORDERS;
	if (with_ctids || req->term != NULL)
		return CRUX_FROM_ORDERS_AND_SUMMARIES;
	return CRUX_FROM_SUMMARIES;
}

/*
 * " ORDER BY <the sort>" of a page. The uuid sort's walk of the summaries for the
 * one organization of org_uuids tests it as "= ANY" of one uuid and orders by
 * the retailer first: an equality would make the retailer a constant of the sort,
 * which the summaries' primary key then serves too, and a generic plan may walk it
 * and test every order's retailer; this order only the index by retailer and order
 * serves (with enable_sort off).
 */
static void
append_page_order_by(QueryBuilder *qb, const CruxRequest *req)
{
	const char *dir = req->sort_asc ? "ASC NULLS LAST" : "DESC NULLS FIRST";

	if (qb->org_as_list)
		appendStringInfo(&qb->sql, " ORDER BY s.retailer_uuid %s, o.uuid %s", dir, dir);
	else
		crux_append_order_by(qb, req, crux_sort_expression(req), "o.uuid");
}

/*
 * A page's query by its shape, which also holds where it reads its orders. The
 * summaries' indexes are walked only with enable_sort off
 * (crux_run_query_walking_index): the sku_id sort's, the uuid and status sorts'; so is the
 * sort's index of a page's date range, which crux_count_and_page chose to walk
 * (reading_the_range_costs_less). An export's selection (a cursor), read whole,
 * leaves that choice to the planner; such shapes are planned on every call, with
 * the setting of that call (query.c).
 */
static void
run_page_query(QueryBuilder *qb, const CruxRequest *req, bool with_ctids, uint32 shape)
{
	shape |= (uint32) crux_page_source(req, with_ctids) << 26;
	if (req->sort_key == CRUX_SORT_SKU_ID || uuid_sort_walks_summaries(req, with_ctids) ||
		status_sort_walks_summaries(req, with_ctids) ||
		(sorts_a_date_range(req) && qb->cursor == NULL))
		crux_run_query_walking_index(qb, shape);
	else
		crux_run_query(qb, shape);
}

/* Whether the request's date bounds, if any, are finite (the day indexes' days). */
static bool
date_range_is_finite(const CruxRequest *req)
{
	return !(req->has_start_date && !IS_VALID_TIMESTAMP(req->start_date)) &&
		!(req->has_end_date && !IS_VALID_TIMESTAMP(req->end_date));
}

static bool
day_index_can_serve(const CruxRequest *req)
{
	if (req->status_mask == 0)
		return false;
	if (req->sort_key != CRUX_SORT_DATE || req->term != NULL)
		return false;
	return date_range_is_finite(req);
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
	return day_index_can_serve(req) &&
		(req->conjunction == CRUX_CONJ_ONLY ||
		 (req->conjunction == CRUX_CONJ_AND && (req->status_mask & (req->status_mask - 1)) != 0));
}

/*
 * Whether walking the orders in date order to the page's end would probe many
 * summaries: the page's end divided by the share of orders the filter keeps, which
 * the filter's count (total) and the count without it give; the first comes from
 * the count tables, the second is estimated from their whole months
 * (crux_estimate_orders), at about the cost of a few probes. Past MANY_PROBES the
 * day index is read instead: its walk tests masks index-only, and reads or sorts
 * at most a day's matches beyond the page.
 */
#define MANY_PROBES 1000

static int64
count_without_status_filter(const CruxRequest *req)
{
	CruxRequest unfiltered = *req;

	unfiltered.status_mask = 0;
	return crux_estimate_orders(&unfiltered);
}

/*
 * The estimates that choose between a page's walks, each read from the count
 * tables once per request, when first needed (-1 until then): the request without
 * its status filter, every order of the caller (no filter, no dates), and those of
 * each organization of a list walked in turn.
 */
typedef struct WalkEstimates
{
	int64		unfiltered;
	int64		everything;
	int64	   *org_orders;		/* each listed organization's (orders_walked), or NULL */
	int			dated_indexes;	/* sort_indexes_hold_dates's answer, or -1 */
} WalkEstimates;

static int64
estimated_unfiltered(const CruxRequest *req, WalkEstimates *est)
{
	if (est->unfiltered < 0)
		est->unfiltered = count_without_status_filter(req);
	return est->unfiltered;
}

static int64
estimated_everything(const CruxRequest *req, WalkEstimates *est)
{
	if (est->everything < 0)
	{
		CruxRequest everything = *req;

		everything.has_start_date = everything.has_end_date = false;
		everything.status_mask = 0;
		est->everything = crux_estimate_orders(&everything);
	}
	return est->everything;
}

/*
 * How many orders the page's walks read when each would read per_walk of them (the
 * page's end over the share of orders that match): the one walk, merged or not; a
 * list's merged from cursors, up to twice the rows the page takes from each, and
 * each one's first row, which costs per_walk over the page's end
 * (crux_merge_org_walks); or, for a list walked in turn, each organization's, which
 * stops at the page's end or at the end of that organization's orders (from the
 * count tables, read once per request).
 */
static double
orders_walked(const CruxRequest *req, WalkEstimates *est, double per_walk)
{
	double		walked = 0;

	if (req->n_org_uuids <= MAX_MERGED_ORGS)
		return per_walk;
	if (crux_list_page_merges_cursors(req))
		return per_walk * (2 + (double) req->n_org_uuids / Max(req->limit, 1));
	if (est->org_orders == NULL)
	{
		est->org_orders = palloc(sizeof(int64) * req->n_org_uuids);
		crux_orders_of_each_org(req, est->org_orders);
	}
	for (int i = 0; i < req->n_org_uuids; i++)
		walked += Min((double) est->org_orders[i], per_walk);
	return walked;
}

static bool
walk_would_probe_many(const CruxRequest *req, int64 total, WalkEstimates *est)
{
	return orders_walked(req, est, (double) req->limit * estimated_unfiltered(req, est) /
						 Max(total, 1)) > MANY_PROBES;
}

/*
 * " AND <the summary's order is in the date range>": its day, which the day indexes
 * lead with, and its exact created_date (the summary's own).
 */
static void
append_summary_date_range(QueryBuilder *qb, const CruxRequest *req)
{
	if (req->has_start_date)
		appendStringInfo(&qb->sql, " AND s.created_day >= $%d AND s.created_date >= $%d",
						 crux_add_param(qb, DATEOID, DateADTGetDatum(crux_day_floor(req->start_date)), false),
						 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(req->start_date), false));
	if (req->has_end_date)
		appendStringInfo(&qb->sql, " AND s.created_day <= $%d AND s.created_date < $%d",
						 crux_add_param(qb, DATEOID, DateADTGetDatum(crux_day_floor(req->end_date)), false),
						 crux_add_param(qb, TIMESTAMPTZOID, TimestampTzGetDatum(req->end_date), false));
}

/*
 * A sparse status filter's orders (of org, or CRUX_ALL_ORGS) sorted by date: the
 * summaries' index that leads with the day (per retailer for a tenant and for an
 * organization, over all retailers for an admin) is walked in the sort's direction
 * and its status masks tested index-only; the matches are sorted within their day
 * by their exact created_date (incremental sort), which gives the date order since
 * a day is the UTC day of created_date. Orders without line items never match a
 * status filter, as the index (status_mask <> 0) says. The index includes
 * created_date, so the walk reads nothing else.
 */
void
crux_append_sparse_status_date_select(QueryBuilder *qb, const CruxRequest *req, int org)
{
	const char *dir = req->sort_asc ? "ASC" : "DESC";

	appendStringInfoString(&qb->sql,
						   "SELECT s.order_uuid AS uuid, s.created_day, s.created_date AS created_date"
						   " FROM crux.order_summaries s, LATERAL (SELECT s.order_uuid AS uuid,"
						   " s.created_date) o WHERE s.status_mask <> 0");
	crux_append_status_test(qb, req, "s.status_mask",
							crux_add_param(qb, INT2OID, Int16GetDatum(req->status_mask), false));
	append_summary_date_range(qb, req);
	crux_append_org_test(qb, req, CRUX_FROM_SUMMARIES, org);
	appendStringInfo(&qb->sql, " ORDER BY s.created_day %s, o.created_date %s, o.uuid %s",
					 dir, dir, dir);
}

/*
 * The page of a sparse status filter sorted by date: one walk of the day index,
 * or, for several organizations, one per organization, merged in the same order
 * (crux_run_per_org_sparse_date_query).
 */
static void
run_sparse_status_date_query(const CruxRequest *req, int64 offset, int64 count,
							 PageDest *dest)
{
	QueryBuilder qb = {.cursor = dest->cursor};

	if (req->n_org_uuids > 1)
	{
		crux_run_per_org_sparse_date_query(req, offset, count, dest);
		return;
	}
	initStringInfo(&qb.sql);
	crux_append_sparse_status_date_select(&qb, req, CRUX_ALL_ORGS);
	crux_append_offset_limit(&qb, offset, count);
	crux_run_query_walking_index(&qb, crux_query_shape(req, QUERY_PAGE) | 1 << 17);
}

/*
 * Runs the sorted selection of order uuids from position offset on: count of them,
 * or all when count < 0 (LIMIT NULL). with_ctids: each with its row's ctid too.
 * dest: where the uuids go (PageDest).
 */
static void
run_order_uuid_query(const CruxRequest *req, int64 offset, int64 count, bool with_ctids,
					 PageDest *dest)
{
	QueryBuilder qb = {.cursor = dest->cursor};
	uint32		shape = crux_query_shape(req, QUERY_PAGE) | (with_ctids ? 1 << 14 : 0);
	CruxSource	source = crux_page_source(req, with_ctids);

	if (!with_ctids && status_filter_is_sparse(req))
	{
		run_sparse_status_date_query(req, offset, count, dest);
		return;
	}
	if (req->n_org_uuids > 1 && req->term == NULL)
	{
		crux_run_per_org_page_query(req, offset, count, with_ctids, dest);
		return;
	}
	qb.org_as_list = req->n_org_uuids == 1 && uuid_sort_walks_summaries(req, with_ctids);
	initStringInfo(&qb.sql);
	appendStringInfoString(&qb.sql, with_ctids ? "SELECT o.uuid, o.ctid" : "SELECT o.uuid");
	crux_append_filters(&qb, req, source, CRUX_ALL_ORGS);
	append_page_order_by(&qb, req);
	crux_append_offset_limit(&qb, offset, count);
	run_page_query(&qb, req, with_ctids, shape);
}

/* The range's count, cut to the request's limit (count < 0: to the limit, if any). */
static int64
count_within_limit(const CruxRequest *req, int64 offset, int64 count)
{
	if (req->has_limit)
	{
		int64		room = Max(req->limit - offset, 0);

		count = count < 0 ? room : Min(count, room);
	}
	return count;
}

/*
 * The selected order uuids, sorted, from position first (0 = the request's start)
 * on: count of them, or all up to the request's limit when count < 0, as a
 * read-only cursor to fetch from in this transaction (an export reads its
 * selection a batch at a time). With with_ctids, a second column holds each
 * order's ctid (valid in this snapshot).
 */
Portal
crux_open_order_uuid_cursor(const CruxRequest *req, int64 first, int64 count, bool with_ctids)
{
	int64		offset = req->start + first;
	Portal		cursor = NULL;
	PageDest	dest = {.cursor = &cursor};

	run_order_uuid_query(req, offset, count_within_limit(req, offset, count), with_ctids,
						 &dest);
	if (cursor == NULL)
		elog(ERROR, "the export's selection was not opened as a cursor");
	return cursor;
}

/*
 * The page's order uuids, copied into the current context: those merged from
 * cursors, or the first column of the last result.
 */
static int
copy_page_uuids(const PageDest *dest, Datum **uuids)
{
	int			n = (int) SPI_processed;

	if (dest->merged)
	{
		*uuids = dest->uuids;
		return dest->n_uuids;
	}

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
	crux_append_filters(&qb, req, crux_page_source(req, false), CRUX_ALL_ORGS);
	crux_append_order_by(&qb, req, crux_sort_expression(req), "o.uuid");
	crux_append_offset_limit(&qb, req->start, req->limit - req->start);
	crux_run_query(&qb, crux_query_shape(req, QUERY_PAGE) | 1 << 16);
	if (SPI_processed == 0)
		return false;
	*total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 2, &isnull));
	return true;
}

/*
 * How many orders the walks of the sort's index read to the page's end when total
 * of them match: the page's end divided by the share of the caller's orders that
 * match, all of them, since a walk skips those outside a date range too
 * (estimated from the count tables' months: crux_estimate_orders), for each walk
 * (orders_walked).
 */
static double
orders_walked_to_page_end(const CruxRequest *req, int64 total, WalkEstimates *est)
{
	return orders_walked(req, est, (double) req->limit * (double) estimated_everything(req, est) /
						 Max(total, 1));
}

/*
 * Whether the sorts' indexes hold each order's created_date (version 1.17 on):
 * the orders' by retailer and uuid (and by status before 1.18), and the
 * summaries' by min_sku_id (and by status from 1.18), carry it, so that their
 * walk tests a date range index-only instead of reading each order (or summary)
 * it walks. Looked up once per request.
 */
static bool
sort_indexes_hold_dates(WalkEstimates *est)
{
	if (est->dated_indexes < 0)
		est->dated_indexes = index_included_columns("orders_retailer_uuid_idx") > 0;
	return est->dated_indexes > 0;
}

/*
 * What walking the sort's index to the page's end costs a date range, in probes
 * (an index probe, or a read of the row an index entry points to): each order
 * walked (orders_walked_to_page_end) is read for its date; where the index holds
 * the date (sort_indexes_hold_dates: all but the uuid sort's of an administrator
 * without org_uuids, the primary key), each is tested index-only at a twentieth of
 * a probe, and each one in the range (the page's end over the range's share that
 * matches) is probed for its status mask under a status filter, except by the
 * sku_id sort and a uuid or status sort that walks the summaries, whose indexes
 * hold the mask too.
 */
#define ENTRIES_PER_PROBE 20

static double
date_range_walk_cost(const CruxRequest *req, int64 total, WalkEstimates *est)
{
	double		walked = orders_walked_to_page_end(req, total, est);

	if (!sort_indexes_hold_dates(est) ||
		(req->sort_key == CRUX_SORT_UUID && !summaries_walk_leads_with_retailer(req)))
		return walked;			/* or the primary keys, which do not */
	walked /= ENTRIES_PER_PROBE;
	if (req->status_mask != 0 && req->sort_key != CRUX_SORT_SKU_ID &&
		!status_sort_walks_summaries(req, false) && !uuid_sort_walks_summaries(req, false))
		walked += orders_walked(req, est, (double) req->limit *
								(double) estimated_unfiltered(req, est) / Max(total, 1));
	return walked;
}

/*
 * A date range under another sort: either its orders are read through the date
 * index and sorted, or the sort's index is walked, skipping every order outside
 * the range or the status filter, to the page's end. The count decides (total,
 * counted first): the range is read when it costs less than the walk
 * (date_range_walk_cost; the range without the filter estimated from the count
 * tables' months), or, where the walk reads each order it skips (before version
 * 1.17), when it holds few orders; each of its orders costs a probe: the status
 * sort reads each one's status, the sku_id sort probes its summary. Without a
 * status filter the range is read index-only under the uuid sort: there an order
 * of the range counts as a tenth of a probe. The planner cannot choose: it
 * guesses a tenant's orders at a hundredth of all, and may read a wide range
 * whole to sort it. OFFSET 0 keeps the sort out of the
 * range's inner query, whose plan is then the range's; the walk runs with
 * enable_sort off.
 */
#define SMALL_RANGE 2000

static bool
reading_the_range_costs_less(const CruxRequest *req, int64 total, WalkEstimates *est)
{
	double		in_range,
				walked;

	in_range = req->status_mask == 0 ? (double) total :
		(double) estimated_unfiltered(req, est);
	if (in_range <= SMALL_RANGE && !sort_indexes_hold_dates(est))
		return true;
	walked = date_range_walk_cost(req, total, est);
	if (req->sort_key == CRUX_SORT_UUID && req->status_mask == 0)
		walked *= 10;
	return in_range <= walked;
}

/*
 * The range's orders, read through the orders' date index by retailer (org_uuids
 * tests the order's retailer: the orders lead), each one's summary probed for the
 * sku_id sort.
 */
static void
run_small_date_range_query(const CruxRequest *req, int64 offset, int64 count)
{
	QueryBuilder qb = {0};

	initStringInfo(&qb.sql);
	appendStringInfo(&qb.sql, "SELECT x.uuid FROM (SELECT o.uuid, %s AS sort_key",
					 crux_sort_expression(req));
	crux_append_filters(&qb, req, req->sort_key == CRUX_SORT_SKU_ID ?
						CRUX_FROM_ORDERS_PROBING_SUMMARIES : CRUX_FROM_ORDERS, CRUX_ALL_ORGS);
	appendStringInfoString(&qb.sql, " OFFSET 0) x");
	crux_append_order_by(&qb, req, "x.sort_key", "x.uuid");
	crux_append_offset_limit(&qb, offset, count);
	crux_run_query(&qb, crux_query_shape(req, QUERY_PAGE) | 1u << 23);
}

/*
 * A status filter under the status or uuid sort, or under the sku_id sort with a
 * date range, whose orders are walked in the sort's order to the page's end:
 * page_end / share of them, many for a sparse filter. Its matches can instead be
 * collected from the summaries (every entry of the caller's orders in the date
 * range, if any, tested index-only; the matches read for their status under the
 * status sort unless their summaries carry it (collected_matches_are_probed),
 * their summaries probed for their sku_id under the sku_id sort, while the uuid
 * sort's are the entries' order uuids) and sorted; chosen when that costs less,
 * an index entry, and a match not probed, counted at a twentieth of a probe. Both
 * counts come from the count tables (the one without the filter estimated:
 * crux_estimate_orders); with a date range, the walk also skips the caller's
 * orders outside it (date_range_walk_cost). The uuid and status sorts' walks of
 * the summaries' indexes (uuid_sort_walks_summaries, status_sort_walks_summaries)
 * test each entry index-only too, and so does the sku_id sort's walk of its
 * index, which without a date range is never collected (nor counted first);
 * counted first, an empty selection walks nothing.
 */
static bool
matches_can_be_collected(const CruxRequest *req)
{
	if (req->status_mask == 0 || req->term != NULL)
		return false;
	if (req->sort_key == CRUX_SORT_DATE)
		return false;
	/* the sku_id sort's walk tests masks index-only: collected only from a range */
	if (req->sort_key == CRUX_SORT_SKU_ID && !has_date_range(req))
		return false;
	return date_range_is_finite(req);
}

/*
 * Whether each collected match is probed for its sort key: the sku_id sort's
 * smallest sku_id, and the status sort's order status, except where the
 * summaries carry it (version 1.18 on) and no date range narrows the collection
 * to the day index, which does not hold it; the uuid sort's is the entry's own.
 */
static bool
collected_matches_are_probed(const CruxRequest *req)
{
	if (req->sort_key == CRUX_SORT_STATUS)
		return has_date_range(req) || !crux_summaries_hold_status();
	return req->sort_key != CRUX_SORT_UUID;
}

static bool
collecting_costs_less(const CruxRequest *req, int64 total, WalkEstimates *est)
{
	bool		dated = has_date_range(req);
	double		unfiltered = (double) estimated_unfiltered(req, est);
	double		walked = dated ? date_range_walk_cost(req, total, est) :
		orders_walked(req, est, (double) req->limit * unfiltered / Max(total, 1));

	if (!dated && ((uuid_sort_walks_summaries(req, false) && summaries_walk_leads_with_retailer(req)) ||
				   status_sort_walks_summaries(req, false)))
		walked /= ENTRIES_PER_PROBE;
	return (unfiltered + (collected_matches_are_probed(req) ? ENTRIES_PER_PROBE * total : total)) /
		ENTRIES_PER_PROBE < walked;
}

static void
run_collected_matches_query(const CruxRequest *req, int64 offset, int64 count)
{
	QueryBuilder qb = {0};

	initStringInfo(&qb.sql);
	appendStringInfo(&qb.sql, "SELECT x.uuid FROM (SELECT o.uuid, %s AS sort_key"
					 " FROM crux.order_summaries s",
					 req->sort_key == CRUX_SORT_SKU_ID ? "k.min_sku_id" : crux_sort_expression(req));
	if (req->sort_key == CRUX_SORT_STATUS && collected_matches_are_probed(req))
		appendStringInfoString(&qb.sql,
							   " CROSS JOIN LATERAL (SELECT o.uuid, o.status FROM crux.orders o"
							   " WHERE o.uuid = s.order_uuid OFFSET 0) o");
	else
		appendStringInfo(&qb.sql, ", LATERAL (SELECT s.order_uuid AS uuid%s) o",
						 req->sort_key == CRUX_SORT_STATUS ? ", s.status" : "");
	if (req->sort_key == CRUX_SORT_SKU_ID)
		appendStringInfoString(&qb.sql,
							   " CROSS JOIN LATERAL (SELECT k.min_sku_id FROM crux.order_summaries k"
							   " WHERE k.order_uuid = s.order_uuid OFFSET 0) k");
	appendStringInfoString(&qb.sql, " WHERE s.status_mask <> 0");
	crux_append_status_test(&qb, req, "s.status_mask",
							crux_add_param(&qb, INT2OID, Int16GetDatum(req->status_mask), false));
	append_summary_date_range(&qb, req);
	crux_append_org_test(&qb, req, CRUX_FROM_SUMMARIES, CRUX_ALL_ORGS);
	appendStringInfoString(&qb.sql, " OFFSET 0) x");
	crux_append_order_by(&qb, req, "x.sort_key", "x.uuid");
	crux_append_offset_limit(&qb, offset, count);
	crux_run_query(&qb, crux_query_shape(req, QUERY_PAGE) | 1u << 24 |
				   (collected_matches_are_probed(req) ? 0 : 1u << 28));
}

/*
 * Whether the status filter's count decides which index the page walks: the date
 * sort's day index (walk_would_probe_many) unless the conjunction already made it
 * sparse, or the other sorts' collected matches (collecting_costs_less).
 */
static bool
count_chooses_the_walk(const CruxRequest *req)
{
	return (day_index_can_serve(req) && !status_filter_is_sparse(req)) ||
		matches_can_be_collected(req);
}

/*
 * Whether a later page under the date sort starts its walk past the whole buckets
 * of the count tables before it (crux_skip_whole_buckets): from SKIP_FROM positions
 * on, for a status filter, whose walk to a deep page tests every order before it
 * (many for a sparse filter). The skip reads a row per bucket, and, when a bucket
 * can be skipped, the part of the range before the first one: at most a day (over
 * all retailers) or a month (per retailer) of the caller's summaries, index-only.
 */
#define SKIP_FROM 1000

static bool
walk_may_skip_buckets(const CruxRequest *req)
{
	return req->sort_key == CRUX_SORT_DATE && req->term == NULL && req->status_mask != 0 &&
		req->start >= SKIP_FROM;
}

/*
 * What crux_get_orders answers: the number of matching orders, and the uuids of
 * the page's orders in page order (*n_uuids of them, copied into the current
 * memory context). A first page is read before the count, which it makes
 * unnecessary when it is not full (a tiny retailer's orders, a narrow filter); a
 * later page after it, which says whether the page is past the end. A status
 * filter under the date sort that its conjunction does not make sparse, or under
 * another sort, is counted first too: the count says which index to
 * walk (walk_would_probe_many, collecting_costs_less). A deep page of a status
 * filter under the date sort is read from a date range cut past the buckets
 * before it (walk_may_skip_buckets). Every query runs in the same snapshot.
 */
int64
crux_count_and_page(const CruxRequest *req, Datum **uuids, int *n_uuids)
{
	int64		total;
	CruxRequest cut;
	const CruxRequest *page = req;
	WalkEstimates est = {-1, -1, NULL, -1};
	PageDest	dest = {0};

	*n_uuids = 0;
	if (req->term != NULL && req->limit > req->start)
	{
		if (run_term_page_query(req, &total))
		{
			*n_uuids = copy_page_uuids(&dest, uuids);
			return total;
		}
		/* an empty first page: nothing matches */
		return req->start == 0 ? 0 : crux_count_orders(req);
	}
	if (req->start == 0 && req->limit > 0 && !sorts_a_date_range(req) &&
		!count_chooses_the_walk(req))
	{
		/* a first page that is not full holds every match: nothing left to count */
		run_order_uuid_query(req, 0, req->limit, false, &dest);
		*n_uuids = copy_page_uuids(&dest, uuids);
		if (*n_uuids < req->limit)
			return *n_uuids;
		return crux_count_orders(req);
	}
	total = crux_count_orders(req);
	if (req->limit > req->start && req->start < total)
	{
		if (walk_may_skip_buckets(req) && crux_skip_whole_buckets(req, &cut))
			page = &cut;
		/* the walk is chosen by the whole request's share of matches */
		if (count_chooses_the_walk(req) && req->sort_key == CRUX_SORT_DATE &&
			walk_would_probe_many(req, total, &est))
			run_sparse_status_date_query(page, page->start, page->limit - page->start, &dest);
		else if (count_chooses_the_walk(req) && req->sort_key != CRUX_SORT_DATE &&
				 collecting_costs_less(req, total, &est))
			run_collected_matches_query(req, req->start, req->limit - req->start);
		else if (sorts_a_date_range(req) && reading_the_range_costs_less(req, total, &est))
			run_small_date_range_query(req, req->start, req->limit - req->start);
		else
			run_order_uuid_query(page, page->start, page->limit - page->start, false, &dest);
		*n_uuids = copy_page_uuids(&dest, uuids);
	}
	return total;
}
