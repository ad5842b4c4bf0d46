/*
 * output.c
 *		JSON output: builds the crux_get_orders response as jsonb, natively with
 *		pushJsonbValue, from the rows of the order details (details.c).
 *
 * Formats (contract section 3): every key is always present and SQL NULL becomes
 * JSON null; timestamps are UTC with six fractional digits and a "Z"; dates are
 * YYYY-MM-DD; money and quantities are JSON numbers without trailing zeros.
 */
#include "postgres.h"

#include "crux_orders.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* One row of the order details (details.c), and where to push its values. */
typedef struct RowReader
{
	Datum	   *values;
	bool	   *nulls;
	JsonbParseState **state;
} RowReader;

void
crux_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

static void
push_value(JsonbParseState **state, JsonbValue *v)
{
	pushJsonbValue(state, WJB_VALUE, v);
}

/* "key": s, or "key": null when s is NULL */
void
crux_push_string_member(JsonbParseState **state, const char *key, const char *s)
{
	JsonbValue	v;

	crux_push_key(state, key);
	if (s == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) s;
		v.val.string.len = strlen(s);
	}
	push_value(state, &v);
}

/* Column col (from 1, as the DC_ numbers) of the row. */
static Datum
column(const RowReader *row, int col, bool *isnull)
{
	*isnull = row->nulls[col - 1];
	return row->values[col - 1];
}

/* A text value, read in place (the details rows outlive the order's conversion). */
static void
push_text(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);
	JsonbValue	v;

	crux_push_key(row->state, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		text	   *t = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));

		v.type = jbvString;
		v.val.string.val = VARDATA_ANY(t);
		v.val.string.len = VARSIZE_ANY_EXHDR(t);
	}
	push_value(row->state, &v);
}

static void
push_uuid(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	crux_push_string_member(row->state, key, isnull ? NULL : crux_uuid_text(DatumGetUUIDP(d)));
}

/* A numeric(12,2) as a JSON number without trailing zeros: 69.80 -> 69.8, 0.00 -> 0. */
static void
push_money(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);
	JsonbValue	v;

	crux_push_key(row->state, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall1(numeric_trim_scale, d));
	}
	push_value(row->state, &v);
}

static void
push_int4(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);
	JsonbValue	v;

	crux_push_key(row->state, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(DatumGetInt32(d));
	}
	push_value(row->state, &v);
}

/* as crux_format_timestamp: 2017-12-05T22:32:32.217413Z */
static void
push_timestamp(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	TimestampTz ts = DatumGetTimestampTz(column(row, col, &isnull));
	char		buf[CRUX_TIMESTAMP_LEN];

	if (!isnull)
		crux_format_timestamp(ts, buf);
	crux_push_string_member(row->state, key, isnull ? NULL : pstrdup(buf));
}

/* as crux_format_date: 2018-03-01 */
static void
push_date(const RowReader *row, const char *key, int col)
{
	bool		isnull;
	DateADT		date = DatumGetDateADT(column(row, col, &isnull));
	char		buf[CRUX_TIMESTAMP_LEN];

	if (!isnull)
		crux_format_date(date, buf);
	crux_push_string_member(row->state, key, isnull ? NULL : pstrdup(buf));
}

static void
begin_object(JsonbParseState **state, const char *key)
{
	if (key)
		crux_push_key(state, key);
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
}

