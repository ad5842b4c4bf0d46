/*
 * csv.c
 *		An export slice as CSV text, for crux-export-worker:
 *		crux.export_csv(request, first, count, header, formula_safe) returns
 *		setof crux.export_csv_chunk (rows, csv); rows says how many CSV records
 *		each chunk holds.
 *
 * The records are those of crux.export_rows(request, first, count), quoted as
 * COPY's CSV format quotes them, with the values as the JSON API writes them,
 * whatever the session's settings: timestamps in UTC with six fractional digits
 * and a Z, dates YYYY-MM-DD, numbers without trailing zeros, booleans true and
 * false; with formula_safe, a text cell a spreadsheet would read as a formula
 * (beginning with =, +, -, @, TAB or CR) gets a leading apostrophe. How each
 * cell is written is csv_cells.c's.
 *
 * Each call answers one batch of ORDERS_PER_BATCH orders of the selection with
 * two queries: the orders (with their retailer's and user's names) by one TID
 * scan of the ctids the selection found them at, put back in selection order
 * here, and all their line items by one bitmap heap scan, grouped by order and
 * sorted by position and uuid here. That replaces a primary-key descent per
 * order, and the window and the sort the SQL function needs; is_allocated is
 * computed while walking the line items, and each order's columns are formatted
 * once instead of once per line item. Tracking numbers come from tracking.c.
 * Both queries run as the caller, in the caller's snapshot, so row-level
 * security and visibility are those of crux.export_rows. Memory is one batch at
 * a time.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "csv.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "query.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define ORDERS_PER_BATCH 1000

/* Where crux_export_columns puts is_allocated and the tracking numbers. */
#define IS_ALLOCATED_FIELD 2
#define TRACKING_FIELD (CRUX_N_EXPORT_FIELDS - 1)

/*
 * Column i of the orders' query is export column i, for i < N_ORDER_COLUMNS
 * (is_allocated, computed here, is a NULL stand-in). Column 0 of the line
 * items' query is the order, column k (1 to N_LINE_ITEM_FIELDS) export column
 * N_ORDER_COLUMNS + k - 1, then whether the line item is unallocated and its
 * position.
 */
#define N_ORDER_COLUMNS CRUX_N_ORDER_FIELDS
#define N_LINE_ITEM_FIELDS (CRUX_N_EXPORT_FIELDS - CRUX_N_ORDER_FIELDS - 1)
#define N_LINE_ITEM_COLUMNS (N_LINE_ITEM_FIELDS + 3)
#define LI_ORDER 0
#define LI_UUID 1
#define LI_UNALLOCATED (N_LINE_ITEM_FIELDS + 1)
#define LI_POSITION (N_LINE_ITEM_FIELDS + 2)

/*
 * The orders of a batch, by the ctids the selection found them at (in the same
 * snapshot): one TID scan of the batch, in ctid order, instead of a primary-key
 * descent per order; they are put back in selection order here.
 */
#define ORDERS_FROM \
"  FROM crux.orders o" \
"  LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid" \
"  LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid" \
" WHERE o.ctid OPERATOR(pg_catalog.=) ANY ($1)"

/*
 * The line items of a batch's orders, in no particular order: they are grouped
 * by order and sorted by position and uuid here. Without an ORDER BY the plan is
 * a bitmap heap scan, which reads each heap page of the batch's line items once,
 * instead of once per order in the index's order (uuids: random).
 */
#define LINE_ITEMS_FROM \
"  FROM crux.line_items li" \
" WHERE li.order_uuid OPERATOR(pg_catalog.=) ANY ($1)"

/* The select lists of the two queries, from crux_export_columns, made once. */
static char *orders_sql = NULL;
static char *line_items_sql = NULL;

