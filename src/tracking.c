/*
 * tracking.c
 *		The tracking-number column of export rows: crux.line_item_tracking(uuid)
 *		returns a line item's tracking numbers joined by "; ", ordered by shipping
 *		date (none last), then tracking number (bytewise), then uuid; NULL when it
 *		has none.
 *
 * An export calls it once per line item. The first calls of a query look each
 * line item up (one indexed query each). Once a query has looked up about a
 * tenth as many line items as there are tracking numbers (so that the lookups
 * have cost about what one pass over them does), it reads every tracking number
 * the caller can see, once and unsorted, into a hash table kept until the query
 * ends, and answers the rest from memory: an export of millions of line items
 * then costs one pass over the tracking numbers instead of a B-tree descent per
 * line item. The optional second argument says how many line items the query
 * expects to ask for (the worker's slices know their size): when that is past
 * the same threshold, the first call reads them into memory at once. The table
 * is bounded by work_mem * hash_mem_multiplier, tested on the table's estimated
 * size before anything is mapped and again as it fills; when the tracking
 * numbers do not fit, the query keeps looking them up one by one. crux.export_csv (csv.c) uses
 * the same state through crux_tracking_begin and crux_tracking_text.
 *
 * Both ways run as the caller, with the query's snapshot, so row-level security
 * and visibility are those of the sub-select this replaces.
 *
 * In memory, the hash table and the numbers (about 150 MB for 1,000,000) live in
 * big chunks mapped from the kernel: already zeroed, so the table needs no
 * memset, and advised as transparent huge pages, so that filling them faults in
 * few pages. They are unmapped when the
 * query's memory goes, on error too.
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "crux_orders.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* one tracking number of a line item that has not been asked for yet */
typedef struct TrackingNumber
{
	struct TrackingNumber *next;
	TimestampTz shipping_date;
	bool		has_date;
	pg_uuid_t	uuid;
	int			len;
	char		number[FLEXIBLE_ARRAY_MEMBER];
} TrackingNumber;

static inline uint32
hash_line_item(const pg_uuid_t *line_item)
{
	return hash_bytes((const unsigned char *) line_item, sizeof(pg_uuid_t));
}

/* a line item with tracking numbers: first a list, joined when first asked for */
typedef struct TrackingEntry
{
	pg_uuid_t	line_item;		/* hash key */
	uint32		hash;
	char		status;
	bool		joined;			/* value is the joined text */
	void	   *value;			/* text *, or TrackingNumber * when not joined */
} TrackingEntry;

#define SH_PREFIX tracking
#define SH_ELEMENT_TYPE TrackingEntry
#define SH_KEY_TYPE pg_uuid_t
#define SH_KEY line_item
#define SH_HASH_KEY(tb, key) hash_line_item(&(key))
#define SH_EQUAL(tb, a, b) (memcmp(&(a), &(b), sizeof(pg_uuid_t)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_USE_NONDEFAULT_ALLOCATOR
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* how many rows ahead the load fetches buckets into the cache */
#define PREFETCH_DISTANCE 16

/* Starts fetching the bucket a hash value starts probing at into the cache. */
static inline void
prefetch_bucket(tracking_hash *cache, uint32 hash)
{
	__builtin_prefetch(&cache->data[hash & cache->sizemask]);
}

typedef enum TrackingMode
{
	TRACKING_LOOKUP,			/* one query per line item, may switch to memory */
	TRACKING_IN_MEMORY,			/* answered from the hash table */
	TRACKING_LOOKUP_ONLY		/* the table did not fit: one query per line item */
} TrackingMode;

/* a mapping of big_alloc, this header first */
typedef struct BigChunk
{
	struct BigChunk *next;
	Size		size;
} BigChunk;

#define BIG_CHUNK_HEADER MAXALIGN(sizeof(BigChunk))
#define HUGE_PAGE_SIZE (2 * 1024 * 1024)

/* one query's tracking numbers (CruxTracking in crux_orders.h) */
typedef struct TrackingState
{
	TrackingMode mode;
	int64		lookups;
	int64		lookups_before_loading;
	double		tracking_numbers;	/* the table's estimated size */
	MemoryContext cache_context;	/* the hash table and the numbers */
	tracking_hash *cache;
	char	   *arena;			/* bump allocation of the numbers */
	Size		arena_free;
	BigChunk   *big_chunks;		/* the mappings of the table and the arena */
	Size		big_bytes;
	bool		unmap_registered;
	MemoryContextCallback unmap;	/* on cache_context's reset or deletion */
} TrackingState;

/* a huge-page multiple with the chunk's header */
#define ARENA_BLOCK_SIZE (8 * 1024 * 1024 - BIG_CHUNK_HEADER)
#define FETCH_ROWS 10000

