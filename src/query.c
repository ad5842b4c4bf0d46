/*
 * query.c
 *		Query building and running, shared by the counts (totals.c) and the pages
 *		(pages.c): SQL whose shape depends only on which filters are present and on
 *		the sort, run through SPI with the request's values as parameters, one
 *		prepared plan kept per shape for the life of the backend.
 *
 * All SQL here is schema-qualified and runs with search_path = pg_catalog, pg_temp
 * (set on the API functions), and as the caller, so row-level security applies.
 * The filters read the per-order summaries that the line-item triggers keep in
 * crux.order_summaries (status_mask, min_sku_id), so a status filter is one
 * integer test per order.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "query.h"
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
#include "utils/snapmgr.h"
#include "utils/timestamp.h"


typedef struct PlanCacheEntry
{
	uint32		shape;			/* hash key: see crux_query_shape() */
	SPIPlanPtr	plan;
} PlanCacheEntry;

static HTAB *plan_cache = NULL;

/* The bits of a shape that plan_options reads (crux_query_shape sets them). */
#define SHAPE_START_DATE (1 << 2)
#define SHAPE_END_DATE (1 << 3)
#define SHAPE_PAGE (1 << 6)
#define SHAPE_SORT_KEY_SHIFT 7		/* 2 bits: CruxSortKey */
#define SHAPE_COUNT_FROM_COUNTS (1 << 10)

/*
 * Everything that changes the SQL text, packed into one integer: which filters are
 * present, the conjunction, the sort and the kind of query. Values never do.
 */
uint32
crux_query_shape(const CruxRequest *req, QueryKind kind)
{
	uint32		shape = 0;

	if (req->status_mask != 0)
		shape |= 1 + (uint32) req->conjunction;	/* 1..3 */
	shape |= req->has_start_date ? SHAPE_START_DATE : 0;
	shape |= req->has_end_date ? SHAPE_END_DATE : 0;
	shape |= (req->term != NULL ? 1 : 0) << 4;
	shape |= (req->n_org_uuids > 0 ? 1 : 0) << 5;
	if (kind == QUERY_PAGE)
	{
		shape |= SHAPE_PAGE;
		shape |= (uint32) req->sort_key << SHAPE_SORT_KEY_SHIFT;	/* 2 bits */
		shape |= (req->sort_asc ? 1 : 0) << 9;
	}
	else if (req->term != NULL && req->sort_key == CRUX_SORT_SKU_ID)
	{
		/* its matches' smallest sku_id probed */
		shape |= (uint32) req->sort_key << SHAPE_SORT_KEY_SHIFT;
	}
	if (kind == QUERY_COUNT_FROM_COUNTS)
		shape |= SHAPE_COUNT_FROM_COUNTS;
	/* bit 11: all-retailer counts (count_orders_from_buckets) */
	/* bit 12: a later page's counts per bucket (crux_skip_whole_buckets; bit 9: ascending) */
	shape |= (req->term != NULL && req->term_skus_kept ? 1 : 0) << 13;
	/* bit 14: the selection with the orders' ctids (run_order_uuid_query) */
	shape |= (req->n_org_uuids > 1 ? 1 : 0) << 15;
	/* bit 16: the term's matches counted with their page (run_term_page_query) */
	/* bit 17: a sparse status filter's date page (pages.c's run_sparse_status_date_query,
	 * org_walks.c's crux_run_per_org_sparse_date_query) */
	/* bits 18-22: a page of several organizations, their number, or 30 or 31 for a
	 * list merged from cursors or walked in turn (org_walks.c's org_walks_shape) */
	/* bit 23: a small date range under another sort (run_small_date_range_query) */
	/* bit 24: a status filter's matches collected and sorted (run_collected_matches_query);
	 * bit 28: their status read from their summaries, not probed (pages.c) */
	/* bit 25: a status filter's range without a whole day (count_status_filter_without_whole_days) */
	/* bits 26-27: where a page reads its orders (CruxSource, pages.c's crux_page_source) */
	/* bit 29: a count per retailer whose days index_count.c counts (totals.c) */
	return shape;
}

