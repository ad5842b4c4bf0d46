/*
 * details.c
 *		The rows of a page's order details: everything the response shows of the
 *		given orders, read by three kept queries (the orders with their line
 *		items; the names of their retailers and users, once per page; the line
 *		items' tracking numbers) and collected by a receiver of this file as
 *		column values, with no intermediate tuples; then joined and put in the
 *		response's order here (page position, line item, tracking number) instead
 *		of by a sort in the query, which would copy every wide row once more.
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "executor/tuptable.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

/*
 * The columns are those of CruxDetailColumn up to the line items', then the
 * order's user; one row per line item, or per order without line items. The
 * retailer's name and the user's name and email come empty: names_sql reads them
 * once per page, not once per row. The queries run as the caller: row-level
 * security applies to every table they read; line items are read only through
 * their orders, and tracking numbers only by the uuids of line items the first
 * query has read.
 */
static const char *const details_sql =
"SELECT p.n, o.uuid, o.status,"
"       o.purchase_order_id, o.created_date, o.notes,"
"       o.estimated_shipping_cost, o.drop_ship_fee, o.order_fee,"
"       NULL::pg_catalog.text, o.retailer_uuid, NULL::pg_catalog.text, NULL::pg_catalog.text,"
"       o.address_name, o.address_business_name, o.address_address1,"
"       o.address_address2, o.address_city, o.address_state,"
"       o.address_postal_code, o.address_phone_number,"
"       o.shipping_carrier, o.shipping_method,"
"       li.uuid, li.position, li.status::pg_catalog.text, li.item_uuid, li.item_name,"
"       li.sku_uuid, li.sku_id, li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,"
"       li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,"
"       li.quantity_rejected, li.backorder_date, o.user_uuid"
"  FROM pg_catalog.unnest($1::pg_catalog.uuid[]) WITH ORDINALITY AS p(uuid, n)"
"  JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid"
"  LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid";

#define N_ORDER_COLUMNS DC_LI_BACKORDER_DATE
#define ORDER_USER_UUID (N_ORDER_COLUMNS + 1)
#define N_TRACKING_COLUMNS (DC_N_COLUMNS - N_ORDER_COLUMNS)

/*
 * The names of the page's retailers ($1) and users ($2), each once (a page's
 * orders share few of them), told apart by the first column (true: a user's).
 * Each is a probe of its primary key (LIMIT 1 of a LATERAL subquery, which the
 * planner cannot turn into a join): as = ANY, a small table was read whole,
 * every organization or every user of the tenant, whatever the page.
 */
static const char *const names_sql =
"SELECT false, r.uuid, r.name, NULL::pg_catalog.text"
"  FROM pg_catalog.unnest($1::pg_catalog.uuid[]) AS k(uuid),"
"       LATERAL (SELECT r.uuid, r.name FROM crux.organizations r"
"                 WHERE r.uuid OPERATOR(pg_catalog.=) k.uuid LIMIT 1) r"
" UNION ALL "
"SELECT true, u.uuid, u.name, u.email"
"  FROM pg_catalog.unnest($2::pg_catalog.uuid[]) AS k(uuid),"
"       LATERAL (SELECT u.uuid, u.name, u.email FROM crux.users u"
"                 WHERE u.uuid OPERATOR(pg_catalog.=) k.uuid LIMIT 1) u";

#define NAMES_IS_USER 1
#define NAMES_UUID 2
#define NAMES_NAME 3
#define NAMES_EMAIL 4
#define N_NAMES_COLUMNS 4

/* run_details_query's kind when it saves no rows for the policies' tests */
#define CRUX_PAGE_NONE CRUX_PAGE_N_KINDS

/*
 * The line item's uuid, then the columns of CruxDetailColumn from DC_TN_UUID on:
 * one probe of the line-item index per line item (a hash index from version
 * 1.13: most line items have no tracking number, which a hash probe finds in one
 * bucket page). $1 holds each line item once (distinct_uuids), also when the
 * page shows an order twice.
 */
static const char *const tracking_sql =
"SELECT t.line_item_uuid, t.uuid, t.tracking_number, t.shipping_carrier,"
"       t.shipping_method, t.shipping_weight, t.shipping_cost, t.shipping_date,"
"       t.quantity"
"  FROM pg_catalog.unnest($1::pg_catalog.uuid[]) AS l(uuid)"
"  JOIN crux.tracking_numbers t ON t.line_item_uuid OPERATOR(pg_catalog.=) l.uuid";