static const char *lookup_sql =
"SELECT pg_catalog.string_agg(t.tracking_number, '; '"
"           ORDER BY t.shipping_date NULLS LAST,"
"                    t.tracking_number COLLATE pg_catalog.\"C\", t.uuid)"
"  FROM crux.tracking_numbers t"
" WHERE t.line_item_uuid OPERATOR(pg_catalog.=) $1";

static const char *all_numbers_sql =
"SELECT t.line_item_uuid, t.tracking_number, t.shipping_date, t.uuid"
"  FROM crux.tracking_numbers t";

/* One line item's tracking numbers by one indexed query, in the caller's context. */
static Datum
look_up_tracking(Datum line_item, bool *isnull)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {UUIDOID};
	Datum		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(crux_kept_plan(&plan, lookup_sql, 1, argtypes, 0), &line_item, NULL,
						 true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up tracking numbers");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
		result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	return result;
}

static void
unmap_big_chunks(void *arg)
{
	TrackingState *state = arg;

	while (state->big_chunks != NULL)
	{
		BigChunk   *chunk = state->big_chunks;

		state->big_chunks = chunk->next;
		munmap(chunk, chunk->size);
	}
	state->big_bytes = 0;
	state->unmap_registered = false;
}

/*
 * size bytes, zeroed, from a mapping of their own that lives as long as
 * state->cache_context does.
 */