static void
build_batch_queries(void)
{
	StringInfoData orders;
	StringInfoData line_items;

	if (orders_sql != NULL)
		return;
	initStringInfo(&orders);
	initStringInfo(&line_items);
	appendStringInfoString(&orders, "SELECT ");
	appendStringInfoString(&line_items, "SELECT li.order_uuid");
	for (int i = 0; i < CRUX_N_EXPORT_FIELDS; i++)
	{
		const CruxExportColumn *c = &crux_export_columns[i];

		if ((i < N_ORDER_COLUMNS) != (c->source == CRUX_COLUMN_OF_ORDER ||
									  c->source == CRUX_COLUMN_COMPUTED) ||
			(i == IS_ALLOCATED_FIELD) != (c->source == CRUX_COLUMN_COMPUTED) ||
			(i == TRACKING_FIELD) != (c->source == CRUX_COLUMN_OF_TRACKING))
			elog(ERROR, "export column \"%s\" is out of place", c->name);
		if (i < N_ORDER_COLUMNS)
			appendStringInfo(&orders, "%s%s", i > 0 ? ", " : "", c->expression);
		else if (c->source == CRUX_COLUMN_OF_LINE_ITEM)
			appendStringInfo(&line_items, ", %s", c->expression);
	}
	appendStringInfoString(&orders, ORDERS_FROM);
	appendStringInfoString(&line_items,
						   ", li.status OPERATOR(pg_catalog.=) 'unallocated'::crux.line_item_status,"
						   " li.position" LINE_ITEMS_FROM);
	orders_sql = MemoryContextStrdup(TopMemoryContext, orders.data);
	line_items_sql = MemoryContextStrdup(TopMemoryContext, line_items.data);
	pfree(orders.data);
	pfree(line_items.data);
}

static SPIPlanPtr orders_plan = NULL;
static SPIPlanPtr line_items_plan = NULL;

/*
 * export_csv_orders's batch: where each order's records end in the chunk, how
 * many there are, and its sort value (NULL: missing), in selection order.
 */
typedef struct CsvOrders
{
	int			n;				/* orders of the batch written */
	int			next;			/* the next to hand out */
	int			end[ORDERS_PER_BATCH];
	int			records[ORDERS_PER_BATCH];
	int			index[ORDERS_PER_BATCH];	/* into CsvExport.orders */
	text	   *sort_values[ORDERS_PER_BATCH];	/* by index, in sort_context */
	MemoryContext sort_context; /* reset every batch */
} CsvOrders;

/* one export_csv call sequence: a slice of one request */
typedef struct CsvExport
{
	char	   *cursor;			/* the slice's selection, fetched a batch at a time */
	bool		selection_done; /* the cursor has no more orders */
	pg_uuid_t	orders[ORDERS_PER_BATCH];	/* the batch's orders, in selection order */
	ItemPointerData ctids[ORDERS_PER_BATCH];	/* and where they are */
	int			n_fields;		/* the CSV's columns, as export field numbers */
	int			fields[CRUX_N_EXPORT_FIELDS];
	bool		header;			/* the header line is still to be written */
	CsvCells	cells;			/* how values are written */
	bool		wants_tracking; /* tracking_numbers is one of the fields */
	bool		have_output_functions;
	FmgrInfo	order_out[N_ORDER_COLUMNS];
	FmgrInfo	line_item_out[N_LINE_ITEM_COLUMNS];
	CsvKind		order_kind[N_ORDER_COLUMNS];
	CsvKind		line_item_kind[N_LINE_ITEM_COLUMNS];
	CruxTracking *tracking;
	StringInfoData chunk;		/* the CSV of one call, reused */
	MemoryContext order_context;	/* reset after every order */
	CruxRequest request;
	CsvOrders  *by_order;		/* export_csv_orders: one order per call */
} CsvExport;

/* The line items of a batch, deformed, and each order's range of them. */
typedef struct Batch
{
	SPITupleTable *orders;
	int			n_line_items;
	Datum	   *li_values;		/* N_LINE_ITEM_COLUMNS per line item */
	bool	   *li_nulls;
	int		   *sorted;			/* line items by order row, position, uuid */
	int		   *first_line_item;	/* per order row: [first, end) of sorted */
	int		   *end_line_item;
	Datum	   *by_uuid;		/* pairs (uuid, order row), sorted by uuid */
	Datum		ctids;			/* the batch's ctids, in selection order */
} Batch;

/* column of the li-th line item in sorted order */
#define LI_INDEX(batch, li, column) ((batch)->sorted[li] * N_LINE_ITEM_COLUMNS + (column))
#define LI_VALUE(batch, li, column) ((batch)->li_values[LI_INDEX(batch, li, column)])