/* Adds a parameter and returns its number, for "$n" in the text. */
int
crux_add_param(QueryBuilder *qb, Oid type, Datum value, bool isnull)
{
	if (qb->nparams >= MAX_QUERY_PARAMS)
		elog(ERROR, "too many query parameters");
	qb->types[qb->nparams] = type;
	qb->values[qb->nparams] = value;
	qb->nulls[qb->nparams] = isnull ? 'n' : ' ';
	return ++qb->nparams;
}

Datum
crux_uuid_array_datum(const pg_uuid_t *uuids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&uuids[i]);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false,
										   TYPALIGN_CHAR));
}

/* " AND <mask> matches parameter $p", for the conjunction. */
void
crux_append_status_test(QueryBuilder *qb, const CruxRequest *req, const char *mask, int p)
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
 * An order's status mask, for a status filter.
 * When the orders are walked in another order than the sku_id sort's,
 * a probe of the order's summary row by primary key: the planner cannot estimate
 * how many orders a mask test keeps, and given a join it may read all of a
 * retailer's summaries and sort, where walking the orders in page order and
 * stopping at the page's end costs a few probes per row of the page.
 */
const char *
crux_status_mask_expression(const CruxRequest *req, bool joined_summaries)
{
	if (joined_summaries)
		return "s.status_mask";
	return "(SELECT s.status_mask FROM crux.order_summaries s WHERE s.order_uuid = o.uuid)";
}

/*
 * " FROM crux.orders o", joined to the orders' summaries for the
 * sku_id sort, which walks their index on min_sku_id: every order has its summary
 * row, so the join keeps every order; or with each order's summary probed, for a
 * date range read through the orders' index and sorted (pages.c). Without a
 * filter on the orders' own columns the sku_id sort reads the summaries alone (a
 * date range tests the summary's created_date, its order's), and so do the uuid
 * and status sorts with a status filter (pages.c; from version 1.18 o.status is
 * the summary's copy of its order's) and a term's matches: the same orders (a
 * summary row is visible exactly when its order is), none of them read.
 */
void
crux_append_from(QueryBuilder *qb, CruxSource source)
{
	switch (source)
	{
		case CRUX_FROM_ORDERS:
			appendStringInfoString(&qb->sql, " FROM crux.orders o");
			break;
		case CRUX_FROM_ORDERS_AND_SUMMARIES:
			appendStringInfoString(&qb->sql, " FROM crux.orders o"
								   " JOIN crux.order_summaries s ON s.order_uuid = o.uuid");
			break;
		case CRUX_FROM_SUMMARIES:
			appendStringInfo(&qb->sql, " FROM crux.order_summaries s,"
							 " LATERAL (SELECT s.order_uuid AS uuid, s.created_date%s) o",
							 crux_summaries_hold_status() ? ", s.status" : "");
			break;
		case CRUX_FROM_ORDERS_PROBING_SUMMARIES:
			/* OFFSET 0: a probe per order, never a scan of the summaries to join */
			appendStringInfoString(&qb->sql, " FROM crux.orders o CROSS JOIN LATERAL"
								   " (SELECT s.status_mask, s.min_sku_id"
								   " FROM crux.order_summaries s"
								   " WHERE s.order_uuid = o.uuid OFFSET 0) s");
			break;
	}
}

/*
 * " AND <the order's retailer is one of org_uuids>". One organization is an
 * equality, so that the page walks the index that leads with the retailer in the
 * sort's order, as row-level security's retailer test does; a generic plan of
 * "= ANY" cannot, even for an array of one. The sku_id sort tests the summary's
 * retailer (the same as its order's), which leads its index. With
 * qb->org_as_list one organization is "= ANY" too (the uuid sort's walk of the
 * summaries, pages.c). org: the one organization of org_uuids to test (a branch
 * of crux_run_per_org_page_query), CRUX_LISTED_ORG (each of a list, lo.uuid)
 * or CRUX_ALL_ORGS.
 */