static void
end_object(JsonbParseState **state)
{
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

static void
begin_array(JsonbParseState **state, const char *key)
{
	crux_push_key(state, key);
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
}

static void
end_array(JsonbParseState **state)
{
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * Keys are pushed in jsonb's order (shorter first, then bytewise), so that the
 * sort pushJsonbValue gives every object finds them sorted and stops at once.
 */

/* The order's keys that sort before "line_items", and the opening of its array. */
static void
begin_order(const RowReader *row)
{
	JsonbParseState **state = row->state;

	begin_object(state, NULL);
	begin_object(state, "fees");
	push_money(row, "order_fee", DC_ORDER_FEE);
	push_money(row, "drop_ship_fee", DC_DROP_SHIP_FEE);
	push_money(row, "estimated_shipping_cost", DC_ESTIMATED_SHIPPING_COST);
	end_object(state);
	push_uuid(row, "uuid", DC_ORDER_UUID);
	push_text(row, "notes", DC_NOTES);
	push_text(row, "status", DC_ORDER_STATUS);

	begin_object(state, "address");
	push_text(row, "city", DC_ADDRESS_CITY);
	push_text(row, "name", DC_ADDRESS_NAME);
	push_text(row, "state", DC_ADDRESS_STATE);
	push_text(row, "address1", DC_ADDRESS_ADDRESS1);
	push_text(row, "address2", DC_ADDRESS_ADDRESS2);
	push_text(row, "postal_code", DC_ADDRESS_POSTAL_CODE);
	push_text(row, "phone_number", DC_ADDRESS_PHONE_NUMBER);
	push_text(row, "business_name", DC_ADDRESS_BUSINESS_NAME);
	end_object(state);

	begin_object(state, "retailer");
	push_text(row, "name", DC_RETAILER_NAME);
	begin_object(state, "user");
	push_text(row, "name", DC_USER_NAME);
	push_text(row, "email", DC_USER_EMAIL);
	end_object(state);
	push_uuid(row, "uuid", DC_RETAILER_UUID);
	end_object(state);

	begin_array(state, "line_items");
}

/*
 * The order's keys that sort after "line_items" (row: the order's first row).
 * is_allocated (contract: at least one line item, none unallocated) comes from the
 * line items just pushed.
 */
static void
end_order(const RowReader *row, bool is_allocated)
{
	JsonbParseState **state = row->state;
	JsonbValue	v;

	push_timestamp(row, "created_date", DC_CREATED_DATE);
	crux_push_key(state, "is_allocated");
	v.type = jbvBool;
	v.val.boolean = is_allocated;
	push_value(state, &v);
	push_text(row, "purchase_order_id", DC_PURCHASE_ORDER_ID);

	begin_object(state, "requested_shipping");
	push_text(row, "shipping_method", DC_SHIPPING_METHOD);
	push_text(row, "shipping_carrier", DC_SHIPPING_CARRIER);
	end_object(state);
}

/* The line item's keys, up to and including the opening of "tracking_numbers". */
static void
begin_line_item(const RowReader *row)
{
	JsonbParseState **state = row->state;

	begin_object(state, NULL);
	push_money(row, "cost", DC_LI_COST);
	push_uuid(row, "uuid", DC_LI_UUID);
	push_text(row, "sku_id", DC_LI_SKU_ID);
	push_text(row, "status", DC_LI_STATUS);
	push_text(row, "sku_name", DC_LI_SKU_NAME);
	push_uuid(row, "sku_uuid", DC_LI_SKU_UUID);
	push_text(row, "item_name", DC_LI_ITEM_NAME);
	push_uuid(row, "item_uuid", DC_LI_ITEM_UUID);

	begin_object(state, "allocation");
	push_date(row, "backorder_date", DC_LI_BACKORDER_DATE);
	push_int4(row, "quantity_ordered", DC_LI_QUANTITY_ORDERED);
	push_int4(row, "quantity_rejected", DC_LI_QUANTITY_REJECTED);
	push_int4(row, "quantity_allocated", DC_LI_QUANTITY_ALLOCATED);
	push_int4(row, "quantity_backordered", DC_LI_QUANTITY_BACKORDERED);
	end_object(state);

	push_text(row, "supplier_name", DC_LI_SUPPLIER_NAME);
	push_uuid(row, "supplier_uuid", DC_LI_SUPPLIER_UUID);
	begin_array(state, "tracking_numbers");
}

static void
end_line_item(JsonbParseState **state)
{
	end_array(state);			/* tracking_numbers */
	end_object(state);
}

static void
push_tracking_number(const RowReader *row)
{
	JsonbParseState **state = row->state;

	begin_object(state, NULL);
	push_int4(row, "quantity", DC_TN_QUANTITY);
	push_money(row, "shipping_cost", DC_TN_SHIPPING_COST);
	push_timestamp(row, "shipping_date", DC_TN_SHIPPING_DATE);
	push_text(row, "shipping_method", DC_TN_SHIPPING_METHOD);
	push_text(row, "shipping_weight", DC_TN_SHIPPING_WEIGHT);
	push_text(row, "tracking_number", DC_TN_TRACKING_NUMBER);
	push_text(row, "shipping_carrier", DC_TN_SHIPPING_CARRIER);
	end_object(state);
}

static bool
column_is_null(const RowReader *row, int col)
{
	bool		isnull;

	(void) column(row, col, &isnull);
	return isnull;
}

/*
 * The response's binary form is assembled here, around orders converted to jsonb
 * one at a time: a whole page's tree of JsonbValues (about 10 kB an order) would
 * be built and freed on every call, and for pages of hundreds of orders the
 * memory allocator gives it back to the kernel each time, to be faulted in again
 * on the next call. The layout is jsonb's own (utils/jsonb.h): a container's
 * header, a JEntry per child (an object's keys, then its values), the children's
 * data, each container child aligned to 4 bytes, padding counted in its length.
 */
typedef struct ResponseBuilder
{
	StringInfoData buf;			/* the response, its orders appended as converted */
	int			n_orders;		/* how many the page has (the details' positions) */
	int			added;			/* how many are in buf */
	int			entries_at;		/* where the orders array's JEntries go in buf */
	int			data_at;		/* where the orders array's children begin */
	MemoryContext order_cxt;	/* one order's JsonbValues, reset after each */
} ResponseBuilder;

/* Zero bytes up to a multiple of 4. */
static void
pad_to_int(StringInfo buf)
{
	int			padding = INTALIGN(buf->len) - buf->len;

	for (int i = 0; i < padding; i++)
		appendStringInfoCharMacro(buf, '\0');
}

/* A child's JEntry: its end offset every JB_OFFSET_STRIDE children, else its length. */
static JEntry
child_entry(uint32 type, int index, int length, int end_offset)
{
	if (end_offset > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK),
				 errhint("Ask for a smaller page (\"limit\" - \"start\").")));
	if (index % JB_OFFSET_STRIDE == 0)
		return type | JENTRY_HAS_OFF | end_offset;
	return type | length;
}

