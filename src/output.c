/*
 * output.c
 *		JSON output: the crux_get_orders response as jsonb, written in jsonb's
 *		binary form (utils/jsonb.h) straight from the rows of the order details
 *		(details.c), and the pushJsonbValue helpers of the smaller answers.
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

void
crux_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
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
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The response is written in jsonb's own layout: a container's header (its
 * count and kind), a JEntry per child (an object's keys, then its values), then
 * the children's data in that order; numbers and containers aligned to 4 bytes,
 * the padding counted in their length. A child's JEntry holds its length, or
 * every JB_OFFSET_STRIDE children its end offset. Objects have a fixed shape, so
 * their keys are written from lists kept in jsonb's order (shorter first, then
 * bytewise); arrays are counted from the rows before they are written. Nothing
 * of a page is built twice: no tree of JsonbValues, no conversion.
 */
typedef struct Container
{
	StringInfo	buf;			/* the response */
	int			start;			/* where its padding begins */
	int			entries_at;		/* its JEntries */
	int			data_at;		/* its children's data */
	int			index;			/* the next child's JEntry */
	int			n_entries;
} Container;

/* Zero bytes up to a multiple of 4. */
static void
pad_to_int(StringInfo buf)
{
	int			padding = INTALIGN(buf->len) - buf->len;

	for (int i = 0; i < padding; i++)
		appendStringInfoCharMacro(buf, '\0');
}

/* Opens a container of count children (an object: count pairs) at the end of buf. */
static void
begin_container(Container *c, StringInfo buf, int count, uint32 kind)
{
	uint32		header = (uint32) count | kind;

	c->buf = buf;
	c->start = buf->len;
	c->n_entries = kind == JB_FOBJECT ? 2 * count : count;
	c->index = 0;
	pad_to_int(buf);
	enlargeStringInfo(buf, sizeof(uint32) + sizeof(JEntry) * c->n_entries);
	memcpy(buf->data + buf->len, &header, sizeof(header));
	buf->len += sizeof(header);
	c->entries_at = buf->len;
	buf->len += sizeof(JEntry) * c->n_entries;
	c->data_at = buf->len;
}

/* The JEntry of the child written from start to the end of the buffer. */
static void
end_child(Container *c, uint32 type, int start)
{
	StringInfo	buf = c->buf;
	int			end_offset = buf->len - c->data_at;
	JEntry		entry;

	if (c->index >= c->n_entries)
		elog(ERROR, "more children than the jsonb container was opened for");
	if (end_offset > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK),
				 errhint("Ask for a smaller page (\"limit\" - \"start\").")));
	if (c->index % JB_OFFSET_STRIDE == 0)
		entry = type | JENTRY_HAS_OFF | end_offset;
	else
		entry = type | (buf->len - start);
	memcpy(buf->data + c->entries_at + sizeof(JEntry) * c->index, &entry, sizeof(entry));
	c->index++;
}

/* Closes child, a container inside parent. */
static void
end_container(Container *parent, const Container *child)
{
	if (child->index != child->n_entries)
		elog(ERROR, "fewer children than the jsonb container was opened for");
	end_child(parent, JENTRY_ISCONTAINER, child->start);
}

/* An object's key (after previous, NULL for its first: asserted in jsonb's order). */
static void
write_key(Container *c, const char *key, const char *previous)
{
	int			start = c->buf->len;
	size_t		len = strlen(key);

	Assert(previous == NULL || strlen(previous) < len ||
		   (strlen(previous) == len && strcmp(previous, key) < 0));
	appendBinaryStringInfo(c->buf, key, len);
	end_child(c, JENTRY_ISSTRING, start);
}

/* Opens an object of n keys (in jsonb's order) and writes the keys. */
static void
begin_object(Container *c, StringInfo buf, const char *const *keys, int n)
{
	begin_container(c, buf, n, JB_FOBJECT);
	for (int i = 0; i < n; i++)
		write_key(c, keys[i], i > 0 ? keys[i - 1] : NULL);
}

