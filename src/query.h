/*
 * query.h
 *		What the query files share (query.c, totals.c, pages.c, org_walks.c,
 *		cursor_merge.c): a query under construction, its shape (the key of its
 *		kept plan), the filters' SQL, running it through SPI, and where a page's
 *		order uuids go.
 */
#ifndef CRUX_QUERY_H
#define CRUX_QUERY_H

#include "count_ranges.h"
#include "crux_orders.h"
#include "lib/stringinfo.h"
#include "utils/portal.h"
#include "utils/date.h"

#define MAX_QUERY_PARAMS 100

/* every organization of org_uuids (crux_append_filters) */
#define CRUX_ALL_ORGS (-1)
/* the organization of org_uuids that a walk per listed organization is at: lo.uuid */
#define CRUX_LISTED_ORG (-2)

/* What a query returns: the number of matching orders, or one page of uuids. */
typedef enum QueryKind
{
	QUERY_COUNT,
	QUERY_PAGE,
	QUERY_COUNT_FROM_COUNTS
} QueryKind;

/* Where a query reads its orders (crux_append_from). */
typedef enum CruxSource
{
	CRUX_FROM_ORDERS,			/* crux.orders o */
	CRUX_FROM_ORDERS_AND_SUMMARIES, /* joined to their summaries s (the sku_id sort) */
	CRUX_FROM_SUMMARIES,		/* the summaries s alone; o.uuid and o.created_date
								 * are their order's */
	CRUX_FROM_ORDERS_PROBING_SUMMARIES	/* each order's summary s probed by its uuid */
} CruxSource;

/* A query under construction: its text and its parameters. */
typedef struct QueryBuilder
{
	StringInfoData sql;
	int			nparams;
	Oid			types[MAX_QUERY_PARAMS];
	Datum		values[MAX_QUERY_PARAMS];
	char		nulls[MAX_QUERY_PARAMS];
	Portal	   *cursor;			/* set: the query is opened as a cursor here */
	const char *retailer;		/* set: where the FROM clause has the retailer */
	const char *status_mask;	/* set: where it has the order's status mask */
	bool		org_as_list;	/* the one organization of org_uuids tested as "= ANY" */
} QueryBuilder;

extern uint32 crux_query_shape(const CruxRequest *req, QueryKind kind);
extern int	crux_add_param(QueryBuilder *qb, Oid type, Datum value, bool isnull);
extern Datum crux_uuid_array_datum(const pg_uuid_t *uuids, int n);
extern void crux_append_status_test(QueryBuilder *qb, const CruxRequest *req,
									const char *mask, int p);
extern const char *crux_status_mask_expression(const CruxRequest *req,
											   bool joined_summaries);
extern void crux_append_from(QueryBuilder *qb, CruxSource source);
extern void crux_append_org_test(QueryBuilder *qb, const CruxRequest *req,
								 CruxSource source, int org);
extern void crux_append_filters(QueryBuilder *qb, const CruxRequest *req,
								CruxSource source, int org);
extern const char *crux_sort_expression(const CruxRequest *req);
extern const char *crux_sort_text_expression(const CruxRequest *req);
extern bool crux_run_sort_values_query(const CruxRequest *req, bool by_ctid, Datum keys);
extern void crux_append_order_by(QueryBuilder *qb, const CruxRequest *req,
								 const char *key, const char *uuid);
extern void crux_run_query(QueryBuilder *qb, uint32 shape);
extern void crux_run_query_walking_index(QueryBuilder *qb, uint32 shape);

/* the organizations of org_uuids read on one walk each, merged by one query */
#define MAX_MERGED_ORGS 16

/*
 * A page read on one walk per organization has their number in its shape, or
 * ORGS_MERGED_BY_CURSORS for a list's walk of one organization, opened per
 * organization, or ORGS_WALKED_IN_TURN for a list's walks run in turn over the
 * list in one query; each is planned once whatever the list's length (org_walks.c).
 */
#define ORGS_SHAPE_SHIFT 18
#define ORGS_SHAPE_MASK 31
#define ORGS_MERGED_BY_CURSORS 30
#define ORGS_WALKED_IN_TURN 31
StaticAssertDecl(MAX_MERGED_ORGS < ORGS_MERGED_BY_CURSORS,
				 "a merged page's number of organizations fits below the marks of a list");
StaticAssertDecl(ORGS_WALKED_IN_TURN <= ORGS_SHAPE_MASK,
				 "the organizations of a page take bits 18 to 22 of its shape");

/*
 * Where a page query puts its order uuids: a cursor opened at *cursor (an export's
 * selection); the uuids merged from a cursor per organization (a long list's page);
 * or else the rows of the query, in SPI_tuptable.
 */
typedef struct PageDest
{
	Portal	   *cursor;
	bool		merged;
	Datum	   *uuids;
	int			n_uuids;
} PageDest;

/* pages.c */
extern CruxSource crux_page_source(const CruxRequest *req, bool with_ctids);
extern void crux_append_sparse_status_date_select(QueryBuilder *qb, const CruxRequest *req,
												  int org);
extern void crux_append_offset_limit(QueryBuilder *qb, int64 offset, int64 count);

/* org_walks.c */
extern bool crux_list_page_merges_cursors(const CruxRequest *req);
extern void crux_run_per_org_page_query(const CruxRequest *req, int64 offset, int64 count,
										bool with_ctids, PageDest *dest);
extern void crux_run_per_org_sparse_date_query(const CruxRequest *req, int64 offset,
											   int64 count, PageDest *dest);

/* cursor_merge.c */
extern int	crux_merge_org_walks(const CruxRequest *req, QueryBuilder *qb, int org_param,
								 uint32 shape, int64 offset, int64 count, Datum **uuids);

/* totals.c */
extern bool crux_skip_whole_buckets(const CruxRequest *req, CruxRequest *page);
extern bool crux_caller_sees_all_orders(void);

#endif							/* CRUX_QUERY_H */