static void
put_uint32(ResponseBuilder *rb, int at, uint32 value)
{
	memcpy(rb->buf.data + at, &value, sizeof(value));
}

/*
 * {"orders": [ (keys in jsonb's order: shorter first), up to the orders array's
 * children, which add_order appends; its header and JEntries are filled in as
 * they come. In result_cxt, sized for the usual order (about 2.5 kB).
 */
static void
begin_response(ResponseBuilder *rb, int n_orders, MemoryContext result_cxt)
{
	static const char keys[] = "orderstotal_results";

	rb->n_orders = n_orders;
	rb->added = 0;
	rb->buf.maxlen = 64 + 8 * n_orders + 3072 * n_orders;
	rb->buf.data = MemoryContextAlloc(result_cxt, rb->buf.maxlen);
	rb->buf.len = VARHDRSZ + sizeof(uint32) + 4 * sizeof(JEntry);
	rb->buf.cursor = 0;
	put_uint32(rb, VARHDRSZ, 2 | JB_FOBJECT);
	appendBinaryStringInfo(&rb->buf, keys, strlen(keys));
	pad_to_int(&rb->buf);
	rb->buf.len += sizeof(uint32);
	put_uint32(rb, rb->buf.len - sizeof(uint32), n_orders | JB_FARRAY);
	rb->entries_at = rb->buf.len;
	rb->buf.len += sizeof(JEntry) * n_orders;
	rb->data_at = rb->buf.len;
}

/* The finished order (the top of *state) converted, and appended to the array. */
static void
add_order(ResponseBuilder *rb, JsonbParseState **state)
{
	JsonbValue *order = pushJsonbValue(state, WJB_END_OBJECT, NULL);
	Jsonb	   *jsonb = JsonbValueToJsonb(order);
	int			start = rb->buf.len;

	if (rb->added >= rb->n_orders)
		elog(ERROR, "more orders in the details than on the page");
	pad_to_int(&rb->buf);
	appendBinaryStringInfo(&rb->buf, (char *) &jsonb->root, VARSIZE(jsonb) - VARHDRSZ);
	put_uint32(rb, rb->entries_at + sizeof(JEntry) * rb->added,
			   child_entry(JENTRY_ISCONTAINER, rb->added, rb->buf.len - start,
						   rb->buf.len - rb->data_at));
	rb->added++;
	MemoryContextReset(rb->order_cxt);
	*state = NULL;
}

/* "total_results" after the orders, and the object's JEntries. */
static Jsonb *
finish_response(ResponseBuilder *rb, int64 total_results)
{
	Numeric		total = int64_to_numeric(total_results);
	int			array_at = VARHDRSZ + sizeof(uint32) + 4 * sizeof(JEntry) + 19;
	int			total_at;
	int			entries_at = VARHDRSZ + sizeof(uint32);

	if (rb->added != rb->n_orders)
		elog(ERROR, "fewer orders in the details than on the page");
	total_at = rb->buf.len;
	pad_to_int(&rb->buf);
	appendBinaryStringInfo(&rb->buf, (char *) total, VARSIZE(total));

	put_uint32(rb, entries_at, child_entry(0, 0, 6, 6));	/* "orders" */
	put_uint32(rb, entries_at + 4, child_entry(0, 1, 13, 19));	/* "total_results" */
	put_uint32(rb, entries_at + 8, child_entry(JENTRY_ISCONTAINER, 2, total_at - array_at, 0));
	put_uint32(rb, entries_at + 12, child_entry(JENTRY_ISNUMERIC, 3, rb->buf.len - total_at, 0));
	SET_VARSIZE(rb->buf.data, rb->buf.len);
	return (Jsonb *) rb->buf.data;
}