static SPIPlanPtr details_plan = NULL;
static SPIPlanPtr tracking_plan = NULL;
static SPIPlanPtr names_plan = NULL;

/* A query's rows as column values: natts per row, row after row, in fetch order. */
typedef struct CollectedRows
{
	int			natts;
	uint64		n_rows;
	Datum	   *values;
	bool	   *nulls;
} CollectedRows;

/* Collects the query's rows into a CollectedRows, in the memory context current at its start. */
typedef struct DetailsReceiver
{
	DestReceiver pub;
	CollectedRows *rows;
	MemoryContext cxt;
	uint64		capacity;		/* rows the arrays hold */
	int16	   *typlen;			/* per column */
	bool	   *typbyval;
} DetailsReceiver;

static void
details_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	DetailsReceiver *r = (DetailsReceiver *) self;
	int			natts = typeinfo->natts;

	if (natts != r->rows->natts)
		elog(ERROR, "an order details query returns %d columns, not %d", natts,
			 r->rows->natts);
	r->typlen = MemoryContextAlloc(r->cxt, sizeof(int16) * natts);
	r->typbyval = MemoryContextAlloc(r->cxt, sizeof(bool) * natts);
	for (int i = 0; i < natts; i++)
	{
		r->typlen[i] = TupleDescAttr(typeinfo, i)->attlen;
		r->typbyval[i] = TupleDescAttr(typeinfo, i)->attbyval;
	}
}

/* One row: its by-value columns as they are, the others copied into one chunk. */
static bool
details_receive(TupleTableSlot *slot, DestReceiver *self)
{
	DetailsReceiver *r = (DetailsReceiver *) self;
	CollectedRows *d = r->rows;
	int			natts = d->natts;
	Datum	   *values;
	bool	   *nulls;
	Size		bytes = 0;
	char	   *chunk;

	slot_getallattrs(slot);
	if (d->n_rows == r->capacity)
	{
		r->capacity *= 2;
		d->values = repalloc_huge(d->values, sizeof(Datum) * natts * r->capacity);
		d->nulls = repalloc_huge(d->nulls, sizeof(bool) * natts * r->capacity);
	}
	values = d->values + d->n_rows * natts;
	nulls = d->nulls + d->n_rows * natts;
	memcpy(nulls, slot->tts_isnull, sizeof(bool) * natts);
	for (int i = 0; i < natts; i++)
		if (!nulls[i] && !r->typbyval[i])
			bytes += MAXALIGN(datumGetSize(slot->tts_values[i], false, r->typlen[i]));
	chunk = bytes > 0 ? MemoryContextAllocExtended(r->cxt, bytes, MCXT_ALLOC_HUGE) : NULL;
	for (int i = 0; i < natts; i++)
	{
		if (nulls[i] || r->typbyval[i])
			values[i] = slot->tts_values[i];
		else
		{
			Size		size = datumGetSize(slot->tts_values[i], false, r->typlen[i]);

			memcpy(chunk, DatumGetPointer(slot->tts_values[i]), size);
			values[i] = PointerGetDatum(chunk);
			chunk += MAXALIGN(size);
		}
	}
	d->n_rows++;
	return true;
}

static void
details_shutdown(DestReceiver *self)
{
}

static void
details_destroy(DestReceiver *self)
{
}

/* Column col (from 1) of row i. */
static inline Datum
cell(const CruxDetails *d, uint64 row, int col, bool *isnull)
{
	*isnull = d->nulls[row * d->natts + col - 1];
	return d->values[row * d->natts + col - 1];
}

/* Two rows' values of an int8, int4 or uuid column, ascending, missing values last. */
static int
compare_cells(const CruxDetails *d, uint64 a, uint64 b, int col, Oid type)
{
	bool		anull,
				bnull;
	Datum		x = cell(d, a, col, &anull);
	Datum		y = cell(d, b, col, &bnull);

	if (anull || bnull)
		return (int) anull - (int) bnull;
	if (type == INT8OID)
		return (DatumGetInt64(x) > DatumGetInt64(y)) - (DatumGetInt64(x) < DatumGetInt64(y));
	if (type == INT4OID)
		return (DatumGetInt32(x) > DatumGetInt32(y)) - (DatumGetInt32(x) < DatumGetInt32(y));
	return memcmp(DatumGetUUIDP(x), DatumGetUUIDP(y), UUID_LEN);
}

