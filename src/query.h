/*
 * query.h
 *		What the query files share (query.c, totals.c, pages.c): a query under
 *		construction, its shape (the key of its kept plan), the filters' SQL, and
 *		running it through SPI.
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
	CRUX_FROM_SUMMARIES			/* the summaries s alone; o.uuid and o.created_date
								 * are their order's */
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

/* totals.c */
extern bool crux_skip_whole_buckets(const CruxRequest *req, CruxRequest *page);
extern bool crux_caller_sees_all_orders(void);

#endif							/* CRUX_QUERY_H */
