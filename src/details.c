/*
 * details.c
 *		The rows of a page's order details: everything the response shows of the
 *		given orders (their line items and tracking numbers joined in), read by one
 *		kept query and collected by a receiver of this file as column values, with
 *		no intermediate tuples; then put in the response's order here (page
 *		position, line item, tracking number) instead of by a sort in the query,
 *		which would copy every wide row once more.
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
 * The columns are those of CruxDetailColumn; one row per tracking number, or per
 * line item without one, or per order without line items. The query runs as the
 * caller: row-level security applies to every table it reads, and it reads line
 * items only through their orders.
 */
static const char *const details_sql =
"SELECT p.n, o.uuid, o.status,"
"       o.purchase_order_id, o.created_date, o.notes,"
"       o.estimated_shipping_cost, o.drop_ship_fee, o.order_fee,"
"       r.name, o.retailer_uuid, u.name, u.email,"
"       o.address_name, o.address_business_name, o.address_address1,"
"       o.address_address2, o.address_city, o.address_state,"
"       o.address_postal_code, o.address_phone_number,"
"       o.shipping_carrier, o.shipping_method,"
"       li.uuid, li.position, li.status::pg_catalog.text, li.item_uuid, li.item_name,"
"       li.sku_uuid, li.sku_id, li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,"
"       li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,"
"       li.quantity_rejected, li.backorder_date,"
"       t.uuid, t.tracking_number, t.shipping_carrier, t.shipping_method,"
"       t.shipping_weight, t.shipping_cost, t.shipping_date, t.quantity"
"  FROM pg_catalog.unnest($1::pg_catalog.uuid[]) WITH ORDINALITY AS p(uuid, n)"
"  JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid"
"  LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid"
"  LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid"
"  LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid"
"  LEFT JOIN crux.tracking_numbers t ON t.line_item_uuid OPERATOR(pg_catalog.=) li.uuid";

static SPIPlanPtr details_plan = NULL;

/* Collects the query's rows into a CruxDetails, in the memory context current at its start. */
typedef struct DetailsReceiver
{
	DestReceiver pub;
	CruxDetails *details;
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

	if (natts != DC_N_COLUMNS)
		elog(ERROR, "the order details query returns %d columns, not %d", natts,
			 (int) DC_N_COLUMNS);
	r->details->natts = natts;
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
	CruxDetails *d = r->details;
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

/*
 * The details of the given orders (n_uuids > 0), in the current memory context,
 * their rows in the response's order (crux_details_row).
 */
CruxDetails *
crux_fetch_order_details(Datum *uuids, int n_uuids)
{
	Oid			argtype = UUIDARRAYOID;
	CruxDetails *d = palloc0(sizeof(CruxDetails));
	DetailsReceiver r;
	SPIExecuteOptions options = {0};
	volatile int rc = 0;
	CruxPageOrders before;
	int			nest_level;

	crux_kept_plan(&details_plan, details_sql, 1, &argtype, 0);
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = details_receive;
	r.pub.rStartup = details_startup;
	r.pub.rShutdown = details_shutdown;
	r.pub.rDestroy = details_destroy;
	r.pub.mydest = DestTuplestore;	/* a store of its own, not SPI's */
	r.details = d;
	r.cxt = CurrentMemoryContext;
	r.capacity = Max((uint64) n_uuids * 4, 16);
	d->values = palloc_extended(sizeof(Datum) * DC_N_COLUMNS * r.capacity, MCXT_ALLOC_HUGE);
	d->nulls = palloc_extended(sizeof(bool) * DC_N_COLUMNS * r.capacity, MCXT_ALLOC_HUGE);

	options.params = makeParamList(1);
	options.params->params[0].value =
		PointerGetDatum(construct_array(uuids, n_uuids, UUIDOID, UUID_LEN, false,
										TYPALIGN_CHAR));
	options.params->params[0].isnull = false;
	options.params->params[0].pflags = PARAM_FLAG_CONST;
	options.params->params[0].ptype = UUIDARRAYOID;
	options.read_only = true;
	options.dest = &r.pub;
	/*
	 * Always the generic plan, which probes each order by uuid: a custom plan
	 * knows the page's size but not the caller's retailer, and may hash all of a
	 * big retailer's orders instead. The line items' policy need not probe these
	 * orders again (tenancy.c).
	 */
	nest_level = crux_set_for_a_query("plan_cache_mode", "force_generic_plan");
	before = crux_set_page_orders(uuids, n_uuids);
	PG_TRY();
	{
		rc = SPI_execute_plan_extended(details_plan, &options);
	}
	PG_FINALLY();
	{
		crux_restore_page_orders(before);
	}
	PG_END_TRY();
	crux_restore_settings(nest_level);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));

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
