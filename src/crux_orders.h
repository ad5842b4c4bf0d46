/*
 * crux_orders.h
 *		What the parts of crux_orders share: the parsed request, and the entry
 *		points of request parsing (request.c), query running (query.c), the
 *		order details (details.c) and jsonb output (output.c).
 */
#ifndef CRUX_ORDERS_H
#define CRUX_ORDERS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"
#include "executor/spi.h"
#include "utils/portal.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* The line-item statuses, in the order of enum crux.line_item_status. */
#define CRUX_N_STATUSES 7
extern const char *const crux_status_labels[CRUX_N_STATUSES];

typedef enum CruxConjunction
{
	CRUX_CONJ_OR,
	CRUX_CONJ_AND,
	CRUX_CONJ_ONLY
} CruxConjunction;

/*
 * Whether an order's status mask m matches a status filter (mask, conjunction):
 * mask 0 = no filter; or: some status of the mask; and: all of them; only:
 * exactly them.
 */
static inline bool
crux_mask_matches(int m, int mask, CruxConjunction conjunction)
{
	if (mask == 0)
		return true;
	if (conjunction == CRUX_CONJ_OR)
		return (m & mask) != 0;
	if (conjunction == CRUX_CONJ_AND)
		return (m & mask) == mask;
	return m == mask;
}

typedef enum CruxSortKey
{
	CRUX_SORT_DATE,
	CRUX_SORT_STATUS,
	CRUX_SORT_SKU_ID,
	CRUX_SORT_UUID
} CruxSortKey;

/* Who asks: a page of orders has a size cap, an export does not. */
typedef enum CruxRequestKind
{
	CRUX_REQUEST_PAGE,
	CRUX_REQUEST_EXPORT
} CruxRequestKind;

/* The version of the SQL objects this library serves (versions.c). */
#define CRUX_VERSION "1.19"

/* timeout.c: crux_orders.statement_timeout around one API call */
extern int	crux_statement_timeout;
extern Datum crux_call_with_timeout(Datum (*call) (void *arg), void *arg);
extern Datum crux_call_as_one_caller(Datum (*call) (void *arg), void *arg);

/* A request, checked completely: every field holds a valid value. */
typedef struct CruxRequest
{
	int64		start;			/* first position, 0-based */
	bool		has_limit;
	int64		limit;			/* end position, exclusive */

	CruxSortKey sort_key;
	bool		sort_asc;

	int			status_mask;	/* bit i: i-th status asked for; 0 = no filter */
	CruxConjunction conjunction;

	bool		has_start_date;
	TimestampTz start_date;		/* created_date >= start_date */
	bool		has_end_date;
	TimestampTz end_date;		/* created_date < end_date */

	char	   *term;			/* trimmed, NULL when absent or empty */
	bool		term_is_uuid;
	pg_uuid_t	term_uuid;
	bool		term_skus_kept; /* crux.sku_orders exists (1.12 on) */

	int			n_org_uuids;	/* 0 = no filter */
	pg_uuid_t  *org_uuids;

	int			n_fields;		/* exports: CSV columns named; 0 = all */
	const char **fields;
} CruxRequest;

/* The columns of an export row (type crux.export_row), in order. */
/*
 * export_columns.c: the export's columns, in CSV order. The orders' columns come
 * first (CRUX_N_ORDER_FIELDS of them, is_allocated computed among them), then
 * the line items', then the tracking numbers, last.
 */
#define CRUX_N_EXPORT_FIELDS 39
#define CRUX_N_ORDER_FIELDS 23
typedef enum CruxColumnSource
{
	CRUX_COLUMN_OF_ORDER,
	CRUX_COLUMN_COMPUTED,		/* is_allocated, from the order's line items */
	CRUX_COLUMN_OF_LINE_ITEM,
	CRUX_COLUMN_OF_TRACKING		/* the line item's tracking numbers, joined */
} CruxColumnSource;
typedef struct CruxExportColumn
{
	const char *name;
	CruxColumnSource source;
	const char *expression;		/* in the query of its source */
} CruxExportColumn;
extern const CruxExportColumn crux_export_columns[CRUX_N_EXPORT_FIELDS];