void
crux_append_org_test(QueryBuilder *qb, const CruxRequest *req, CruxSource source, int org)
{
	const char *retailer = qb->retailer != NULL ? qb->retailer :
		source == CRUX_FROM_ORDERS || source == CRUX_FROM_ORDERS_PROBING_SUMMARIES ?
		"o.retailer_uuid" : "s.retailer_uuid";

	if (req->n_org_uuids == 0)
		return;
	if (org == CRUX_LISTED_ORG)
		appendStringInfo(&qb->sql, " AND %s = lo.uuid", retailer);
	else if ((org != CRUX_ALL_ORGS || req->n_org_uuids == 1) && !qb->org_as_list)
		appendStringInfo(&qb->sql, " AND %s = $%d", retailer,
						 crux_add_param(qb, UUIDOID,
										UUIDPGetDatum(&req->org_uuids[org == CRUX_ALL_ORGS ? 0 : org]),
										false));
	else
		appendStringInfo(&qb->sql, " AND %s = ANY ($%d)", retailer,
						 crux_add_param(qb, UUIDARRAYOID,
										crux_uuid_array_datum(req->org_uuids, req->n_org_uuids),
										false));
}

/* Where the uuids of a term's matches (m, below) find the orders of its SKU. */
typedef enum TermSkuOrders
{
	TERM_SKU_FROM_LINE_ITEMS,	/* the line items' sku_id index (before 1.12) */
	TERM_SKU_UNTRACKED,			/* the same, unless crux.sku_orders holds the SKU */
	TERM_SKU_FROM_BOTH			/* crux.sku_orders, or the line items if untracked */
} TermSkuOrders;

/*
 * " FROM (<uuids>) m": the order of the term's purchase order, the term as a
 * uuid, and the orders of its SKU as sku says, each once (UNION). The line items'
 * arm of a tracked SKU is cut by a one-time test of a parameter, whether the SKU
 * is tracked (crux_sku_is_tracked).
 */
static void
append_term_uuids(QueryBuilder *qb, const CruxRequest *req, int t, int u, TermSkuOrders sku)
{
	appendStringInfo(&qb->sql,
					 " FROM (SELECT x.uuid FROM crux.orders x WHERE x.purchase_order_id = $%d"
					 " UNION SELECT $%d WHERE $%d IS NOT NULL"
					 " UNION SELECT li.order_uuid FROM crux.line_items li WHERE li.sku_id = $%d",
					 t, u, u, t);
	if (sku != TERM_SKU_FROM_LINE_ITEMS)
		appendStringInfo(&qb->sql, " AND NOT $%d",
						 crux_add_param(qb, BOOLOID,
										BoolGetDatum(crux_sku_is_tracked(req->term)), false));
	if (sku == TERM_SKU_FROM_BOTH)
		appendStringInfo(&qb->sql,
						 " UNION SELECT k.order_uuid FROM crux.sku_orders k WHERE k.sku_id = $%d",
						 t);
	appendStringInfoString(&qb->sql, ") m");
}

/*
 * " FROM <the term's matches> t ... o s" for a page or count from the summaries:
 * a tracked SKU's orders from crux.sku_orders, which row-level security and the
 * org_uuids test (on t.retailer_uuid) narrow by their index's second column,
 * with the retailer, date and status mask a page needs, none of them probed; then
 * the orders of the purchase order, the uuid and an untracked SKU (few), probed
 * in the summaries, unless crux.sku_orders holds them already. The sku_id sort
 * probes each match left after the filters for its summary's smallest sku_id.
 */
static void
append_sku_orders_matches(QueryBuilder *qb, const CruxRequest *req, int t, int u)
{
	appendStringInfo(&qb->sql,
					 " FROM (SELECT k.order_uuid, k.retailer_uuid, k.created_date, k.status_mask"
					 " FROM crux.sku_orders k WHERE k.sku_id = $%d"
					 " UNION ALL SELECT p.order_uuid, p.retailer_uuid, p.created_date, p.status_mask", t);
	append_term_uuids(qb, req, t, u, TERM_SKU_UNTRACKED);
	appendStringInfo(&qb->sql,
					 " CROSS JOIN LATERAL (SELECT p.order_uuid, p.retailer_uuid, p.created_date,"
					 " p.status_mask FROM crux.order_summaries p WHERE p.order_uuid = m.uuid OFFSET 0) p"
					 " WHERE NOT EXISTS (SELECT FROM crux.sku_orders k"
					 " WHERE k.order_uuid = p.order_uuid AND k.sku_id = $%d)) t"
					 " CROSS JOIN LATERAL (SELECT t.order_uuid AS uuid, t.created_date) o", t);
	if (req->sort_key == CRUX_SORT_SKU_ID)
		appendStringInfoString(&qb->sql,
							   " CROSS JOIN LATERAL (SELECT s.min_sku_id"
							   " FROM crux.order_summaries s WHERE s.order_uuid = t.order_uuid"
							   " OFFSET 0) s");
	qb->retailer = "t.retailer_uuid";
	qb->status_mask = "t.status_mask";
}