static void
write_null(Container *c)
{
	end_child(c, JENTRY_ISNULL, c->buf->len);
}

static void
write_bool(Container *c, bool value)
{
	end_child(c, value ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE, c->buf->len);
}

/* A number (its varlena with a 4-byte header, as numeric's functions return it). */
static void
write_numeric(Container *c, Numeric n)
{
	int			start = c->buf->len;

	pad_to_int(c->buf);
	appendBinaryStringInfo(c->buf, (char *) n, VARSIZE(n));
	end_child(c, JENTRY_ISNUMERIC, start);
}

/* One row of the order details (details.c): its column values. */
typedef struct RowReader
{
	Datum	   *values;
	bool	   *nulls;
} RowReader;

static void
read_row(RowReader *row, const CruxDetails *d, uint64 i)
{
	crux_details_row(d, i, &row->values, &row->nulls);
}

/* Column col (from 1, as the DC_ numbers) of the row. */
static Datum
column(const RowReader *row, int col, bool *isnull)
{
	*isnull = row->nulls[col - 1];
	return row->values[col - 1];
}

static bool
column_is_null(const RowReader *row, int col)
{
	return row->nulls[col - 1];
}

/* Quantities are small numbers: those below N_SMALL_NUMBERS are made once per backend. */
#define N_SMALL_NUMBERS 256

static Numeric
quantity_numeric(int32 value)
{
	static Numeric small[N_SMALL_NUMBERS];

	if (value < 0 || value >= N_SMALL_NUMBERS)
		return int64_to_numeric(value);
	if (small[value] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		small[value] = int64_to_numeric(value);
		MemoryContextSwitchTo(old);
	}
	return small[value];
}

/* Room for max_len bytes at the end of the response, for a string formatted there. */
static char *
string_room(Container *c, int max_len)
{
	enlargeStringInfo(c->buf, max_len);
	return c->buf->data + c->buf->len;
}

/* The string of len bytes formatted into string_room's room. */
static void
end_string(Container *c, int len)
{
	int			start = c->buf->len;

	c->buf->len += len;
	end_child(c, JENTRY_ISSTRING, start);
}

/*
 * How a column becomes a JSON value: texts as they are, uuids, timestamps and
 * dates as the API writes them (formats.c), money (numeric(12,2)) without
 * trailing zeros (69.80 -> 69.8, 0.00 -> 0), quantities as numbers.
 */
typedef enum FieldKind
{
	FIELD_TEXT,
	FIELD_UUID,
	FIELD_MONEY,
	FIELD_QUANTITY,
	FIELD_TIMESTAMP,
	FIELD_DATE
} FieldKind;

/* Column col (from 1, as the DC_ numbers) of the row as a value of kind, or null. */
static void
write_column(Container *c, const RowReader *row, FieldKind kind, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);
	int			start = c->buf->len;
	text	   *t;

	if (isnull)
	{
		write_null(c);
		return;
	}
	switch (kind)
	{
		case FIELD_TEXT:		/* read in place */
			t = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));
			appendBinaryStringInfo(c->buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			end_child(c, JENTRY_ISSTRING, start);
			break;
		case FIELD_UUID:
			end_string(c, crux_format_uuid(DatumGetUUIDP(d),
										   string_room(c, CRUX_UUID_TEXT_LEN + 1)));
			break;
		case FIELD_MONEY:
			write_numeric(c, DatumGetNumeric(DirectFunctionCall1(numeric_trim_scale, d)));
			break;
		case FIELD_QUANTITY:
			write_numeric(c, quantity_numeric(DatumGetInt32(d)));
			break;
		case FIELD_TIMESTAMP:
			end_string(c, crux_format_timestamp(DatumGetTimestampTz(d),
												string_room(c, CRUX_TIMESTAMP_LEN)));
			break;
		case FIELD_DATE:
			end_string(c, crux_format_date(DatumGetDateADT(d), string_room(c, CRUX_TIMESTAMP_LEN)));
			break;
	}
}

