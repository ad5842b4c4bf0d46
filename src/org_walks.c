/*
 * org_walks.c
 *		The pages of an administrator naming several organizations in org_uuids:
 *		each organization's walk of its own index in the page's order, cut at the
 *		page's end, and the walks merged: up to MAX_MERGED_ORGS as the branches
 *		of one query (a Merge Append), each read as far as the page needs; a
 *		longer list's as one kept plan opened as a cursor per organization and
 *		merged from the cursors, read as lazily (cursor_merge.c); past what
 *		work_mem holds of the cursors, and for an export, the list's walks run in
 *		turn in one query, each to the page's end, and the page sorted.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "miscadmin.h"
#include "query.h"

/*
 * A longer list's page merges a walk per organization, each a cursor of one kept
 * plan (crux_merge_org_walks), while their executors, at most about CURSOR_KB
 * each (43 to 76 kB measured once opened, by the walk's plan), fit in work_mem;
 * past that, or for an export, the list's walks run in turn in one query.
 */
#define CURSOR_KB 80

/* Whether a page of the request is merged from a cursor per organization. */
bool
crux_list_page_merges_cursors(const CruxRequest *req)
{
	return req->n_org_uuids > MAX_MERGED_ORGS &&
		(int64) req->n_org_uuids * CURSOR_KB <= (int64) work_mem;
}

static bool
merges_org_cursors(const CruxRequest *req, const PageDest *dest)
{
	return dest->cursor == NULL && crux_list_page_merges_cursors(req);
}

/* The organizations' bits of the page's shape: their number, or how a list is read. */
static uint32
org_walks_shape(const CruxRequest *req, const PageDest *dest)
{
	if (req->n_org_uuids <= MAX_MERGED_ORGS)
		return (uint32) req->n_org_uuids << ORGS_SHAPE_SHIFT;
	return (uint32) (merges_org_cursors(req, dest) ? ORGS_MERGED_BY_CURSORS :
					 ORGS_WALKED_IN_TURN) << ORGS_SHAPE_SHIFT;
}

/*
 * One organization's walk to the page's end ($end) in a page of several: the day
 * index's (crux_run_per_org_sparse_date_query), or else the page's index
 * (crux_run_per_org_page_query), reading its orders from source, with their ctids.
 */
typedef struct OrgWalk
{
	int			end;
	bool		sparse_status_date;
	bool		with_ctids;
	CruxSource	source;
} OrgWalk;

/* "(SELECT ... LIMIT $end)": the walk of org, ordered as the page and limited to its end. */
static void
append_org_walk(QueryBuilder *qb, const CruxRequest *req, const OrgWalk *walk, int org)
{
	appendStringInfoChar(&qb->sql, '(');
	if (walk->sparse_status_date)
		crux_append_sparse_status_date_select(qb, req, org);
	else
	{
		appendStringInfo(&qb->sql, "SELECT o.uuid%s, %s AS sort_key",
						 walk->with_ctids ? ", o.ctid" : "", crux_sort_expression(req));
		crux_append_filters(qb, req, walk->source, org);
		crux_append_order_by(qb, req, crux_sort_expression(req), "o.uuid");
	}
	appendStringInfo(&qb->sql, " LIMIT $%d)", walk->end);
}

/*
 * " FROM <each organization's walk> p": one branch per organization, merged in the
 * page's order (Merge Append), so that the branches together read about as many
 * orders as the page's end; or, past MAX_MERGED_ORGS, one walk run for each
 * organization of the list in turn (LATERAL over it), whose rows the page then
 * sorts: a plan of a branch per organization would grow with the list.
 */
static void
append_org_walks(QueryBuilder *qb, const CruxRequest *req, const OrgWalk *walk)
{
	if (req->n_org_uuids > MAX_MERGED_ORGS)
	{
		appendStringInfo(&qb->sql,
						 " FROM pg_catalog.unnest($%d::pg_catalog.uuid[]) lo(uuid) CROSS JOIN LATERAL ",
						 crux_add_param(qb, UUIDARRAYOID,
										crux_uuid_array_datum(req->org_uuids, req->n_org_uuids),
										false));
		append_org_walk(qb, req, walk, CRUX_LISTED_ORG);
	}
	else
	{
		appendStringInfoString(&qb->sql, " FROM (");
		for (int org = 0; org < req->n_org_uuids; org++)
		{
			if (org > 0)
				appendStringInfoString(&qb->sql, " UNION ALL ");
			append_org_walk(qb, req, walk, org);
		}
		appendStringInfoChar(&qb->sql, ')');
	}
	appendStringInfoString(&qb->sql, " p");
}