static void *
big_alloc(TrackingState *state, Size size)
{
	Size		mapped = TYPEALIGN(HUGE_PAGE_SIZE, BIG_CHUNK_HEADER + size);
	BigChunk   *chunk = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
							 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (chunk == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu for the tracking numbers.", mapped)));
	(void) madvise(chunk, mapped, MADV_HUGEPAGE);	/* a hint */
	if (!state->unmap_registered)
	{
		state->unmap.func = unmap_big_chunks;
		state->unmap.arg = state;
		MemoryContextRegisterResetCallback(state->cache_context, &state->unmap);
		state->unmap_registered = true;
	}
	chunk->size = mapped;
	chunk->next = state->big_chunks;
	state->big_chunks = chunk;
	state->big_bytes += mapped;
	return (char *) chunk + BIG_CHUNK_HEADER;
}

/* Unmaps one chunk of big_alloc (the hash table's old buckets when it grows). */
static void
big_free(TrackingState *state, void *pointer)
{
	BigChunk   *chunk = (BigChunk *) ((char *) pointer - BIG_CHUNK_HEADER);

	for (BigChunk **link = &state->big_chunks; *link != NULL; link = &(*link)->next)
		if (*link == chunk)
		{
			*link = chunk->next;
			state->big_bytes -= chunk->size;
			munmap(chunk, chunk->size);
			return;
		}
	elog(ERROR, "tracking numbers: freeing memory that is not theirs");
}

/* simplehash's allocator (SH_USE_NONDEFAULT_ALLOCATOR): zeroed, as it needs */
static inline void *
tracking_allocate(tracking_hash *table, Size size)
{
	return big_alloc(table->private_data, size);
}

static inline void
tracking_free(tracking_hash *table, void *pointer)
{
	big_free(table->private_data, pointer);
}

static void *
arena_alloc(TrackingState *state, Size size)
{
	char	   *space;

	size = MAXALIGN(size);
	if (size > state->arena_free)
	{
		Size		block = Max(ARENA_BLOCK_SIZE, size);

		state->arena = big_alloc(state, block);
		state->arena_free = block;
	}
	space = state->arena;
	state->arena += size;
	state->arena_free -= size;
	return space;
}

/* Adds one row of all_numbers_sql to its line item's list; hash: of its line item. */
static void
remember_number(TrackingState *state, Datum *values, bool *nulls, uint32 hash)
{
	text	   *number = DatumGetTextPP(values[1]);
	int			len = VARSIZE_ANY_EXHDR(number);
	TrackingNumber *item = arena_alloc(state, offsetof(TrackingNumber, number) + len);
	TrackingEntry *entry;
	bool		found;

	item->has_date = !nulls[2];
	item->shipping_date = nulls[2] ? 0 : DatumGetTimestampTz(values[2]);
	memcpy(&item->uuid, DatumGetUUIDP(values[3]), sizeof(pg_uuid_t));
	item->len = len;
	memcpy(item->number, VARDATA_ANY(number), len);

	entry = tracking_insert_hash(state->cache, *DatumGetUUIDP(values[0]), hash, &found);
	if (!found)
	{
		entry->joined = false;
		entry->value = NULL;
	}
	item->next = entry->value;
	entry->value = item;
}

/* the estimated number of tracking numbers (pg_class.reltuples, else pages) */
static double
estimated_tracking_numbers(void)
{
	Oid			relid = get_relname_relid("tracking_numbers", get_namespace_oid("crux", false));
	Relation	rel;
	double		tuples;

	if (!OidIsValid(relid))
		elog(ERROR, "crux.tracking_numbers does not exist");
	rel = table_open(relid, AccessShareLock);
	tuples = rel->rd_rel->reltuples;
	if (tuples < 0)				/* never vacuumed or analyzed */
		tuples = (double) RelationGetNumberOfBlocks(rel) * 50;
	table_close(rel, AccessShareLock);
	return tuples;
}

/*
 * What n tracking numbers take in memory: the hash table simplehash sizes for n
 * entries (a power of two at its fill factor of 0.9) and, for each number, its
 * list item with a number of typical length (16 bytes).
 */
static Size
expected_cache_bytes(double n)
{
	double		buckets = pg_nextpower2_64((uint64) Min(n, 1e8) / 9 * 10 + 64);

	return (Size) (buckets * sizeof(TrackingEntry) +
				   n * MAXALIGN(offsetof(TrackingNumber, number) + 16));
}

/*
 * Reads every tracking number the caller can see into state->cache. Returns
 * false, with nothing kept, when they would take more than the hash memory limit.
 */
static bool
load_all_tracking(TrackingState *state)
{
	static SPIPlanPtr plan = NULL;
	Size		limit = get_hash_memory_limit();
	Portal		cursor;
	bool		fits = true;
	Datum	   *values;
	bool	   *nulls;
	uint32	   *hashes;

	if (expected_cache_bytes(state->tracking_numbers) > limit)
		return false;			/* decided before anything is mapped */
	values = palloc(sizeof(Datum) * 4 * FETCH_ROWS);
	nulls = palloc(sizeof(bool) * 4 * FETCH_ROWS);
	hashes = palloc(sizeof(uint32) * FETCH_ROWS);
	state->cache = tracking_create(state->cache_context,
								   (uint32) Min(state->tracking_numbers, 1e8) + 64, state);
	state->arena_free = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cursor = SPI_cursor_open(NULL, crux_kept_plan(&plan, all_numbers_sql, 0, NULL, 0),
							 NULL, NULL, true);
	while (fits)
	{
		SPI_cursor_fetch(cursor, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		/*
		 * The table is far larger than the CPU's caches, so each insert waits
		 * for memory: deform and hash the fetched rows first, then fetch the
		 * bucket of a row a few rows ahead while inserting this one.
		 */
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							  values + 4 * i, nulls + 4 * i);
			hashes[i] = hash_line_item(DatumGetUUIDP(values[4 * i]));
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			if (i + PREFETCH_DISTANCE < SPI_processed)
				prefetch_bucket(state->cache, hashes[i + PREFETCH_DISTANCE]);
			remember_number(state, values + 4 * i, nulls + 4 * i, hashes[i]);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
		fits = MemoryContextMemAllocated(state->cache_context, true) + state->big_bytes <= limit;
	}
	SPI_cursor_close(cursor);
	SPI_finish();
	pfree(values);
	pfree(nulls);
	pfree(hashes);

	if (!fits)
	{
		MemoryContextReset(state->cache_context);
		state->cache = NULL;
	}
	return fits;
}

/*
 * Two tracking numbers in the order both the API and the exports show them:
 * shipping_date NULLS LAST, tracking_number COLLATE "C", uuid.
 */
int
crux_compare_tracking_keys(const CruxTrackingKey *x, const CruxTrackingKey *y)
{
	int			c;

	if (x->has_date != y->has_date)
		return x->has_date ? -1 : 1;
	if (x->has_date && x->shipping_date != y->shipping_date)
		return x->shipping_date < y->shipping_date ? -1 : 1;
	c = memcmp(x->number, y->number, Min(x->len, y->len));
	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->uuid, y->uuid, sizeof(pg_uuid_t));
}

static int
compare_numbers(const void *a, const void *b)
{
	const TrackingNumber *x = *(TrackingNumber *const *) a;
	const TrackingNumber *y = *(TrackingNumber *const *) b;
	CruxTrackingKey kx = {x->has_date, x->shipping_date, x->number, x->len, &x->uuid};
	CruxTrackingKey ky = {y->has_date, y->shipping_date, y->number, y->len, &y->uuid};

	return crux_compare_tracking_keys(&kx, &ky);
}

