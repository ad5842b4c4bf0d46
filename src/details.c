/*
 * details.c
 *		The rows of a page's order details: everything the response shows of the
 *		given orders (their line items and tracking numbers joined in), read by one
 *		kept query and collected by a receiver of this file as column values, with
 *		no intermediate tuples; then put in the response's order here (page
 *		position, line item, tracking number) instead of by a sort in the query,
 *		which would copy every wide row once more. The join reads them nearly in
 *		that order already, which the sort notices.
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "executor/tuptable.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/timestamp.h"

/*
 * The columns are those of CruxDetailColumn; one row per tracking number, or per
 * line item without one, or per order without line items. The query runs as the
 * caller: row-level security applies to every table it reads.
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

	if (natts != DC_TN_QUANTITY)
		elog(ERROR, "the order details query returns %d columns, not %d", natts,
			 (int) DC_TN_QUANTITY);
	r->details->natts = natts;
	r->typlen = MemoryContextAlloc(r->cxt, sizeof(int16) * natts);
	r->typbyval = MemoryContextAlloc(r->cxt, sizeof(bool) * natts);
	for (int i = 0; i < natts; i++)
	{
		r->typlen[i] = TupleDescAttr(typeinfo, i)->attlen;
		r->typbyval[i] = TupleDescAttr(typeinfo, i)->attbyval;
	}
}

/* The bytes a by-reference value takes. */
static Size
value_size(Datum value, int16 typlen)
{
	if (typlen == -1)
		return VARSIZE_ANY(DatumGetPointer(value));
	if (typlen == -2)
		return strlen(DatumGetCString(value)) + 1;
	return typlen;
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
			bytes += MAXALIGN(value_size(slot->tts_values[i], r->typlen[i]));
	chunk = bytes > 0 ? MemoryContextAllocExtended(r->cxt, bytes, MCXT_ALLOC_HUGE) : NULL;
	for (int i = 0; i < natts; i++)
	{
		if (nulls[i] || r->typbyval[i])
			values[i] = slot->tts_values[i];
		else
		{
			Size		size = value_size(slot->tts_values[i], r->typlen[i]);

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

static int
compare_bytes(const void *a, int alen, const void *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

/*
 * Two rows' values of one sort column, ascending, missing values last. kind: 'i'
 * int8, '4' int4, 'u' uuid, 't' timestamptz, 'c' text in bytes (COLLATE "C").
 */
static int
compare_cells(const CruxDetails *d, uint64 a, uint64 b, int col, char kind)
{
	bool		anull,
				bnull;
	Datum		x = cell(d, a, col, &anull);
	Datum		y = cell(d, b, col, &bnull);

	if (anull || bnull)
		return (int) anull - (int) bnull;
	switch (kind)
	{
		case 'i':
			return (DatumGetInt64(x) > DatumGetInt64(y)) - (DatumGetInt64(x) < DatumGetInt64(y));
		case '4':
			return (DatumGetInt32(x) > DatumGetInt32(y)) - (DatumGetInt32(x) < DatumGetInt32(y));
		case 'u':
			return memcmp(DatumGetUUIDP(x), DatumGetUUIDP(y), UUID_LEN);
		case 't':
			return timestamp_cmp_internal(DatumGetTimestampTz(x), DatumGetTimestampTz(y));
		case 'c':
			{
				text	   *s = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(x));
				text	   *t = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(y));

				return compare_bytes(VARDATA_ANY(s), VARSIZE_ANY_EXHDR(s),
									 VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
	}
	elog(ERROR, "unknown sort column kind %c", kind);
	return 0;
}

/*
 * The response's order: page position, then line items by (position, uuid), then
 * tracking numbers by (shipping_date, tracking_number, uuid), missing dates last.
 */
static int
compare_rows(const void *a, const void *b, void *arg)
{
	static const struct
	{
		int			col;
		char		kind;
	}			keys[] = {
		{DC_PAGE_POSITION, 'i'}, {DC_LI_POSITION, '4'}, {DC_LI_UUID, 'u'},
		{DC_TN_SHIPPING_DATE, 't'}, {DC_TN_TRACKING_NUMBER, 'c'}, {DC_TN_UUID, 'u'},
	};
	const CruxDetails *d = arg;
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	for (size_t k = 0; k < lengthof(keys); k++)
	{
		int			c = compare_cells(d, x, y, keys[k].col, keys[k].kind);

		if (c != 0)
			return c;
	}
	return 0;
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
	int			rc;

	crux_kept_plan(&details_plan, details_sql, 1, &argtype, 0);
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = details_receive;
	r.pub.rStartup = details_startup;
	r.pub.rShutdown = details_shutdown;
	r.pub.rDestroy = details_destroy;
	r.pub.mydest = DestTuplestore;	/* a store of its own, not SPI's */
	r.details = d;
	r.cxt = CurrentMemoryContext;
	r.capacity = (uint64) n_uuids * 4;
	d->values = palloc_extended(sizeof(Datum) * DC_TN_QUANTITY * r.capacity, MCXT_ALLOC_HUGE);
	d->nulls = palloc_extended(sizeof(bool) * DC_TN_QUANTITY * r.capacity, MCXT_ALLOC_HUGE);

	options.params = makeParamList(1);
	options.params->params[0].value =
		PointerGetDatum(construct_array(uuids, n_uuids, UUIDOID, UUID_LEN, false,
										TYPALIGN_CHAR));
	options.params->params[0].isnull = false;
	options.params->params[0].pflags = PARAM_FLAG_CONST;
	options.params->params[0].ptype = UUIDARRAYOID;
	options.read_only = true;
	options.dest = &r.pub;
	rc = SPI_execute_plan_extended(details_plan, &options);
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