static void
append_header(CsvExport *csv, StringInfo buf)
{
	for (int i = 0; i < csv->n_fields; i++)
	{
		const char *name = crux_export_columns[csv->fields[i]].name;

		if (i > 0)
			appendStringInfoCharMacro(buf, ',');
		csv_append_value_quoted(buf, name, strlen(name), csv->n_fields == 1);
	}
	appendStringInfoCharMacro(buf, '\n');
}

/* Output functions of the two queries' columns, from the first batch's results. */
static void
look_up_output_functions(CsvExport *csv, TupleDesc orders, TupleDesc line_items,
						 MemoryContext context)
{
	Oid			func;
	bool		varlena;

	for (int i = 0; i < N_ORDER_COLUMNS; i++)
	{
		getTypeOutputInfo(TupleDescAttr(orders, i)->atttypid, &func, &varlena);
		fmgr_info_cxt(func, &csv->order_out[i], context);
		csv->order_kind[i] = csv_kind(TupleDescAttr(orders, i)->atttypid);
	}
	for (int i = 0; i < N_LINE_ITEM_COLUMNS; i++)
	{
		getTypeOutputInfo(TupleDescAttr(line_items, i)->atttypid, &func, &varlena);
		fmgr_info_cxt(func, &csv->line_item_out[i], context);
		csv->line_item_kind[i] = csv_kind(TupleDescAttr(line_items, i)->atttypid);
	}
	csv->have_output_functions = true;
}

static int
compare_uuid_datums(const void *a, const void *b)
{
	return memcmp(DatumGetUUIDP(*(const Datum *) a), DatumGetUUIDP(*(const Datum *) b),
				  UUID_LEN);
}

/* The batch's row of the order, or -1 when it is not there. */
static int
order_row(Batch *batch, Datum uuid)
{
	Datum	   *found = bsearch(&uuid, batch->by_uuid, batch->orders->numvals,
								2 * sizeof(Datum), compare_uuid_datums);

	return found == NULL ? -1 : DatumGetInt32(found[1]);
}

/* Line items i and j (raw indexes) of one order: by position, then uuid. */
static inline bool
line_item_before(Batch *batch, int i, int j)
{
	int32		pi = DatumGetInt32(batch->li_values[i * N_LINE_ITEM_COLUMNS + LI_POSITION]);
	int32		pj = DatumGetInt32(batch->li_values[j * N_LINE_ITEM_COLUMNS + LI_POSITION]);

	if (pi != pj)
		return pi < pj;
	return memcmp(DatumGetUUIDP(batch->li_values[i * N_LINE_ITEM_COLUMNS + LI_UUID]),
				  DatumGetUUIDP(batch->li_values[j * N_LINE_ITEM_COLUMNS + LI_UUID]),
				  UUID_LEN) < 0;
}

/*
 * Gives each order row of the batch its range of line items, sorted as ORDER BY
 * order, position, uuid would: each line item's order row is found (the previous
 * line item's, usually: an order's line items are stored together, else a binary
 * search of the rows by uuid), the line items are counted into their rows, then
 * each row's few are sorted by insertion. Line items of orders that are not among
 * the rows are left out.
 */