/*
 * A long list's page merged from each organization's walk (append_org_walk), one
 * kept plan whose parameter lo.uuid is the organization, opened as a cursor per
 * organization (crux_merge_org_walks). The query has no ORDER BY of its own: "lo"
 * is one row of a parameter, which the planner pulls up, so that the rows are the
 * walk's, in its order (its ORDER BY, cut by its LIMIT).
 */
static void
merge_org_cursors(const CruxRequest *req, int64 offset, int64 count, OrgWalk *walk,
				  uint32 shape, PageDest *dest)
{
	QueryBuilder qb = {0};
	int			org;

	initStringInfo(&qb.sql);
	walk->end = crux_add_param(&qb, INT8OID, Int64GetDatum(offset + count), false);
	org = crux_add_param(&qb, UUIDOID, UUIDPGetDatum(&req->org_uuids[0]), false);
	appendStringInfo(&qb.sql, "SELECT p.uuid, p.%s FROM (SELECT $%d::pg_catalog.uuid) lo(uuid)"
					 " CROSS JOIN LATERAL ",
					 walk->sparse_status_date ? "created_date" : "sort_key", org);
	append_org_walk(&qb, req, walk, CRUX_LISTED_ORG);
	appendStringInfoString(&qb.sql, " p");
	dest->n_uuids = crux_merge_org_walks(req, &qb, org, shape, offset, count, &dest->uuids);
	dest->merged = true;
}

/*
 * The page of an admin naming several organizations: each organization's walk of
 * the index that leads with the retailer, in the sort's order, merged from a
 * cursor each (merge_org_cursors) or in one query (append_org_walks), cut to the
 * page.
 */
void
crux_run_per_org_page_query(const CruxRequest *req, int64 offset, int64 count,
							bool with_ctids, PageDest *dest)
{
	QueryBuilder qb = {.cursor = dest->cursor};
	uint32		shape = crux_query_shape(req, QUERY_PAGE) | (with_ctids ? 1 << 14 : 0) |
		org_walks_shape(req, dest);
	OrgWalk		walk = {.with_ctids = with_ctids, .source = crux_page_source(req, with_ctids)};

	if (merges_org_cursors(req, dest))
	{
		merge_org_cursors(req, offset, count, &walk, shape | (uint32) walk.source << 26, dest);
		return;
	}
	initStringInfo(&qb.sql);
	/* each walk ordered and cut at the page's end, which the page's sort then cuts */
	walk.end = crux_add_param(&qb, INT8OID, Int64GetDatum(offset + count), count < 0);

	appendStringInfoString(&qb.sql, with_ctids ? "SELECT p.uuid, p.ctid" : "SELECT p.uuid");
	append_org_walks(&qb, req, &walk);
	crux_append_order_by(&qb, req, "p.sort_key", "p.uuid");
	crux_append_offset_limit(&qb, offset, count);
	/* the planner guesses each organization at a few rows, enough to sort them all */
	crux_run_query_walking_index(&qb, shape | (uint32) walk.source << 26);
}

/*
 * The page of a sparse status filter sorted by date for several organizations:
 * each one's walk of its day index (crux_append_sparse_status_date_select), in
 * the page's order, merged as crux_run_per_org_page_query merges them.
 */
void
crux_run_per_org_sparse_date_query(const CruxRequest *req, int64 offset, int64 count,
								   PageDest *dest)
{
	QueryBuilder qb = {.cursor = dest->cursor};
	const char *dir = req->sort_asc ? "ASC" : "DESC";
	uint32		shape = crux_query_shape(req, QUERY_PAGE) | 1 << 17 | org_walks_shape(req, dest);
	OrgWalk		walk = {.sparse_status_date = true};

	if (merges_org_cursors(req, dest))
	{
		merge_org_cursors(req, offset, count, &walk, shape, dest);
		return;
	}
	initStringInfo(&qb.sql);
	walk.end = crux_add_param(&qb, INT8OID, Int64GetDatum(offset + count), count < 0);
	appendStringInfoString(&qb.sql, "SELECT p.uuid");
	append_org_walks(&qb, req, &walk);
	appendStringInfo(&qb.sql, " ORDER BY p.created_day %s, p.created_date %s, p.uuid %s",
					 dir, dir, dir);
	crux_append_offset_limit(&qb, offset, count);
	crux_run_query_walking_index(&qb, shape);
}