/*
 * The members of the response's objects that hold one column each, in jsonb's
 * key order; the objects that hold only such members are written from these
 * lists alone.
 */
typedef struct Field
{
	const char *key;
	FieldKind	kind;
	int			col;
} Field;

static const Field fees_fields[] = {
	{"order_fee", FIELD_MONEY, DC_ORDER_FEE},
	{"drop_ship_fee", FIELD_MONEY, DC_DROP_SHIP_FEE},
	{"estimated_shipping_cost", FIELD_MONEY, DC_ESTIMATED_SHIPPING_COST}
};
static const Field address_fields[] = {
	{"city", FIELD_TEXT, DC_ADDRESS_CITY},
	{"name", FIELD_TEXT, DC_ADDRESS_NAME},
	{"state", FIELD_TEXT, DC_ADDRESS_STATE},
	{"address1", FIELD_TEXT, DC_ADDRESS_ADDRESS1},
	{"address2", FIELD_TEXT, DC_ADDRESS_ADDRESS2},
	{"postal_code", FIELD_TEXT, DC_ADDRESS_POSTAL_CODE},
	{"phone_number", FIELD_TEXT, DC_ADDRESS_PHONE_NUMBER},
	{"business_name", FIELD_TEXT, DC_ADDRESS_BUSINESS_NAME}
};
static const Field user_fields[] = {
	{"name", FIELD_TEXT, DC_USER_NAME},
	{"email", FIELD_TEXT, DC_USER_EMAIL}
};
static const Field shipping_fields[] = {
	{"shipping_method", FIELD_TEXT, DC_SHIPPING_METHOD},
	{"shipping_carrier", FIELD_TEXT, DC_SHIPPING_CARRIER}
};
static const Field allocation_fields[] = {
	{"backorder_date", FIELD_DATE, DC_LI_BACKORDER_DATE},
	{"quantity_ordered", FIELD_QUANTITY, DC_LI_QUANTITY_ORDERED},
	{"quantity_rejected", FIELD_QUANTITY, DC_LI_QUANTITY_REJECTED},
	{"quantity_allocated", FIELD_QUANTITY, DC_LI_QUANTITY_ALLOCATED},
	{"quantity_backordered", FIELD_QUANTITY, DC_LI_QUANTITY_BACKORDERED}
};
static const Field tracking_fields[] = {
	{"quantity", FIELD_QUANTITY, DC_TN_QUANTITY},
	{"shipping_cost", FIELD_MONEY, DC_TN_SHIPPING_COST},
	{"shipping_date", FIELD_TIMESTAMP, DC_TN_SHIPPING_DATE},
	{"shipping_method", FIELD_TEXT, DC_TN_SHIPPING_METHOD},
	{"shipping_weight", FIELD_TEXT, DC_TN_SHIPPING_WEIGHT},
	{"tracking_number", FIELD_TEXT, DC_TN_TRACKING_NUMBER},
	{"shipping_carrier", FIELD_TEXT, DC_TN_SHIPPING_CARRIER}
};

/* The keys of the objects with other members too, in jsonb's order. */
static const char *const order_keys[] = {
	"fees", "uuid", "notes", "status", "address", "retailer", "line_items",
	"created_date", "is_allocated", "purchase_order_id", "requested_shipping"
};
static const char *const retailer_keys[] = {"name", "user", "uuid"};
static const char *const line_item_keys[] = {
	"cost", "uuid", "sku_id", "status", "sku_name", "sku_uuid", "item_name", "item_uuid",
	"allocation", "supplier_name", "supplier_uuid", "tracking_numbers"
};

#define BEGIN_OBJECT(c, buf, keys) begin_object((c), (buf), (keys), lengthof(keys))
#define WRITE_FIELDS(parent, row, fields) write_fields((parent), (row), (fields), lengthof(fields))

/* An object of n fields of the row, inside parent. */
static void
write_fields(Container *parent, const RowReader *row, const Field *fields, int n)
{
	Container	o;

	begin_container(&o, parent->buf, n, JB_FOBJECT);
	for (int i = 0; i < n; i++)
		write_key(&o, fields[i].key, i > 0 ? fields[i - 1].key : NULL);
	for (int i = 0; i < n; i++)
		write_column(&o, row, fields[i].kind, fields[i].col);
	end_container(parent, &o);
}