/*
 * " FROM <the term's matches> o": the orders whose uuid or purchase_order_id is
 * the term, or that have a line item with it as sku_id, each once, then looked
 * up by uuid (OFFSET 0 keeps the other filters out of that lookup), so that the
 * matches, few for a uuid or a purchase order, drive the query: given the date
 * range as a join partner, a generic plan would rather read the whole range and
 * hash the matches. A SKU's orders come from crux.sku_orders (kept by the
 * triggers for the SKUs crux.track_skus() found popular, one row per order and
 * SKU, led by the SKU and the retailer) or else from the line items' sku_id
 * index. From the summaries alone (CRUX_FROM_SUMMARIES): append_sku_orders_matches,
 * or before 1.12 one probe per match for its retailer, date, status mask and
 * smallest sku_id. From the orders, the columns the filters, sorts and exports
 * read are passed through.
 */
static void
append_term_matches_from(QueryBuilder *qb, const CruxRequest *req, CruxSource source)
{
	int			t = crux_add_param(qb, TEXTOID, CStringGetTextDatum(req->term), false);
	int			u = crux_add_param(qb, UUIDOID,
								   req->term_is_uuid ? UUIDPGetDatum(&req->term_uuid) : (Datum) 0,
								   !req->term_is_uuid);

	if (source == CRUX_FROM_SUMMARIES && req->term_skus_kept)
	{
		append_sku_orders_matches(qb, req, t, u);
		return;
	}
	append_term_uuids(qb, req, t, u, req->term_skus_kept ? TERM_SKU_FROM_BOTH :
					  TERM_SKU_FROM_LINE_ITEMS);
	if (source == CRUX_FROM_SUMMARIES)
		appendStringInfoString(&qb->sql,
							   " CROSS JOIN LATERAL (SELECT s.order_uuid, s.retailer_uuid,"
							   " s.created_date, s.status_mask, s.min_sku_id"
							   " FROM crux.order_summaries s WHERE s.order_uuid = m.uuid OFFSET 0) s"
							   " CROSS JOIN LATERAL (SELECT s.order_uuid AS uuid, s.created_date) o");
	else
	{
		appendStringInfoString(&qb->sql,
							   " CROSS JOIN LATERAL (SELECT o.uuid, o.created_date, o.status,"
							   " o.retailer_uuid, o.ctid FROM crux.orders o"
							   " WHERE o.uuid = m.uuid OFFSET 0) o");
		if (source == CRUX_FROM_ORDERS_AND_SUMMARIES)
			appendStringInfoString(&qb->sql,
								   " JOIN crux.order_summaries s ON s.order_uuid = o.uuid");
	}
}

/*
 * The FROM and WHERE clauses for the request's filters; org: as crux_append_org_test.
 */
void
crux_append_filters(QueryBuilder *qb, const CruxRequest *req, CruxSource source,
			   int org)
{
	if (req->term != NULL)
		append_term_matches_from(qb, req, source);
	else
		crux_append_from(qb, source);
	appendStringInfoString(&qb->sql, " WHERE true");

	if (req->status_mask != 0)
		crux_append_status_test(qb, req, qb->status_mask != NULL ? qb->status_mask :
								crux_status_mask_expression(req, source != CRUX_FROM_ORDERS),
						   crux_add_param(qb, INT2OID, Int16GetDatum(req->status_mask), false));
	if (req->has_start_date)
		appendStringInfo(&qb->sql, " AND o.created_date >= $%d",
						 crux_add_param(qb, TIMESTAMPTZOID,
								   TimestampTzGetDatum(req->start_date), false));
	if (req->has_end_date)
		appendStringInfo(&qb->sql, " AND o.created_date < $%d",
						 crux_add_param(qb, TIMESTAMPTZOID,
								   TimestampTzGetDatum(req->end_date), false));
	crux_append_org_test(qb, req, source, org);
}