/* A row's tracking number as a sort key, its text detoasted into *number. */
static void
tracking_key(const CruxDetails *d, uint64 row, CruxTrackingKey *key, text **number)
{
	bool		isnull;
	Datum		date = cell(d, row, DC_TN_SHIPPING_DATE, &isnull);

	key->has_date = !isnull;
	key->shipping_date = isnull ? 0 : DatumGetTimestampTz(date);
	*number = pg_detoast_datum_packed((struct varlena *)
									  DatumGetPointer(cell(d, row, DC_TN_TRACKING_NUMBER, &isnull)));
	key->number = VARDATA_ANY(*number);
	key->len = VARSIZE_ANY_EXHDR(*number);
	key->uuid = DatumGetUUIDP(cell(d, row, DC_TN_UUID, &isnull));
}

/* *number, unless it is the row's own value (detoasting copied it). */
static void
free_detoasted(const CruxDetails *d, uint64 row, text *number)
{
	bool		isnull;

	if ((Pointer) number != DatumGetPointer(cell(d, row, DC_TN_TRACKING_NUMBER, &isnull)))
		pfree(number);
}

/*
 * The response's order: page position, then line items by (position, uuid), then
 * tracking numbers as crux_compare_tracking_keys orders them. A line item without
 * tracking numbers has one row, and so has an order without line items.
 */
static int
compare_rows(const void *a, const void *b, void *arg)
{
	const CruxDetails *d = arg;
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;
	int			c;
	bool		xnull,
				ynull;
	CruxTrackingKey kx,
				ky;
	text	   *nx,
			   *ny;

	if ((c = compare_cells(d, x, y, DC_PAGE_POSITION, INT8OID)) != 0 ||
		(c = compare_cells(d, x, y, DC_LI_POSITION, INT4OID)) != 0 ||
		(c = compare_cells(d, x, y, DC_LI_UUID, UUIDOID)) != 0)
		return c;
	(void) cell(d, x, DC_TN_UUID, &xnull);
	(void) cell(d, y, DC_TN_UUID, &ynull);
	if (xnull || ynull)
		return (int) xnull - (int) ynull;	/* a line item's only row */
	tracking_key(d, x, &kx, &nx);
	tracking_key(d, y, &ky, &ny);
	c = crux_compare_tracking_keys(&kx, &ky);
	free_detoasted(d, x, nx);
	free_detoasted(d, y, ny);
	return c;
}

/* SPI_execute_plan_extended with uuids saved as kind (tenancy.c) while it runs. */
static int
execute_with_page_rows(SPIPlanPtr plan, const SPIExecuteOptions *options, CruxPageKind kind,
					   const Datum *uuids, int n)
{
	CruxPageRows before = crux_set_page_rows(kind, uuids, n);
	int			rc = 0;

	PG_TRY();
	{
		rc = SPI_execute_plan_extended(plan, options);
	}
	PG_FINALLY();
	{
		crux_restore_page_rows(kind, before);
	}
	PG_END_TRY();
	return rc;
}

/*
 * Runs a kept details query on an array of uuids (the page's orders, their line
 * items, or, split in two at split, its retailers and users) into rows of natts
 * columns, in the current memory context, with those uuids saved as kind
 * (tenancy.c; none for CRUX_PAGE_NONE) while it runs. split < 0: one array, $1;
 * else $1 the uuids before split, $2 the others. Always on its generic plan, which
 * probes each uuid by index; a custom plan knows the array's size but not the
 * caller's retailer, and may hash all of a big retailer's orders instead.
 */