/*
 * The columns of the order-details query (details.c), one row per tracking number,
 * or per line item without one, or per order without line items; 1-based as SPI
 * numbers them.
 */
typedef enum CruxDetailColumn
{
	DC_PAGE_POSITION = 1,
	DC_ORDER_UUID,
	DC_ORDER_STATUS,
	DC_PURCHASE_ORDER_ID,
	DC_CREATED_DATE,
	DC_NOTES,
	DC_ESTIMATED_SHIPPING_COST,
	DC_DROP_SHIP_FEE,
	DC_ORDER_FEE,
	DC_RETAILER_NAME,
	DC_RETAILER_UUID,
	DC_USER_NAME,
	DC_USER_EMAIL,
	DC_ADDRESS_NAME,
	DC_ADDRESS_BUSINESS_NAME,
	DC_ADDRESS_ADDRESS1,
	DC_ADDRESS_ADDRESS2,
	DC_ADDRESS_CITY,
	DC_ADDRESS_STATE,
	DC_ADDRESS_POSTAL_CODE,
	DC_ADDRESS_PHONE_NUMBER,
	DC_SHIPPING_CARRIER,
	DC_SHIPPING_METHOD,
	DC_LI_UUID,
	DC_LI_POSITION,
	DC_LI_STATUS,
	DC_LI_ITEM_UUID,
	DC_LI_ITEM_NAME,
	DC_LI_SKU_UUID,
	DC_LI_SKU_ID,
	DC_LI_SKU_NAME,
	DC_LI_COST,
	DC_LI_SUPPLIER_UUID,
	DC_LI_SUPPLIER_NAME,
	DC_LI_QUANTITY_ORDERED,
	DC_LI_QUANTITY_ALLOCATED,
	DC_LI_QUANTITY_BACKORDERED,
	DC_LI_QUANTITY_REJECTED,
	DC_LI_BACKORDER_DATE,
	DC_TN_UUID,
	DC_TN_TRACKING_NUMBER,
	DC_TN_SHIPPING_CARRIER,
	DC_TN_SHIPPING_METHOD,
	DC_TN_SHIPPING_WEIGHT,
	DC_TN_SHIPPING_COST,
	DC_TN_SHIPPING_DATE,
	DC_TN_QUANTITY,
	DC_N_COLUMNS = DC_TN_QUANTITY
} CruxDetailColumn;

/* Settings (crux_orders.c) */
extern int	crux_max_page_size;

/* formats.c: false when the text is not of the form */
extern bool crux_parse_iso_timestamp(const char *s, TimestampTz *result);
extern bool crux_parse_uuid(const char *s, int len, pg_uuid_t *uuid);

/* formats.c: the API's forms, whatever the settings; return the length written */
#define CRUX_TIMESTAMP_LEN 64
extern int	crux_format_timestamp(TimestampTz ts, char *buf);
extern int	crux_format_date(DateADT date, char *buf);
#define CRUX_UUID_TEXT_LEN (2 * UUID_LEN + 4)
extern int	crux_format_uuid(const pg_uuid_t *uuid, char *buf);
extern char *crux_uuid_text(const pg_uuid_t *uuid);
extern int	crux_compare_uuids(const void *a, const void *b);

/* request.c */
extern void crux_parse_request(Jsonb *request, CruxRequestKind kind,
							   CruxRequest *req);

/* crux_orders.c: the answer to a parsed request (count, page, details) */
extern Jsonb *crux_answer_request(const CruxRequest *req);

/* query.c: run inside SPI_connect()/SPI_finish() */
extern SPIPlanPtr crux_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs,
								 Oid *argtypes, int cursor_options);
extern int64 crux_count_orders(const CruxRequest *req);
extern int64 crux_estimate_orders(const CruxRequest *req);
extern void crux_orders_of_each_org(const CruxRequest *req, int64 *orders);
extern int64 crux_count_and_page(const CruxRequest *req, Datum **uuids,
								 int *n_uuids);
extern Portal crux_open_order_uuid_cursor(const CruxRequest *req, int64 first, int64 count,
										  bool with_ctids);
extern int64 crux_count_export_orders(const CruxRequest *req);