/*
 * The line item of rows [first, end) of the details (one per tracking number, or
 * one with no tracking number).
 */
static void
write_line_item(Container *array, const CruxDetails *d, uint64 first, uint64 end)
{
	RowReader	row;
	Container	o;
	Container	numbers;
	bool		has_numbers;

	read_row(&row, d, first);
	has_numbers = !column_is_null(&row, DC_TN_UUID);
	BEGIN_OBJECT(&o, array->buf, line_item_keys);
	write_column(&o, &row, FIELD_MONEY, DC_LI_COST);
	write_column(&o, &row, FIELD_UUID, DC_LI_UUID);
	write_column(&o, &row, FIELD_TEXT, DC_LI_SKU_ID);
	write_column(&o, &row, FIELD_TEXT, DC_LI_STATUS);
	write_column(&o, &row, FIELD_TEXT, DC_LI_SKU_NAME);
	write_column(&o, &row, FIELD_UUID, DC_LI_SKU_UUID);
	write_column(&o, &row, FIELD_TEXT, DC_LI_ITEM_NAME);
	write_column(&o, &row, FIELD_UUID, DC_LI_ITEM_UUID);
	WRITE_FIELDS(&o, &row, allocation_fields);
	write_column(&o, &row, FIELD_TEXT, DC_LI_SUPPLIER_NAME);
	write_column(&o, &row, FIELD_UUID, DC_LI_SUPPLIER_UUID);
	begin_container(&numbers, o.buf, has_numbers ? (int) (end - first) : 0, JB_FARRAY);
	for (uint64 i = first; has_numbers && i < end; i++)
	{
		read_row(&row, d, i);
		WRITE_FIELDS(&numbers, &row, tracking_fields);
	}
	end_container(&o, &numbers);
	end_container(array, &o);
}

static void
write_retailer(Container *order, const RowReader *row)
{
	Container	o;

	BEGIN_OBJECT(&o, order->buf, retailer_keys);
	write_column(&o, row, FIELD_TEXT, DC_RETAILER_NAME);
	WRITE_FIELDS(&o, row, user_fields);
	write_column(&o, row, FIELD_UUID, DC_RETAILER_UUID);
	end_container(order, &o);
}

/* The end of the rows of row i's line item (rows [i, end) are of one order). */
static uint64
line_item_end(const CruxDetails *d, uint64 i, uint64 end)
{
	RowReader	first;
	RowReader	row;

	read_row(&first, d, i);
	while (++i < end)
	{
		read_row(&row, d, i);
		if (memcmp(DatumGetUUIDP(first.values[DC_LI_UUID - 1]),
				   DatumGetUUIDP(row.values[DC_LI_UUID - 1]), UUID_LEN) != 0)
			break;
	}
	return i;
}

/* The end of the rows of row i's order: those of its page position. */
static uint64
order_end(const CruxDetails *d, uint64 i)
{
	RowReader	first;
	RowReader	row;

	read_row(&first, d, i);
	while (++i < d->n_rows)
	{
		read_row(&row, d, i);
		if (DatumGetInt64(row.values[DC_PAGE_POSITION - 1]) !=
			DatumGetInt64(first.values[DC_PAGE_POSITION - 1]))
			break;
	}
	return i;
}

/* Whether the line item of the row is unallocated. */
static bool
is_unallocated(const RowReader *row)
{
	const char *unallocated = crux_status_labels[0];
	text	   *status = DatumGetTextPP(row->values[DC_LI_STATUS - 1]);

	return VARSIZE_ANY_EXHDR(status) == strlen(unallocated) &&
		memcmp(VARDATA_ANY(status), unallocated, strlen(unallocated)) == 0;
}