static CollectedRows *
run_details_query(SPIPlanPtr *plan, const char *sql, CruxPageKind kind,
				  Datum *uuids, int n, int split, int natts)
{
	Oid			argtypes[2] = {UUIDARRAYOID, UUIDARRAYOID};
	int			nargs = split < 0 ? 1 : 2;
	CollectedRows *rows = palloc0(sizeof(CollectedRows));
	DetailsReceiver r;
	SPIExecuteOptions options = {0};
	int			rc;
	int			nest_level;

	crux_kept_plan(plan, sql, nargs, argtypes, 0);
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = details_receive;
	r.pub.rStartup = details_startup;
	r.pub.rShutdown = details_shutdown;
	r.pub.rDestroy = details_destroy;
	r.pub.mydest = DestTuplestore;	/* a store of its own, not SPI's */
	r.rows = rows;
	r.cxt = CurrentMemoryContext;
	r.capacity = Max((uint64) n * 2, 16);
	rows->natts = natts;
	rows->values = palloc_extended(sizeof(Datum) * natts * r.capacity, MCXT_ALLOC_HUGE);
	rows->nulls = palloc_extended(sizeof(bool) * natts * r.capacity, MCXT_ALLOC_HUGE);

	options.params = makeParamList(nargs);
	for (int i = 0; i < nargs; i++)
	{
		int			from = i == 0 ? 0 : split;
		int			to = nargs == 1 || i == 1 ? n : split;

		options.params->params[i].value =
			PointerGetDatum(construct_array(uuids + from, to - from, UUIDOID, UUID_LEN,
											false, TYPALIGN_CHAR));
		options.params->params[i].isnull = false;
		options.params->params[i].pflags = PARAM_FLAG_CONST;
		options.params->params[i].ptype = UUIDARRAYOID;
	}
	options.read_only = true;
	options.dest = &r.pub;
	nest_level = crux_set_for_a_query("plan_cache_mode", "force_generic_plan");
	rc = kind == CRUX_PAGE_NONE ? SPI_execute_plan_extended(*plan, &options) :
		execute_with_page_rows(*plan, &options, kind, uuids, n);
	crux_restore_settings(nest_level);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
	return rows;
}

/* The uuid in column col (from 1) of row i of rows, or NULL. */
static const pg_uuid_t *
collected_uuid(const CollectedRows *rows, uint64 i, int col)
{
	if (rows->nulls[i * rows->natts + col - 1])
		return NULL;
	return DatumGetUUIDP(rows->values[i * rows->natts + col - 1]);
}

static int
compare_tracking_by_line_item(const void *a, const void *b, void *arg)
{
	const CollectedRows *tracking = arg;

	return memcmp(collected_uuid(tracking, *(const uint64 *) a, 1),
				  collected_uuid(tracking, *(const uint64 *) b, 1), UUID_LEN);
}

static int
compare_uuid_datums(const void *a, const void *b)
{
	return memcmp(DatumGetUUIDP(*(const Datum *) a), DatumGetUUIDP(*(const Datum *) b),
				  UUID_LEN);
}

/* The uuids in column col of the orders' rows, each once, into uuids: how many. */
static int
distinct_uuids(const CollectedRows *orders, int col, Datum *uuids)
{
	int			all = 0,
				n = 0;

	for (uint64 i = 0; i < orders->n_rows; i++)
		if (collected_uuid(orders, i, col) != NULL)
			uuids[all++] = UUIDPGetDatum(collected_uuid(orders, i, col));
	qsort(uuids, all, sizeof(Datum), compare_uuid_datums);
	for (int i = 0; i < all; i++)
		if (n == 0 || compare_uuid_datums(&uuids[n - 1], &uuids[i]) != 0)
			uuids[n++] = uuids[i];
	return n;
}

/*
 * The retailers' uuids in the orders' rows, then their users' (from *split on),
 * each once (*n in all).
 */
static Datum *
name_uuids(const CollectedRows *orders, int *n, int *split)
{
	Datum	   *uuids = palloc_extended(sizeof(Datum) * Max(orders->n_rows * 2, 1),
										MCXT_ALLOC_HUGE);

	*split = distinct_uuids(orders, DC_RETAILER_UUID, uuids);
	*n = *split + distinct_uuids(orders, ORDER_USER_UUID, uuids + *split);
	return uuids;
}

/* Row row of names against the key (is_user, uuid): users after retailers, then by uuid. */
static int
compare_name_key(const CollectedRows *names, uint64 row, bool is_user, const pg_uuid_t *uuid)
{
	bool		row_is_user = DatumGetBool(names->values[row * names->natts + NAMES_IS_USER - 1]);

	if (row_is_user != is_user)
		return (int) row_is_user - (int) is_user;
	return memcmp(collected_uuid(names, row, NAMES_UUID), uuid, UUID_LEN);
}