/* Where the walk over the details rows is: the open order and line item. */
typedef struct DetailsWalk
{
	const CruxDetails *details;
	RowReader	row;			/* the row being read */
	int64		position;		/* the open order's page position, or -1 */
	uint64		order_row;		/* its first row */
	bool		in_line_item;
	pg_uuid_t	line_item;		/* the open line item */
	bool		has_line_items; /* of the open order */
	bool		any_unallocated;	/* of the open order */
} DetailsWalk;

static void
read_row(DetailsWalk *walk, uint64 i)
{
	crux_details_row(walk->details, i, &walk->row.values, &walk->row.nulls);
}

/* Closes the open order (its tail read from its first row) into the response. */
static void
close_order(ResponseBuilder *rb, DetailsWalk *walk, MemoryContext outer)
{
	if (walk->in_line_item)
		end_line_item(walk->row.state);
	end_array(walk->row.state); /* line_items */
	read_row(walk, walk->order_row);
	end_order(&walk->row, walk->has_line_items && !walk->any_unallocated);
	MemoryContextSwitchTo(outer);
	add_order(rb, walk->row.state);
	walk->position = -1;
}

/* Opens the order of row i (being read) in the order's own memory context. */
static void
open_order(ResponseBuilder *rb, DetailsWalk *walk, uint64 i, int64 position)
{
	MemoryContextSwitchTo(rb->order_cxt);
	begin_order(&walk->row);
	walk->position = position;
	walk->order_row = i;
	walk->in_line_item = false;
	walk->has_line_items = false;
	walk->any_unallocated = false;
}

/* The line item of the row being read, opened unless it is the open one. */
static void
visit_line_item(DetailsWalk *walk)
{
	bool		isnull;
	pg_uuid_t  *li = DatumGetUUIDP(column(&walk->row, DC_LI_UUID, &isnull));
	const char *unallocated = crux_status_labels[0];
	text	   *status;

	if (walk->in_line_item && memcmp(li, &walk->line_item, sizeof(pg_uuid_t)) == 0)
		return;
	if (walk->in_line_item)
		end_line_item(walk->row.state);
	begin_line_item(&walk->row);
	walk->line_item = *li;
	walk->in_line_item = true;
	walk->has_line_items = true;
	status = DatumGetTextPP(column(&walk->row, DC_LI_STATUS, &isnull));
	if (VARSIZE_ANY_EXHDR(status) == strlen(unallocated) &&
		memcmp(VARDATA_ANY(status), unallocated, strlen(unallocated)) == 0)
		walk->any_unallocated = true;
}

/*
 * {"total_results": N, "orders": [...]} for a page of n_orders orders, allocated
 * in result_cxt, from their details (NULL when there are none) in the response's
 * order: a new page position opens an order, a new line-item uuid opens a line
 * item.
 */
Jsonb *
crux_orders_response(int64 total_results, const CruxDetails *details, int n_orders,
					 MemoryContext result_cxt)
{
	ResponseBuilder rb;
	JsonbParseState *state = NULL;
	MemoryContext outer = CurrentMemoryContext;
	DetailsWalk walk = {0};

	walk.details = details;
	walk.row.state = &state;
	walk.position = -1;
	begin_response(&rb, n_orders, result_cxt);
	rb.order_cxt = AllocSetContextCreate(outer, "crux_orders order", ALLOCSET_DEFAULT_SIZES);

	for (uint64 i = 0; details != NULL && i < details->n_rows; i++)
	{
		bool		isnull;
		int64		position;

		CHECK_FOR_INTERRUPTS();
		read_row(&walk, i);
		position = DatumGetInt64(column(&walk.row, DC_PAGE_POSITION, &isnull));
		if (position != walk.position)
		{
			if (walk.position != -1)
			{
				close_order(&rb, &walk, outer);
				read_row(&walk, i);
			}
			open_order(&rb, &walk, i, position);
		}
		if (column_is_null(&walk.row, DC_LI_UUID))
			continue;			/* an order without line items */
		visit_line_item(&walk);
		if (!column_is_null(&walk.row, DC_TN_UUID))
			push_tracking_number(&walk.row);
	}
	if (walk.position != -1)
		close_order(&rb, &walk, outer);
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(rb.order_cxt);
	return finish_response(&rb, total_results);
}