/*
 * Each sort key's expression where the page queries read it, and its value as
 * text that compares bytewise as the sort compares (a missing value is NULL), for
 * merging the sorted parts of one selection (an admin's page or export across
 * shards); the uuid sort has none, its tie-break on the uuid being the whole sort.
 * Timestamps compare in UTC, for years 1000 to 9999.
 */
static const struct
{
	const char *sort;
	const char *text;
}			sort_expressions[] = {
	[CRUX_SORT_DATE] = {"o.created_date",
	"pg_catalog.to_char(o.created_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"},
	[CRUX_SORT_STATUS] = {"o.status COLLATE \"C\"", "o.status"},
	[CRUX_SORT_SKU_ID] = {"s.min_sku_id", "s.min_sku_id"},
	[CRUX_SORT_UUID] = {"o.uuid", "NULL::pg_catalog.text"},
};

const char *
crux_sort_expression(const CruxRequest *req)
{
	return sort_expressions[req->sort_key].sort;
}

const char *
crux_sort_text_expression(const CruxRequest *req)
{
	return sort_expressions[req->sort_key].text;
}

/*
 * Runs the query of the sort values (crux_sort_text_expression) of a list of
 * orders: keys is an array of the orders' ctids (by_ctid) or uuids, and each row
 * is an order's position in it (int4, from 1) and its sort value. False, with
 * nothing run, for the uuid sort: its tie-break on the uuid is the whole sort, so
 * it has no values. One plan per kind of key and sort key, kept once prepared.
 */
bool
crux_run_sort_values_query(const CruxRequest *req, bool by_ctid, Datum keys)
{
	static SPIPlanPtr plans[2][CRUX_SORT_UUID + 1];
	SPIPlanPtr *plan = &plans[by_ctid][req->sort_key];

	if (req->sort_key == CRUX_SORT_UUID)
		return false;
	if (*plan == NULL)
	{
		char		sql[512];
		Oid			type = by_ctid ? TIDARRAYOID : UUIDARRAYOID;

		snprintf(sql, sizeof(sql),
				 "SELECT p.n::pg_catalog.int4, %s"
				 "  FROM pg_catalog.unnest($1) WITH ORDINALITY p(k, n)"
				 "  JOIN crux.orders o ON %s OPERATOR(pg_catalog.=) p.k%s",
				 crux_sort_text_expression(req), by_ctid ? "o.ctid" : "o.uuid",
				 req->sort_key == CRUX_SORT_SKU_ID ?
				 "  LEFT JOIN crux.order_summaries s"
				 "    ON s.order_uuid OPERATOR(pg_catalog.=) o.uuid" : "");
		crux_kept_plan(plan, sql, 1, &type, CURSOR_OPT_GENERIC_PLAN);
	}
	crux_select_with_kept_plan(*plan, &keys, NULL, "the sort values of a list of orders");
	return true;
}

/*
 * Runs a kept plan's SELECT with its values (its rows in SPI_tuptable), seeing the
 * summaries this transaction holds, as every query of a page does; what: what it
 * reads, for the error should it fail.
 */
void
crux_select_with_kept_plan(SPIPlanPtr plan, Datum *values, const char *nulls, const char *what)
{
	bool		pushed = crux_see_held_summaries();

	if (SPI_execute_plan(plan, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", what);
	if (pushed)
		PopActiveSnapshot();
}

/*
 * " ORDER BY key, uuid": a missing value sorts as larger than any value; ties
 * break on the uuid in the same direction, so that pages never overlap or skip.
 * key and uuid name the sort value and the order's uuid where the query reads
 * them (the uuid sort has no other key).
 */
void
crux_append_order_by(QueryBuilder *qb, const CruxRequest *req, const char *key,
				const char *uuid)
{
	const char *dir = req->sort_asc ? "ASC NULLS LAST" : "DESC NULLS FIRST";

	if (req->sort_key == CRUX_SORT_UUID)
		appendStringInfo(&qb->sql, " ORDER BY %s %s", uuid, dir);
	else
		appendStringInfo(&qb->sql, " ORDER BY %s %s, %s %s", key, dir, uuid, dir);
}

/*
 * *plan, prepared from sql and kept for the backend's life the first time; with
 * cursor_options (CURSOR_OPT_GENERIC_PLAN: planned once, whatever the values).
 */
SPIPlanPtr
crux_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
			   int cursor_options)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = prepared;
	}
	return *plan;
}