/* The row of names for (is_user, uuid), or -1: binary search of the rows in sorted. */
static int64
names_row(const CollectedRows *names, const uint64 *sorted, bool is_user,
		  const pg_uuid_t *uuid)
{
	uint64		lo = 0,
				hi = names->n_rows;

	while (lo < hi)
	{
		uint64		mid = lo + (hi - lo) / 2;
		uint64		row = sorted[mid];
		int			c = compare_name_key(names, row, is_user, uuid);

		if (c == 0)
			return (int64) row;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int
compare_names_rows(const void *a, const void *b, void *arg)
{
	const CollectedRows *names = arg;
	uint64		y = *(const uint64 *) b;

	return compare_name_key(names, *(const uint64 *) a,
							DatumGetBool(names->values[y * names->natts + NAMES_IS_USER - 1]),
							collected_uuid(names, y, NAMES_UUID));
}

/* Sets column col of row i of rows to column from of row src of names (-1: NULL). */
static void
copy_name(CollectedRows *rows, uint64 i, int col, const CollectedRows *names, int64 src,
		  int from)
{
	bool		isnull = src < 0 || names->nulls[src * names->natts + from - 1];

	rows->nulls[i * rows->natts + col - 1] = isnull;
	rows->values[i * rows->natts + col - 1] =
		isnull ? (Datum) 0 : names->values[src * names->natts + from - 1];
}

/*
 * Fills the orders' rows' retailer names and user names and emails, read once
 * per page by names_sql (as the caller, as a join would: a name row-level
 * security hides stays NULL).
 */
static void
fill_names(CollectedRows *orders)
{
	int			n,
				split;
	Datum	   *uuids = name_uuids(orders, &n, &split);
	CollectedRows *names;
	uint64	   *sorted;

	if (n == 0)
	{
		pfree(uuids);
		return;
	}
	names = run_details_query(&names_plan, names_sql, CRUX_PAGE_NONE, uuids, n, split,
							  N_NAMES_COLUMNS);
	sorted = palloc(sizeof(uint64) * Max(names->n_rows, 1));
	for (uint64 i = 0; i < names->n_rows; i++)
		sorted[i] = i;
	qsort_arg(sorted, names->n_rows, sizeof(uint64), compare_names_rows, names);
	for (uint64 i = 0; i < orders->n_rows; i++)
	{
		const pg_uuid_t *retailer = collected_uuid(orders, i, DC_RETAILER_UUID);
		const pg_uuid_t *user = collected_uuid(orders, i, ORDER_USER_UUID);
		int64		r = retailer ? names_row(names, sorted, false, retailer) : -1;
		int64		u = user ? names_row(names, sorted, true, user) : -1;

		copy_name(orders, i, DC_RETAILER_NAME, names, r, NAMES_NAME);
		copy_name(orders, i, DC_USER_NAME, names, u, NAMES_NAME);
		copy_name(orders, i, DC_USER_EMAIL, names, u, NAMES_EMAIL);
	}
	/* the rows point into the names' values, not their arrays */
	pfree(names->values);
	pfree(names->nulls);
	pfree(sorted);
	pfree(uuids);
}

/* Appends to d the row of an order's row and a tracking number's (or none, -1). */
static void
append_joined_row(CruxDetails *d, const CollectedRows *orders, uint64 o,
				  const CollectedRows *tracking, int64 t)
{
	Datum	   *values = d->values + d->n_rows * DC_N_COLUMNS;
	bool	   *nulls = d->nulls + d->n_rows * DC_N_COLUMNS;

	memcpy(values, orders->values + o * orders->natts, sizeof(Datum) * N_ORDER_COLUMNS);
	memcpy(nulls, orders->nulls + o * orders->natts, sizeof(bool) * N_ORDER_COLUMNS);
	if (t < 0)
		memset(nulls + N_ORDER_COLUMNS, true, N_TRACKING_COLUMNS);
	else
	{
		/* the tracking row's columns after its line item's uuid */
		memcpy(values + N_ORDER_COLUMNS, tracking->values + t * tracking->natts + 1,
			   sizeof(Datum) * N_TRACKING_COLUMNS);
		memcpy(nulls + N_ORDER_COLUMNS, tracking->nulls + t * tracking->natts + 1,
			   sizeof(bool) * N_TRACKING_COLUMNS);
	}
	d->n_rows++;
}

/*
 * The tracking rows of line item li (NULL: none) in by_line_item, the tracking
 * rows' numbers sorted by line item: how many, from *first.
 */
static uint64
tracking_rows_of(const CollectedRows *tracking, const uint64 *by_line_item,
				 const pg_uuid_t *li, uint64 *first)
{
	uint64		lo = 0,
				hi = tracking->n_rows,
				end;

	while (li != NULL && lo < hi)	/* the first tracking row not before li */
	{
		uint64		mid = lo + (hi - lo) / 2;

		if (memcmp(collected_uuid(tracking, by_line_item[mid], 1), li, UUID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; li != NULL && end < tracking->n_rows &&
		 memcmp(collected_uuid(tracking, by_line_item[end], 1), li, UUID_LEN) == 0; end++)
		;
	*first = lo;
	return end - lo;
}

/*
 * The orders' rows joined to their tracking numbers (a left join on the line
 * item's uuid), into d: the tracking rows sorted by line item, each order row's
 * found by binary search, and counted before the rows are made (an order given
 * twice has its line items twice, each with all of its tracking numbers).
 */
static void
join_tracking_numbers(CruxDetails *d, const CollectedRows *orders,
					  const CollectedRows *tracking)
{
	uint64	   *by_line_item = palloc_extended(sizeof(uint64) * Max(tracking->n_rows, 1),
											   MCXT_ALLOC_HUGE);
	uint64	   *first = palloc_extended(sizeof(uint64) * Max(orders->n_rows, 1),
										MCXT_ALLOC_HUGE);
	uint64	   *count = palloc_extended(sizeof(uint64) * Max(orders->n_rows, 1),
										MCXT_ALLOC_HUGE);
	uint64		n_rows = 0;

	for (uint64 i = 0; i < tracking->n_rows; i++)
		by_line_item[i] = i;
	qsort_arg(by_line_item, tracking->n_rows, sizeof(uint64),
			  compare_tracking_by_line_item, (void *) tracking);
	for (uint64 o = 0; o < orders->n_rows; o++)
	{
		count[o] = tracking_rows_of(tracking, by_line_item,
									collected_uuid(orders, o, DC_LI_UUID), &first[o]);
		n_rows += Max(count[o], 1);
	}
	d->natts = DC_N_COLUMNS;
	d->values = palloc_extended(sizeof(Datum) * DC_N_COLUMNS * Max(n_rows, 1), MCXT_ALLOC_HUGE);
	d->nulls = palloc_extended(sizeof(bool) * DC_N_COLUMNS * Max(n_rows, 1), MCXT_ALLOC_HUGE);
	for (uint64 o = 0; o < orders->n_rows; o++)
	{
		if (count[o] == 0)
			append_joined_row(d, orders, o, NULL, -1);
		for (uint64 t = first[o]; t < first[o] + count[o]; t++)
			append_joined_row(d, orders, o, tracking, (int64) by_line_item[t]);
	}
	Assert(d->n_rows == n_rows);
	pfree(by_line_item);
	pfree(first);
	pfree(count);
}

/*
 * The details of the given orders (n_uuids > 0), in the current memory context,
 * their rows in the response's order (crux_details_row). The tracking numbers'
 * query gets only line items the orders' query has read, so that their policy
 * need not probe those line items again (tenancy.c).
 */
CruxDetails *
crux_fetch_order_details(Datum *uuids, int n_uuids)
{
	CruxDetails *d = palloc0(sizeof(CruxDetails));
	CollectedRows *orders;
	CollectedRows *tracking;
	Datum	   *line_items;
	int			n_line_items;

	orders = run_details_query(&details_plan, details_sql, CRUX_PAGE_ORDERS,
							   uuids, n_uuids, -1, N_ORDER_COLUMNS + 1);
	fill_names(orders);
	line_items = palloc_extended(sizeof(Datum) * Max(orders->n_rows, 1), MCXT_ALLOC_HUGE);
	n_line_items = distinct_uuids(orders, DC_LI_UUID, line_items);
	if (n_line_items > 0)
		tracking = run_details_query(&tracking_plan, tracking_sql, CRUX_PAGE_LINE_ITEMS,
									 line_items, n_line_items, -1, 1 + N_TRACKING_COLUMNS);
	else
		tracking = palloc0(sizeof(CollectedRows));
	join_tracking_numbers(d, orders, tracking);
	/* the joined rows point into the collected rows' values, not their arrays */
	pfree(orders->values);
	pfree(orders->nulls);
	if (tracking->values != NULL)	/* NULL when no line item was read */
	{
		pfree(tracking->values);
		pfree(tracking->nulls);
	}

	d->order = palloc_extended(sizeof(uint64) * Max(d->n_rows, 1), MCXT_ALLOC_HUGE);
	for (uint64 i = 0; i < d->n_rows; i++)
		d->order[i] = i;
	qsort_arg(d->order, d->n_rows, sizeof(uint64), compare_rows, d);
	return d;
}

/* The i-th row in the response's order: its column values (DC_ numbers - 1). */
void
crux_details_row(const CruxDetails *d, uint64 i, Datum **values, bool **nulls)
{
	uint64		row = d->order[i];

	*values = d->values + row * d->natts;
	*nulls = d->nulls + row * d->natts;
}