/* skus.c: a crux table's oid; whether crux.sku_orders is kept, and holds a SKU's orders */
extern Oid	crux_table_oid(const char *name);
extern bool crux_sku_orders_kept(void);
extern bool crux_sku_is_tracked(const char *sku);

/*
 * pending_summaries.c: before a query that reads the summaries, writes those this
 * transaction holds; true when it pushed a snapshot that sees them (pop it after).
 * Whether the summaries carry their order's status (1.18 on).
 */
extern bool crux_see_held_summaries(void);
extern bool crux_summaries_hold_status(void);
extern void crux_select_with_kept_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
									   const char *what);

/* query.c: a setting for one query, restored afterwards (and on error) */
extern int	crux_set_for_a_query(const char *name, const char *value);
extern void crux_restore_settings(int nest_level);

/* tenancy.c: the organization the current role acts for (crux.acting_organization()) */
extern bool crux_acting_org(pg_uuid_t *org);

/*
 * index_count.c: the orders of given retailers in time ranges, counted from
 * crux.orders' index by retailer and date, or with a status filter from the
 * summaries' index by retailer and day (row-level security not applied)
 */
typedef struct CruxCountedRanges
{
	int			n_days;			/* whole days [day_from[i], day_to[i]) */
	DateADT		day_from[4];
	DateADT		day_to[4];
	int			n_instants;		/* parts of a day [from[i], to[i]) */
	TimestampTz from[4];
	TimestampTz to[4];
} CruxCountedRanges;
extern bool crux_can_count_from_index(bool with_status_filter);
extern int64 crux_count_from_index(const pg_uuid_t *retailers, int n_retailers,
								   int mask, CruxConjunction conjunction,
								   const CruxCountedRanges *ranges);

/* tenancy.c: the rows whose details are being read (crux.order_in_page, crux.line_item_in_page) */
typedef enum CruxPageKind
{
	CRUX_PAGE_ORDERS,
	CRUX_PAGE_LINE_ITEMS,
	CRUX_PAGE_N_KINDS
} CruxPageKind;
typedef struct CruxPageRows
{
	pg_uuid_t  *uuids;			/* sorted */
	int			n;
	Oid			role;			/* who reads them */
} CruxPageRows;
extern CruxPageRows crux_set_page_rows(CruxPageKind kind, const Datum *uuids, int n);
extern void crux_restore_page_rows(CruxPageKind kind, CruxPageRows before);

/* details.c: run inside SPI_connect()/SPI_finish(); rows of natts values each */
typedef struct CruxDetails
{
	int			natts;
	uint64		n_rows;
	Datum	   *values;			/* n_rows * natts, row after row, in fetch order */
	bool	   *nulls;
	uint64	   *order;			/* the rows' numbers in the response's order */
} CruxDetails;
extern CruxDetails *crux_fetch_order_details(Datum *uuids, int n_uuids);
extern void crux_details_row(const CruxDetails *details, uint64 i, Datum **values,
							 bool **nulls);

/* output.c */
extern void crux_push_key(JsonbParseState **state, const char *key);
extern void crux_push_string_member(JsonbParseState **state, const char *key,
									const char *s);
extern Jsonb *crux_orders_response(int64 total_results, const CruxDetails *details,
								   int n_orders, MemoryContext result_cxt);

/* tracking.c: an export's tracking numbers, one line item at a time */
typedef struct CruxTrackingKey
{
	bool		has_date;
	TimestampTz shipping_date;
	const char *number;			/* tracking_number's bytes */
	int			len;
	const pg_uuid_t *uuid;
} CruxTrackingKey;
extern int	crux_compare_tracking_keys(const CruxTrackingKey *x, const CruxTrackingKey *y);
typedef struct TrackingState CruxTracking;
extern CruxTracking *crux_tracking_begin(MemoryContext parent, int64 expected_calls);
extern text *crux_tracking_text(CruxTracking *tracking, Datum line_item);
extern void crux_tracking_prefetch(CruxTracking *tracking, const Datum *line_items, int n);

/* export.c: a slice bound argument (first, count), checked; if_null when NULL */
extern int64 crux_slice_bound(FunctionCallInfo fcinfo, int argno, const char *name,
							  int64 if_null);

#endif							/* CRUX_ORDERS_H */