static void
assign_line_items(Batch *batch)
{
	SPITupleTable *orders = batch->orders;
	int			n_rows = (int) orders->numvals;
	int			n = batch->n_line_items;
	Datum	   *by_uuid = palloc(sizeof(Datum) * 2 * Max(n_rows, 1));
	int		   *row_of = palloc(sizeof(int) * Max(n, 1));
	int		   *next = palloc0(sizeof(int) * Max(n_rows, 1));
	int			previous = -1;

	batch->by_uuid = by_uuid;
	batch->sorted = palloc(sizeof(int) * Max(n, 1));
	batch->first_line_item = palloc0(sizeof(int) * Max(n_rows, 1));
	batch->end_line_item = palloc0(sizeof(int) * Max(n_rows, 1));
	/* pairs (uuid, row number), sorted by uuid */
	for (int i = 0; i < n_rows; i++)
	{
		bool		isnull;

		by_uuid[2 * i] = SPI_getbinval(orders->vals[i], orders->tupdesc, 1, &isnull);
		by_uuid[2 * i + 1] = Int32GetDatum(i);
	}
	qsort(by_uuid, n_rows, 2 * sizeof(Datum), compare_uuid_datums);

	/* each line item's row; counts per row in end_line_item */
	for (int i = 0; i < n; i++)
	{
		Datum		order = batch->li_values[i * N_LINE_ITEM_COLUMNS + LI_ORDER];

		if (previous < 0 ||
			memcmp(DatumGetUUIDP(order),
				   DatumGetUUIDP(batch->li_values[previous * N_LINE_ITEM_COLUMNS + LI_ORDER]),
				   UUID_LEN) != 0)
			previous = i;
		row_of[i] = previous == i ? order_row(batch, order) : row_of[previous];
		if (row_of[i] >= 0)
			batch->end_line_item[row_of[i]]++;
	}
	/* rows' ranges, in row order */
	for (int r = 0, start = 0; r < n_rows; r++)
	{
		int			count = batch->end_line_item[r];

		batch->first_line_item[r] = next[r] = start;
		batch->end_line_item[r] = start + count;
		start += count;
	}
	/* each line item into its row's range, by insertion */
	for (int i = 0; i < n; i++)
	{
		int			r = row_of[i];
		int			k;

		if (r < 0)
			continue;
		for (k = next[r]++; k > batch->first_line_item[r] &&
			 line_item_before(batch, i, batch->sorted[k - 1]); k--)
			batch->sorted[k] = batch->sorted[k - 1];
		batch->sorted[k] = i;
	}
	pfree(row_of);
	pfree(next);
}


