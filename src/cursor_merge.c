/*
 * cursor_merge.c
 *		The page of an administrator naming a long list of organizations: one
 *		kept plan, each organization's walk in the page's order, opened as a
 *		cursor per organization and merged here, row by row, in the page's
 *		order. Like a Merge Append's branches, the walks together read about as
 *		far as the page needs, where walks run in turn each read to the page's end.
 *
 * Each cursor is fetched in batches that start at one row and double each
 * time it is emptied, so that a walk the page draws little from reads little
 * (a sparse status filter's walk probes many orders per row), and one it draws
 * much from costs a fetch per doubling. A batch never holds more rows than the
 * page still needs: a walk the page takes k rows from reads at most 2k - 1 of
 * them, and one it takes none from reads one.
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "crux_orders.h"
#include "lib/binaryheap.h"
#include "query.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

/* The largest batch fetched from one walk. */
#define MAX_BATCH 1024

/* One organization's walk: its cursor and the rows fetched from it. */
typedef struct WalkCursor
{
	Portal		portal;
	SPITupleTable *rows;		/* the batch being read, NULL when done */
	uint64		n_rows;
	uint64		next;			/* its row at the head of the walk */
	long		batch;			/* the next fetch's size */
} WalkCursor;

typedef struct CursorMerge
{
	WalkCursor *walks;
	CruxSortKey sort_key;
	bool		sort_asc;
} CursorMerge;

/*
 * Fetches the walk's next batch, at most the rows the page still needs; false
 * when it has no rows left.
 */
static bool
fetch_batch(WalkCursor *walk, int64 needed)
{
	if (walk->rows != NULL)
		SPI_freetuptable(walk->rows);
	SPI_cursor_fetch(walk->portal, true, (long) Min(walk->batch, needed));
	walk->rows = SPI_processed > 0 ? SPI_tuptable : NULL;
	walk->n_rows = SPI_processed;
	walk->next = 0;
	walk->batch = Min(walk->batch * 2, MAX_BATCH);
	if (walk->rows == NULL && SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return walk->rows != NULL;
}

/* The walk's head row's column (1: the order's uuid, 2: its sort key). */
static Datum
head_value(const WalkCursor *walk, int column, bool *isnull)
{
	return SPI_getbinval(walk->rows->vals[walk->next], walk->rows->tupdesc, column, isnull);
}

/*
 * The order of two sort keys as the page's sort has them ascending, a missing
 * key last: dates as timestamps, the status and sku_id as text in the "C"
 * collation (bytewise), uuids bytewise.
 */
static int
compare_sort_keys(CruxSortKey sort_key, Datum a, bool a_null, Datum b, bool b_null)
{
	if (a_null || b_null)
		return a_null == b_null ? 0 : a_null ? 1 : -1;
	switch (sort_key)
	{
		case CRUX_SORT_DATE:
			return timestamp_cmp_internal(DatumGetTimestampTz(a), DatumGetTimestampTz(b));
		case CRUX_SORT_STATUS:
		case CRUX_SORT_SKU_ID:
			{
				text	   *x = DatumGetTextPP(a);
				text	   *y = DatumGetTextPP(b);

				return varstr_cmp(VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x),
								  VARDATA_ANY(y), VARSIZE_ANY_EXHDR(y), C_COLLATION_OID);
			}
		case CRUX_SORT_UUID:
			break;
	}
	return 0;
}

/*
 * binaryheap's comparator over walk numbers, for the walk whose head row comes
 * first in the page at the top: the sort key in the sort's direction (a missing
 * key last ascending, first descending), then the uuid.
 */
static int
compare_walk_heads(Datum a, Datum b, void *arg)
{
	const CursorMerge *m = arg;
	const WalkCursor *x = &m->walks[DatumGetInt32(a)];
	const WalkCursor *y = &m->walks[DatumGetInt32(b)];
	bool		x_null,
				y_null;
	Datum		xk = head_value(x, 2, &x_null);
	Datum		yk = head_value(y, 2, &y_null);
	int			c = compare_sort_keys(m->sort_key, xk, x_null, yk, y_null);

	if (c == 0)
		c = memcmp(DatumGetUUIDP(head_value(x, 1, &x_null)),
				   DatumGetUUIDP(head_value(y, 1, &y_null)), UUID_LEN);
	/* binaryheap keeps its greatest element first */
	if (m->sort_asc)
		INVERT_COMPARE_RESULT(c);
	return c;
}

/*
 * Opens qb's query (kept for shape) as a cursor for each organization of the
 * request, its parameter org_param set to that organization, with enable_sort
 * off as crux_run_query_walking_index runs a walk.
 */
static void
open_walks(const CruxRequest *req, QueryBuilder *qb, int org_param, uint32 shape,
		   WalkCursor *walks)
{
	int			nest_level = crux_set_for_a_query("enable_sort", "off");
	Portal		portal;

	qb->cursor = &portal;
	for (int i = 0; i < req->n_org_uuids; i++)
	{
		qb->values[org_param - 1] = UUIDPGetDatum(&req->org_uuids[i]);
		crux_run_query(qb, shape);
		walks[i].portal = portal;
		walks[i].rows = NULL;
		walks[i].batch = 1;
	}
	qb->cursor = NULL;
	crux_restore_settings(nest_level);
}

/*
 * The uuids at sorted positions [offset, offset + count) of the rows of qb's query
 * (kept for shape): each organization's walk in the page's order, its uuid and
 * sort key, with parameter org_param the organization (count >= 0: a page). The
 * uuids are copied into the memory context current on entry; returns their number.
 */
int
crux_merge_org_walks(const CruxRequest *req, QueryBuilder *qb, int org_param, uint32 shape,
					 int64 offset, int64 count, Datum **uuids)
{
	MemoryContext cxt = CurrentMemoryContext;
	CursorMerge m = {.sort_key = req->sort_key, .sort_asc = req->sort_asc};
	binaryheap *heap = binaryheap_allocate(req->n_org_uuids, compare_walk_heads, &m);
	int64		position = 0;
	int			n = 0;

	Assert(count >= 0);
	m.walks = palloc(sizeof(WalkCursor) * req->n_org_uuids);
	*uuids = palloc(sizeof(Datum) * Max(count, 1));
	open_walks(req, qb, org_param, shape, m.walks);
	for (int i = 0; i < req->n_org_uuids; i++)
		if (fetch_batch(&m.walks[i], offset + count))
			binaryheap_add_unordered(heap, Int32GetDatum(i));
	binaryheap_build(heap);

	while (!binaryheap_empty(heap) && position < offset + count)
	{
		int			i = DatumGetInt32(binaryheap_first(heap));
		WalkCursor *walk = &m.walks[i];

		if (position++ >= offset)
		{
			bool		isnull;
			pg_uuid_t  *copy = MemoryContextAlloc(cxt, sizeof(pg_uuid_t));

			memcpy(copy, DatumGetUUIDP(head_value(walk, 1, &isnull)), sizeof(pg_uuid_t));
			(*uuids)[n++] = UUIDPGetDatum(copy);
		}
		if (++walk->next < walk->n_rows ||
			(position < offset + count && fetch_batch(walk, offset + count - position)))
			binaryheap_replace_first(heap, Int32GetDatum(i));
		else
			binaryheap_remove_first(heap);
	}
	for (int i = 0; i < req->n_org_uuids; i++)
	{
		if (m.walks[i].rows != NULL)
			SPI_freetuptable(m.walks[i].rows);
		SPI_cursor_close(m.walks[i].portal);
	}
	binaryheap_free(heap);
	pfree(m.walks);
	return n;
}