/*
 * Whether a shape's kept plan is planned again for each call's values: a page with
 * a date range under another sort than the date, with or without a term. Its
 * generic plan guesses the range to hold a small fixed share of the rows; the plan
 * cache, after five custom plans, takes it whenever it is costed below them, as it
 * is for a wide range, and it then reads the whole range to sort it. The date sort
 * walks the range in its own order on either plan.
 */
static bool
plans_for_each_call(uint32 shape)
{
	return (shape & SHAPE_PAGE) != 0 && (shape & (SHAPE_START_DATE | SHAPE_END_DATE)) != 0 &&
		(shape >> SHAPE_SORT_KEY_SHIFT & 3) != CRUX_SORT_DATE;
}

/*
 * How a shape's kept plan is planned (SPI_prepare_cursor's options). A count from
 * the count tables is a fixed sum of index scans, each bounded by its buckets or
 * days, which serve it whatever the values: planned once (generic). Planned for its
 * values, its subqueries cost a custom plan (about 0.3 ms each, one to three per
 * call) whenever the plan cache costs the generic plan higher, as it does for date
 * ranges. A list's walk of one organization, opened per organization, walks its
 * index with enable_sort off and is planned once too, not once per organization.
 * Everything else is the plan cache's choice.
 */
static int
plan_options(uint32 shape)
{
	if ((shape >> ORGS_SHAPE_SHIFT & ORGS_SHAPE_MASK) == ORGS_MERGED_BY_CURSORS)
		return CURSOR_OPT_GENERIC_PLAN;
	if (plans_for_each_call(shape))
		return CURSOR_OPT_CUSTOM_PLAN;
	if ((shape & SHAPE_COUNT_FROM_COUNTS) != 0)
		return CURSOR_OPT_GENERIC_PLAN;
	return 0;
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
		SPIPlanPtr	plan = NULL;

		crux_kept_plan(&plan, qb->sql.data, qb->nparams, qb->types,
					   plan_options(shape));
		entry = hash_search(plan_cache, &shape, HASH_ENTER, &found);
		entry->plan = plan;
		return plan;
	}
}

/*
 * Runs the query, its rows in SPI_tuptable; or, when qb->cursor is set, opens it
 * as a read-only cursor there, to be fetched from in this transaction.
 */
void
crux_run_query(QueryBuilder *qb, uint32 shape)
{
	SPIPlanPtr	plan = plan_for_shape(shape, qb);
	bool		pushed = crux_see_held_summaries();
	int			rc;

	if (qb->cursor != NULL)
		*qb->cursor = SPI_cursor_open(NULL, plan, qb->values, qb->nulls, true);
	else
	{
		rc = SPI_execute_plan(plan, qb->values, qb->nulls, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	if (pushed)
		PopActiveSnapshot();
}

/*
 * Sets a setting for what runs until crux_restore_settings(the level returned);
 * on error, the transaction's abort restores it (as a function's SET clause is).
 */
int
crux_set_for_a_query(const char *name, const char *value)
{
	int			nest_level = NewGUCNestLevel();

	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

void
crux_restore_settings(int nest_level)
{
	AtEOXact_GUC(true, nest_level);
}

/* Runs the query with a planner setting for it alone (crux_set_for_a_query). */
static void
run_query_with_setting(QueryBuilder *qb, uint32 shape, const char *name, const char *value)
{
	int			nest_level = crux_set_for_a_query(name, value);

	crux_run_query(qb, shape);
	crux_restore_settings(nest_level);
}

/*
 * Runs a query with enable_sort off, so that its rows come in the order of an
 * index walk: the sku_id sort's, the uuid sort's over the summaries, the sort's
 * of a page's date range that its count chose to walk (pages.c), each
 * organization's of a page of several (org_walks.c; a list's cursors are opened
 * with the same setting, cursor_merge.c). Row-level security's retailer test is a
 * parameter the planner guesses at 1% of the rows; it then prefers reading all
 * of a retailer's order summaries and sorting them to walking the index and
 * stopping at the page's end.
 */
void
crux_run_query_walking_index(QueryBuilder *qb, uint32 shape)
{
	run_query_with_setting(qb, shape, "enable_sort", "off");
}