/* Runs the batch's two queries; the results live until SPI_finish. */
static void
fetch_batch(CsvExport *csv, int count, Batch *batch)
{
	Datum	   *ctid_elems = palloc(sizeof(Datum) * count);
	Datum		uuids;
	Datum		ctids;
	SPITupleTable *line_items;
	Oid			uuid_array = UUIDARRAYOID;
	Oid			tid_array = TIDARRAYOID;

	for (int i = 0; i < count; i++)
		ctid_elems[i] = PointerGetDatum(&csv->ctids[i]);
	uuids = crux_uuid_array_datum(csv->orders, count);
	ctids = PointerGetDatum(construct_array(ctid_elems, count, TIDOID,
											sizeof(ItemPointerData), false, TYPALIGN_SHORT));
	batch->ctids = ctids;

	/* generic plans: planned once, not for each batch's 1,000 values */
	build_batch_queries();
	if (SPI_execute_plan(crux_kept_plan(&line_items_plan, line_items_sql, 1, &uuid_array,
										CURSOR_OPT_GENERIC_PLAN), &uuids,
						 NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the line items of an export batch");
	line_items = SPI_tuptable;
	if (SPI_execute_plan(crux_kept_plan(&orders_plan, orders_sql, 1, &tid_array,
										CURSOR_OPT_GENERIC_PLAN), &ctids, NULL,
						 true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the orders of an export batch");
	batch->orders = SPI_tuptable;

	if (!csv->have_output_functions)
		look_up_output_functions(csv, batch->orders->tupdesc, line_items->tupdesc,
								 GetMemoryChunkContext(csv));

	batch->n_line_items = (int) line_items->numvals;
	batch->li_values = palloc(sizeof(Datum) * N_LINE_ITEM_COLUMNS * Max(batch->n_line_items, 1));
	batch->li_nulls = palloc(sizeof(bool) * N_LINE_ITEM_COLUMNS * Max(batch->n_line_items, 1));
	for (int i = 0; i < batch->n_line_items; i++)
		heap_deform_tuple(line_items->vals[i], line_items->tupdesc,
						  batch->li_values + i * N_LINE_ITEM_COLUMNS,
						  batch->li_nulls + i * N_LINE_ITEM_COLUMNS);
	assign_line_items(batch);
}

/*
 * Writes the CSV records of one order: one per line item, or one with empty
 * line-item columns when it has none. Returns how many.
 */
static int
append_order(CsvExport *csv, Batch *batch, int row, StringInfo buf)
{
	Datum		order_values[N_ORDER_COLUMNS];
	bool		order_nulls[N_ORDER_COLUMNS];
	StringInfoData formatted;	/* the order's fields, formatted once */
	int			offsets[CRUX_N_EXPORT_FIELDS + 1] = {0};
	int			first = batch->first_line_item[row];
	int			end = batch->end_line_item[row];
	bool		is_allocated = end > first;
	bool		single = csv->n_fields == 1;
	int			records = 0;

	MemoryContext old = MemoryContextSwitchTo(csv->order_context);

	heap_deform_tuple(batch->orders->vals[row], batch->orders->tupdesc, order_values,
					  order_nulls);
	for (int li = first; li < end; li++)
		if (DatumGetBool(LI_VALUE(batch, li, LI_UNALLOCATED)))
			is_allocated = false;

	initStringInfo(&formatted);
	for (int i = 0; i < csv->n_fields; i++)
	{
		int			field = csv->fields[i];

		if (field == IS_ALLOCATED_FIELD)
			appendStringInfoString(&formatted, is_allocated ? "true" : "false");
		else if (field < N_ORDER_COLUMNS && !order_nulls[field])
			csv_append_value(&csv->cells, &formatted, csv->order_kind[field], &csv->order_out[field],
						 order_values[field], single);
		offsets[i + 1] = formatted.len;
	}

	do
	{
		for (int i = 0; i < csv->n_fields; i++)
		{
			int			field = csv->fields[i];

			if (i > 0)
				appendStringInfoCharMacro(buf, ',');
			if (field < N_ORDER_COLUMNS)
				appendBinaryStringInfo(buf, formatted.data + offsets[i],
									   offsets[i + 1] - offsets[i]);
			else if (first == end)
				continue;		/* no line items: empty line-item columns */
			else if (field == TRACKING_FIELD)
			{
				text	   *numbers = crux_tracking_text(csv->tracking,
														 LI_VALUE(batch, first, LI_UUID));

				if (numbers != NULL)
					csv_append_text_cell(&csv->cells, buf, VARDATA_ANY(numbers),
									 VARSIZE_ANY_EXHDR(numbers), single);
			}
			else
			{
				int			column = field - N_ORDER_COLUMNS + 1;

				if (!batch->li_nulls[LI_INDEX(batch, first, column)])
					csv_append_value(&csv->cells, buf, csv->line_item_kind[column],
								 &csv->line_item_out[column], LI_VALUE(batch, first, column),
								 single);
			}
		}
		appendStringInfoCharMacro(buf, '\n');
		records++;
	} while (++first < end);
	MemoryContextSwitchTo(old);
	MemoryContextReset(csv->order_context);
	return records;
}

/* The batch's line items' tracking numbers, on their way into the cache. */
static void
prefetch_tracking(CsvExport *csv, Batch *batch)
{
	Datum	   *line_items = palloc(sizeof(Datum) * Max(batch->n_line_items, 1));

	for (int i = 0; i < batch->n_line_items; i++)
		line_items[i] = batch->li_values[i * N_LINE_ITEM_COLUMNS + LI_UUID];
	crux_tracking_prefetch(csv->tracking, line_items, batch->n_line_items);
	pfree(line_items);
}

/*
 * The next batch of the selection's orders and ctids from its cursor, into
 * csv->orders and csv->ctids; returns how many. The cursor is closed at its end.
 */
static int
fetch_selection(CsvExport *csv)
{
	Portal		cursor = SPI_cursor_find(csv->cursor);
	int			n;

	if (cursor == NULL)
		elog(ERROR, "the export's selection is no longer open");
	SPI_cursor_fetch(cursor, true, ORDERS_PER_BATCH);
	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		memcpy(&csv->orders[i], DatumGetUUIDP(values[0]), UUID_LEN);
		ItemPointerCopy((ItemPointer) DatumGetPointer(values[1]), &csv->ctids[i]);
	}
	SPI_freetuptable(SPI_tuptable);
	if (n < ORDERS_PER_BATCH)
	{
		SPI_cursor_close(cursor);
		csv->selection_done = true;
	}
	return n;
}

/* export_csv_orders: order i of the batch has records records, ending at end. */
static void
record_order_end(CsvOrders *by_order, int i, int end, int records)
{
	by_order->index[by_order->n] = i;
	by_order->end[by_order->n] = end;
	by_order->records[by_order->n] = records;
	by_order->n++;
}

/*
 * export_csv_orders: the batch's orders' sort values, as
 * crux_sort_text_expression writes them, by their index in the batch (all NULL
 * for the uuid sort).
 */
static void
fetch_sort_values(CsvExport *csv, Batch *batch, int count)
{
	CsvOrders  *by_order = csv->by_order;

	MemoryContextReset(by_order->sort_context);
	memset(by_order->sort_values, 0, sizeof(by_order->sort_values));
	if (!crux_run_sort_values_query(&csv->request, true, batch->ctids))
		return;					/* the uuid sort: no values */
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		n_null;
		bool		v_null;
		int			n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
													SPI_tuptable->tupdesc, 1, &n_null));
		Datum		v = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &v_null);
		MemoryContext old;

		if (n_null || v_null || n < 1 || n > count)
			continue;
		old = MemoryContextSwitchTo(by_order->sort_context);
		by_order->sort_values[n - 1] = DatumGetTextPCopy(v);
		MemoryContextSwitchTo(old);
	}
}