/* Joins an entry's list into its text, once; returns the text. */
static text *
joined_numbers(TrackingState *state, TrackingEntry *entry)
{
	TrackingNumber *list = entry->value;
	TrackingNumber **items;
	int			n = 0;
	Size		len = 0;
	text	   *result;
	char	   *out;

	if (entry->joined)
		return entry->value;
	for (TrackingNumber *item = list; item != NULL; item = item->next)
	{
		n++;
		len += item->len + (n > 1 ? 2 : 0);
	}
	items = palloc(sizeof(TrackingNumber *) * n);
	n = 0;
	for (TrackingNumber *item = list; item != NULL; item = item->next)
		items[n++] = item;
	if (n > 1)
		qsort(items, n, sizeof(TrackingNumber *), compare_numbers);

	result = arena_alloc(state, VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	out = VARDATA(result);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
		{
			memcpy(out, "; ", 2);
			out += 2;
		}
		memcpy(out, items[i]->number, items[i]->len);
		out += items[i]->len;
	}
	pfree(items);
	entry->value = result;
	entry->joined = true;
	return result;
}

/*
 * Starts answering one query's tracking numbers, in a child of parent that lives
 * as long as the query. expected_calls: how many line items the query will ask
 * for, or -1 when it does not know.
 */
CruxTracking *
crux_tracking_begin(MemoryContext parent, int64 expected_calls)
{
	TrackingState *state = MemoryContextAllocZero(parent, sizeof(TrackingState));

	state->mode = TRACKING_LOOKUP;
	state->tracking_numbers = estimated_tracking_numbers();
	state->lookups_before_loading = (int64) (state->tracking_numbers / 10);
	if (expected_calls >= state->lookups_before_loading)
		state->lookups_before_loading = 0;
	state->cache_context = AllocSetContextCreate(parent,
												 "crux_orders tracking numbers",
												 ALLOCSET_DEFAULT_SIZES);
	return state;
}

/*
 * The line item's joined tracking numbers, or NULL when it has none. From memory
 * the text points into the cache, which lives as long as the query; looked up,
 * it is allocated in the current memory context.
 */
text *
crux_tracking_text(CruxTracking *state, Datum line_item)
{
	Datum		result;
	bool		isnull;

	if (state->mode == TRACKING_LOOKUP && state->lookups >= state->lookups_before_loading)
		state->mode = load_all_tracking(state) ? TRACKING_IN_MEMORY : TRACKING_LOOKUP_ONLY;

	if (state->mode == TRACKING_IN_MEMORY)
	{
		TrackingEntry *entry = tracking_lookup(state->cache, *DatumGetUUIDP(line_item));

		return entry == NULL ? NULL : joined_numbers(state, entry);
	}

	state->lookups++;
	result = look_up_tracking(line_item, &isnull);
	return isnull ? NULL : DatumGetTextPP(result);
}

/*
 * Tells the state which line items are asked for next (a batch of an export), so
 * that their hash buckets and their numbers are on their way into the CPU's cache
 * when crux_tracking_text asks: from memory each lookup otherwise waits for two
 * or three cache misses in a table far larger than the cache. Only a hint.
 */
void
crux_tracking_prefetch(CruxTracking *state, const Datum *line_items, int n)
{
	if (state->mode == TRACKING_LOOKUP && state->lookups >= state->lookups_before_loading)
		state->mode = load_all_tracking(state) ? TRACKING_IN_MEMORY : TRACKING_LOOKUP_ONLY;
	if (state->mode != TRACKING_IN_MEMORY)
		return;
	for (int i = 0; i < n; i++)
		prefetch_bucket(state->cache, hash_line_item(DatumGetUUIDP(line_items[i])));
	for (int i = 0; i < n; i++)
	{
		TrackingEntry *entry = tracking_lookup(state->cache, *DatumGetUUIDP(line_items[i]));

		if (entry != NULL)
			__builtin_prefetch(entry->value);
	}
}

/* crux.line_item_tracking's state, per call site, in fn_extra */
static Datum
line_item_tracking(FunctionCallInfo fcinfo)
{
	text	   *numbers;

	if (PG_ARGISNULL(0))		/* an order without line items */
		PG_RETURN_NULL();
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra =
			crux_tracking_begin(fcinfo->flinfo->fn_mcxt,
								PG_NARGS() > 1 && !PG_ARGISNULL(1) ? PG_GETARG_INT64(1) : -1);
	numbers = crux_tracking_text(fcinfo->flinfo->fn_extra, PG_GETARG_DATUM(0));
	if (numbers == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(numbers);
}

PG_FUNCTION_INFO_V1(crux_line_item_tracking);

/* crux.line_item_tracking(uuid, expected_calls bigint DEFAULT NULL) returns text */
Datum
crux_line_item_tracking(PG_FUNCTION_ARGS)
{
	return line_item_tracking(fcinfo);
}