/*
 * The order of rows [first, end) of the details: one row per tracking number of
 * each line item, or per line item without any, or one for an order without line
 * items. is_allocated (contract: at least one line item, none unallocated) is
 * read from its line items.
 */
static void
write_order(Container *orders, const CruxDetails *d, uint64 first, uint64 end)
{
	RowReader	row;
	Container	o;
	Container	line_items;
	int			n_line_items = 0;
	bool		any_unallocated = false;

	read_row(&row, d, first);
	for (uint64 i = first; i < end && !column_is_null(&row, DC_LI_UUID); i = line_item_end(d, i, end))
	{
		RowReader	li;

		read_row(&li, d, i);
		n_line_items++;
		any_unallocated |= is_unallocated(&li);
	}

	BEGIN_OBJECT(&o, orders->buf, order_keys);
	WRITE_FIELDS(&o, &row, fees_fields);
	write_column(&o, &row, FIELD_UUID, DC_ORDER_UUID);
	write_column(&o, &row, FIELD_TEXT, DC_NOTES);
	write_column(&o, &row, FIELD_TEXT, DC_ORDER_STATUS);
	WRITE_FIELDS(&o, &row, address_fields);
	write_retailer(&o, &row);
	begin_container(&line_items, o.buf, n_line_items, JB_FARRAY);
	for (uint64 i = first, next; n_line_items > 0 && i < end; i = next)
	{
		next = line_item_end(d, i, end);
		write_line_item(&line_items, d, i, next);
	}
	end_container(&o, &line_items);
	write_column(&o, &row, FIELD_TIMESTAMP, DC_CREATED_DATE);
	write_bool(&o, n_line_items > 0 && !any_unallocated);
	write_column(&o, &row, FIELD_TEXT, DC_PURCHASE_ORDER_ID);
	WRITE_FIELDS(&o, &row, shipping_fields);
	end_container(orders, &o);
}

/*
 * The orders of the details: their page positions. Fewer than the page's when a
 * policy of the database's own on crux.orders hides some that the page's walk
 * (of the summaries) found: the page then leaves them out.
 */
static int
count_detail_orders(const CruxDetails *d)
{
	int			n = 0;

	for (uint64 i = 0; d != NULL && i < d->n_rows; i = order_end(d, i))
		n++;
	return n;
}

/*
 * {"total_results": N, "orders": [...]} for a page of n_orders orders (the
 * orders its details hold: count_detail_orders), allocated in result_cxt (sized
 * for n_orders of the usual order, about 2.5 kB), from their details
 * (NULL when there are none) in the response's order: a new page position opens
 * an order, a new line-item uuid a line item. Each order's scratch memory (its
 * numbers, detoasted texts) is freed after it.
 */
Jsonb *
crux_orders_response(int64 total_results, const CruxDetails *details, int n_orders,
					 MemoryContext result_cxt)
{
	static const char *const response_keys[] = {"orders", "total_results"};
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext order_cxt = AllocSetContextCreate(outer, "crux_orders order",
													ALLOCSET_DEFAULT_SIZES);
	StringInfoData buf;
	Container	response;
	Container	orders;

	buf.maxlen = 64 + 8 * n_orders + 3072 * n_orders;
	buf.data = MemoryContextAlloc(result_cxt, buf.maxlen);
	buf.len = VARHDRSZ;
	buf.cursor = 0;
	BEGIN_OBJECT(&response, &buf, response_keys);
	begin_container(&orders, &buf, count_detail_orders(details), JB_FARRAY);
	for (uint64 i = 0, end; details != NULL && i < details->n_rows; i = end)
	{
		CHECK_FOR_INTERRUPTS();
		end = order_end(details, i);
		MemoryContextSwitchTo(order_cxt);
		write_order(&orders, details, i, end);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(order_cxt);
	}
	end_container(&response, &orders);
	write_numeric(&response, int64_to_numeric(total_results));
	if (response.index != response.n_entries)
		elog(ERROR, "the response lacks a member");
	MemoryContextDelete(order_cxt);
	SET_VARSIZE(buf.data, buf.len);
	return (Jsonb *) buf.data;
}