/* The next batch's records into buf; returns how many, and *orders how many orders. */
static int
append_next_batch(CsvExport *csv, StringInfo buf, int *orders)
{
	int			records = 0;
	Batch		batch;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	*orders = fetch_selection(csv);
	if (*orders > 0)
	{
		fetch_batch(csv, *orders, &batch);
		if (csv->wants_tracking)
			prefetch_tracking(csv, &batch);
	}
	for (int i = 0; i < *orders; i++)
	{
		int			row = order_row(&batch, UUIDPGetDatum(&csv->orders[i]));
		int			n;

		CHECK_FOR_INTERRUPTS();
		if (row < 0)
			continue;
		n = append_order(csv, &batch, row, buf);
		records += n;
		if (csv->by_order != NULL)
			record_order_end(csv->by_order, i, buf->len, n);
	}
	if (csv->by_order != NULL && *orders > 0)
		fetch_sort_values(csv, &batch, *orders);
	SPI_finish();
	return records;
}

/*
 * Parses the request and opens the slice's selection as a cursor; the SRF's
 * context keeps one batch at a time. by_order: export_csv_orders's arguments
 * (request, formula_safe), and the selection from position 0 whatever its start.
 */
static CsvExport *
begin_export(FunctionCallInfo fcinfo, MemoryContext context, bool by_order)
{
	CsvExport  *csv = MemoryContextAllocZero(context, sizeof(CsvExport));
	MemoryContext old = MemoryContextSwitchTo(context);
	CruxRequest req;
	int64		first = 0;
	int64		count = -1;
	int64		expected;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_EXPORT, &req);
	if (by_order)
	{
		req.start = 0;
		csv->cells.formula_safe = PG_ARGISNULL(1) || PG_GETARG_BOOL(1);
		csv->by_order = palloc0(sizeof(CsvOrders));
		csv->by_order->sort_context = AllocSetContextCreate(context,
															"crux_orders export sort values",
															ALLOCSET_SMALL_SIZES);
	}
	else
	{
		first = crux_slice_bound(fcinfo, 1, "first", 0);
		count = crux_slice_bound(fcinfo, 2, "count", -1);
		csv->header = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
		csv->cells.formula_safe = PG_ARGISNULL(4) || PG_GETARG_BOOL(4);
	}
	csv->cells.context = context;

	if (req.n_fields == 0)
	{
		csv->n_fields = CRUX_N_EXPORT_FIELDS;
		for (int i = 0; i < CRUX_N_EXPORT_FIELDS; i++)
			csv->fields[i] = i;
	}
	for (int i = 0; i < req.n_fields; i++)
		for (int f = 0; f < CRUX_N_EXPORT_FIELDS; f++)
			if (strcmp(req.fields[i], crux_export_columns[f].name) == 0)
				csv->fields[csv->n_fields++] = f;
	for (int i = 0; i < csv->n_fields; i++)
		csv->wants_tracking |= csv->fields[i] == TRACKING_FIELD;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a slice of n orders asks for at least n line items' tracking numbers */
	expected = count >= 0 ? count : Max(crux_count_export_orders(&req) - first, 0);
	csv->cursor = MemoryContextStrdup(context,
									  crux_open_order_uuid_cursor(&req, first, count, true)->name);
	SPI_finish();

	csv->request = req;
	csv->tracking = crux_tracking_begin(context, expected);
	csv->order_context = AllocSetContextCreate(context, "crux_orders export order",
											   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&csv->chunk);
	MemoryContextSwitchTo(old);
	return csv;
}

/*
 * The next chunk: the header (first call, when asked for) and one batch of
 * orders, or NULL at the end.
 */
static HeapTuple
next_chunk(CsvExport *csv, TupleDesc chunk_desc)
{
	StringInfo	buf = &csv->chunk;
	int			records = 0;
	int			orders = 0;
	bool		header = csv->header;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (csv->selection_done && !header)
		return NULL;
	/* the chunk is built as a text value in place: header, then the CSV */
	resetStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
	if (header)
	{
		append_header(csv, buf);
		csv->header = false;
	}
	if (!csv->selection_done)
		records = append_next_batch(csv, buf, &orders);
	if (orders == 0 && !header)
		return NULL;
	SET_VARSIZE(buf->data, buf->len);

	values[0] = Int32GetDatum(records);
	values[1] = PointerGetDatum(buf->data);
	return heap_form_tuple(chunk_desc, values, nulls);
}

/* An export SRF's first call: its result's descriptor, and the export begun. */
static void
first_call(FunctionCallInfo fcinfo, bool by_order)
{
	FuncCallContext *funcctx = SRF_FIRSTCALL_INIT();
	MemoryContext old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "an export function must return a composite type");
	funcctx->tuple_desc = BlessTupleDesc(desc);
	MemoryContextSwitchTo(old);
	funcctx->user_fctx = begin_export(fcinfo, funcctx->multi_call_memory_ctx, by_order);
}

PG_FUNCTION_INFO_V1(crux_export_csv_1_8);

/*
 * crux.export_csv(request jsonb, first bigint, count bigint, header boolean,
 * formula_safe boolean) returns setof crux.export_csv_chunk: the chunks of one
 * slice, one per call
 */
Datum
crux_export_csv_1_8(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	HeapTuple	chunk;

	if (SRF_IS_FIRSTCALL())
		first_call(fcinfo, false);
	funcctx = SRF_PERCALL_SETUP();
	chunk = next_chunk(funcctx->user_fctx, funcctx->tuple_desc);
	if (chunk == NULL)
		SRF_RETURN_DONE(funcctx);
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(chunk));
}

/*
 * export_csv_orders's next order: (sort_value, order_uuid, rows, csv), or NULL
 * at the end. A batch is written into the chunk and handed out an order a time.
 */
static HeapTuple
next_order(CsvExport *csv, TupleDesc desc)
{
	CsvOrders  *by_order = csv->by_order;
	int			start;
	int			k;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	while (by_order->next == by_order->n)
	{
		int			orders;

		if (csv->selection_done)
			return NULL;
		resetStringInfo(&csv->chunk);
		by_order->n = by_order->next = 0;
		append_next_batch(csv, &csv->chunk, &orders);
	}
	k = by_order->next++;
	start = k > 0 ? by_order->end[k - 1] : 0;
	nulls[0] = by_order->sort_values[by_order->index[k]] == NULL;
	values[0] = PointerGetDatum(by_order->sort_values[by_order->index[k]]);
	values[1] = UUIDPGetDatum(&csv->orders[by_order->index[k]]);
	values[2] = Int32GetDatum(by_order->records[k]);
	values[3] = PointerGetDatum(cstring_to_text_with_len(csv->chunk.data + start,
														 by_order->end[k] - start));
	return heap_form_tuple(desc, values, nulls);
}

PG_FUNCTION_INFO_V1(crux_export_csv_orders_1_9);

/*
 * crux.export_csv_orders(request jsonb, formula_safe boolean) returns setof
 * crux.export_csv_order: the selection's orders up to its limit (from position
 * 0, whatever its start), one per call, each with its CSV records and its sort
 * value, for merging the parts of shards into one file
 */
Datum
crux_export_csv_orders_1_9(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	HeapTuple	order;

	if (SRF_IS_FIRSTCALL())
		first_call(fcinfo, true);
	funcctx = SRF_PERCALL_SETUP();
	order = next_order(funcctx->user_fctx, funcctx->tuple_desc);
	if (order == NULL)
		SRF_RETURN_DONE(funcctx);
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(order));
}
