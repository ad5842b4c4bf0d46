/*
 * index_count.c
 *		How many of an organization's orders lie in a time range, counted from
 *		an index by retailer and date without the executor: crux.orders'
 *		(retailer_uuid, created_date, uuid), or, with a status filter, the
 *		summaries' (retailer_uuid, created_day, status_mask) INCLUDE (order_uuid,
 *		created_date), each entry's mask and time tested in the index. Leaf page
 *		by leaf page, the range's ends found by binary search, each entry between
 *		them counted when its row is visible in the active snapshot (all-visible
 *		in the visibility map, or else read from the heap, as an index-only scan
 *		decides it).
 *
 * The caller decides whose orders these are: this bypasses row-level security,
 * and counts only the organizations it is given (totals.c gives those the role
 * sees, only while the tables have the extension's policies and no other, and
 * only to a role that may read them).
 *
 * The walk follows the leaf pages' right-links as a btree scan does (each read
 * while its page is locked, so that entries a concurrent split moves right are
 * not counted twice), and keeps each leaf pinned while its entries' rows are
 * checked, so that VACUUM cannot remove a row and reuse its place meanwhile.
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "count_ranges.h"
#include "crux_orders.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "rewrite/rowsecurity.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

/* An index this file counts from, and its table. */
typedef struct CountedIndex
{
	const char *table;
	const char *index;
	Oid			second_key_type;	/* the date's: TIMESTAMPTZOID or DATEOID */
	bool		with_masks;		/* status_mask third, created_date fifth */
} CountedIndex;

static const CountedIndex orders_by_date =
{"orders", "orders_retailer_date_idx", TIMESTAMPTZOID, false};
static const CountedIndex summaries_by_day =
{"order_summaries", "order_summaries_retailer_day_idx", DATEOID, true};

/* An open walk: the index, its table, what checks an entry's row, the filter. */
typedef struct RangeCounter
{
	Relation	index;
	Relation	heap;
	Snapshot	snapshot;
	Buffer		vmbuf;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	int			mask;			/* with_masks: the status filter */
	CruxConjunction conjunction;
	bool		tests_instant;	/* with_masks: created_date in [from, to) too */
	TimestampTz from;
	TimestampTz to;
	bool		ignore_killed;	/* entries marked dead are (not on a standby) */
	ItemPointerData tids[MaxTIDsPerBTreePage];
} RangeCounter;

/* Whether the index is a btree with the columns of ci, as the extension's scripts create it. */
static bool
is_counted_index(Relation index, const CountedIndex *ci)
{
	TupleDesc	desc = RelationGetDescr(index);
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);

	if (index->rd_rel->relam != BTREE_AM_OID || nkeys < 2 ||
		TupleDescAttr(desc, 0)->atttypid != UUIDOID ||
		TupleDescAttr(desc, 1)->atttypid != ci->second_key_type ||
		index->rd_indoption[0] != 0 || index->rd_indoption[1] != 0)
		return false;
	if (!ci->with_masks)
		return RelationGetIndexPredicate(index) == NIL;
	return nkeys == 3 && IndexRelationGetNumberOfAttributes(index) == 5 &&
		TupleDescAttr(desc, 2)->atttypid == INT2OID &&
		TupleDescAttr(desc, 4)->atttypid == TIMESTAMPTZOID;
}

/* The insertion key (retailer, date): the first two key columns. */
static BTScanInsert
retailer_date_key(Relation index, const pg_uuid_t *retailer, Datum date)
{
	Datum		values[INDEX_MAX_KEYS] = {0};
	bool		isnull[INDEX_MAX_KEYS];
	IndexTuple	itup;
	BTScanInsert key;

	for (int i = 0; i < INDEX_MAX_KEYS; i++)
		isnull[i] = true;
	values[0] = UUIDPGetDatum(retailer);
	isnull[0] = false;
	values[1] = date;
	isnull[1] = false;
	itup = index_form_tuple(RelationGetDescr(index), values, isnull);
	key = _bt_mkscankey(index, itup);
	key->keysz = 2;
	key->scantid = NULL;
	key->nextkey = false;
	pfree(itup);
	return key;
}

/* The first entry of the leaf page at or after key (past the last one when none is). */
static OffsetNumber
first_entry_not_before(Relation index, BTScanInsert key, Page page)
{
	OffsetNumber low = P_FIRSTDATAKEY(BTPageGetOpaque(page));
	OffsetNumber high = PageGetMaxOffsetNumber(page) + 1;

	while (low < high)
	{
		OffsetNumber mid = low + (high - low) / 2;

		if (_bt_compare(index, key, page, mid) > 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/* Whether a summaries' entry passes the status filter and the time range. */
static bool
entry_matches(RangeCounter *rc, IndexTuple itup)
{
	TupleDesc	desc = RelationGetDescr(rc->index);
	bool		isnull;
	Datum		mask = index_getattr(itup, 3, desc, &isnull);
	TimestampTz at;

	if (isnull || !crux_mask_matches(DatumGetInt16(mask), rc->mask, rc->conjunction))
		return false;
	if (!rc->tests_instant)
		return true;
	at = DatumGetTimestampTz(index_getattr(itup, 5, desc, &isnull));
	return !isnull && at >= rc->from && at < rc->to;
}

/*
 * Copies the heap TIDs of the live entries [from, to) of the leaf page that the
 * filter keeps; their number.
 */
static int
copy_entry_tids(RangeCounter *rc, Page page, OffsetNumber from, OffsetNumber to)
{
	int			n = 0;

	for (OffsetNumber off = from; off < to; off++)
	{
		ItemId		iid = PageGetItemId(page, off);
		IndexTuple	itup;

		if (ItemIdIsDead(iid) && rc->ignore_killed)
			continue;			/* its row is dead to every snapshot */
		itup = (IndexTuple) PageGetItem(page, iid);
		if (rc->mask != 0 && !entry_matches(rc, itup))
			continue;
		if (BTreeTupleIsPosting(itup))
		{
			for (int i = 0; i < BTreeTupleGetNPosting(itup); i++)
				rc->tids[n++] = *BTreeTupleGetPostingN(itup, i);
		}
		else
			rc->tids[n++] = itup->t_tid;
	}
	return n;
}

/* How many of the TIDs' orders the snapshot sees. */
static int64
count_visible(RangeCounter *rc, int n)
{
	int64		visible = 0;

	for (int i = 0; i < n; i++)
	{
		ItemPointer tid = &rc->tids[i];
		bool		call_again = false;
		bool		all_dead = false;

		if (VM_ALL_VISIBLE(rc->heap, ItemPointerGetBlockNumber(tid), &rc->vmbuf))
			visible++;
		else if (table_index_fetch_tuple(rc->fetch, tid, rc->snapshot, rc->slot,
										 &call_again, &all_dead))
			visible++;
	}
	return visible;
}

/*
 * The visible entries of one retailer in [from, to) that the filter keeps: from
 * the leaf where (retailer, from) would be, rightwards until an entry at or after
 * (retailer, to).
 */
static int64
count_retailer_range(RangeCounter *rc, const pg_uuid_t *retailer, Datum from, Datum to)
{
	BTScanInsert lower = retailer_date_key(rc->index, retailer, from);
	BTScanInsert upper = retailer_date_key(rc->index, retailer, to);
	Buffer		buf;
	BTStack		stack = _bt_search(rc->index, lower, &buf, BT_READ, rc->snapshot);
	int64		count = 0;
	bool		first_page = true;

	_bt_freestack(stack);
	while (BufferIsValid(buf))
	{
		Page		page = BufferGetPage(buf);
		BTPageOpaque opaque = BTPageGetOpaque(page);
		BlockNumber next = opaque->btpo_next;
		bool		last = P_RIGHTMOST(opaque);
		int			n = 0;

		if (!P_IGNORE(opaque))	/* else a deleted page: go on right */
		{
			OffsetNumber start = first_page ? first_entry_not_before(rc->index, lower, page)
				: P_FIRSTDATAKEY(opaque);
			OffsetNumber end = first_entry_not_before(rc->index, upper, page);

			n = copy_entry_tids(rc, page, start, Max(start, end));
			last = last || end <= PageGetMaxOffsetNumber(page);
			first_page = false;
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		count += count_visible(rc, n);	/* the leaf still pinned */
		ReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
		buf = last ? InvalidBuffer : _bt_getbuf(rc->index, next, BT_READ);
	}
	pfree(lower);
	pfree(upper);
	return count;
}

/*
 * Whether the table's row-level security is the extension's: enabled and forced,
 * with its two permissive policies, "admin" and "organization", and no other
 * (which the caller's choice of retailers would not know about).
 */
static bool
has_the_extensions_policies(Relation table)
{
	ListCell   *lc;
	int			n = 0;

	if (!table->rd_rel->relrowsecurity || !table->rd_rel->relforcerowsecurity ||
		table->rd_rsdesc == NULL)
		return false;
	foreach(lc, table->rd_rsdesc->policies)
	{
		RowSecurityPolicy *policy = (RowSecurityPolicy *) lfirst(lc);

		if (!policy->permissive ||
			(strcmp(policy->policy_name, "admin") != 0 &&
			 strcmp(policy->policy_name, "organization") != 0))
			return false;
		n++;
	}
	return n == 2;
}

/*
 * Whether the current role may count from ci: it may read the table (else the
 * query this replaces raises the error), whose row-level security is the
 * extension's, and the index is there as the extension's scripts create it.
 */
static bool
can_count_from(const CountedIndex *ci)
{
	Oid			table = crux_table_oid(ci->table);
	Oid			index = crux_table_oid(ci->index);
	Relation	rel;
	bool		usable;

	if (!OidIsValid(table) || !OidIsValid(index) ||
		pg_class_aclcheck(table, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	rel = table_open(table, AccessShareLock);
	usable = has_the_extensions_policies(rel);
	table_close(rel, AccessShareLock);
	if (!usable)
		return false;
	rel = index_open(index, AccessShareLock);
	usable = rel->rd_index->indrelid == table && is_counted_index(rel, ci);
	index_close(rel, AccessShareLock);
	return usable;
}

/* Whether crux_count_from_index can count, with a status filter or without. */
bool
crux_can_count_from_index(bool with_status_filter)
{
	return can_count_from(with_status_filter ? &summaries_by_day : &orders_by_date);
}

/* Opens a walk of ci in the active snapshot. */
static RangeCounter *
begin_counting(const CountedIndex *ci)
{
	RangeCounter *rc = palloc0(sizeof(RangeCounter));

	rc->snapshot = GetActiveSnapshot();
	if (!IsMVCCSnapshot(rc->snapshot))
		elog(ERROR, "counting orders needs an MVCC snapshot");
	rc->heap = table_open(crux_table_oid(ci->table), AccessShareLock);
	rc->index = index_open(crux_table_oid(ci->index), AccessShareLock);
	if (!is_counted_index(rc->index, ci))
		elog(ERROR, "crux.%s is not the index by retailer and date", ci->index);
	if (IsolationIsSerializable())
		PredicateLockRelation(rc->index, rc->snapshot);
	rc->vmbuf = InvalidBuffer;
	/* as a btree scan: a standby's may be marked dead by the primary's horizon */
	rc->ignore_killed = !TransactionStartedDuringRecovery();
	rc->fetch = table_index_fetch_begin(rc->heap);
	rc->slot = table_slot_create(rc->heap, NULL);
	return rc;
}

static void
end_counting(RangeCounter *rc)
{
	ExecDropSingleTupleTableSlot(rc->slot);
	table_index_fetch_end(rc->fetch);
	if (BufferIsValid(rc->vmbuf))
		ReleaseBuffer(rc->vmbuf);
	index_close(rc->index, AccessShareLock);
	table_close(rc->heap, AccessShareLock);
	pfree(rc);
}

/*
 * The orders of one retailer in the ranges: without a status filter from the
 * orders' index, days as their UTC midnights; with one from the summaries' by
 * day, a part of a day as its day with each entry's created_date tested.
 */
static int64
count_retailer_ranges(RangeCounter *rc, const pg_uuid_t *retailer, const CruxCountedRanges *r)
{
	int64		count = 0;

	for (int i = 0; i < r->n_days; i++)
	{
		if (r->day_from[i] >= r->day_to[i])
			continue;
		if (rc->mask == 0)
			count += count_retailer_range(rc, retailer,
										  TimestampTzGetDatum(crux_midnight(r->day_from[i])),
										  TimestampTzGetDatum(crux_midnight(r->day_to[i])));
		else
			count += count_retailer_range(rc, retailer, DateADTGetDatum(r->day_from[i]),
										  DateADTGetDatum(r->day_to[i]));
	}
	for (int i = 0; i < r->n_instants; i++)
	{
		DateADT		day;

		if (!IS_VALID_TIMESTAMP(r->from[i]) || !IS_VALID_TIMESTAMP(r->to[i]) ||
			r->from[i] >= r->to[i])
			continue;
		if (rc->mask == 0)
		{
			count += count_retailer_range(rc, retailer, TimestampTzGetDatum(r->from[i]),
										  TimestampTzGetDatum(r->to[i]));
			continue;
		}
		day = crux_day_floor(r->from[i]);
		Assert(crux_day_floor(r->to[i] - 1) == day);
		rc->tests_instant = true;
		rc->from = r->from[i];
		rc->to = r->to[i];
		count += count_retailer_range(rc, retailer, DateADTGetDatum(day),
									  DateADTGetDatum(day + 1));
		rc->tests_instant = false;
	}
	return count;
}

/*
 * The orders of the retailers that the active snapshot sees in the ranges (each
 * part of a day within one day), and, with mask, that match the status filter.
 * Row-level security does not apply: the caller passes only retailers the role
 * sees, after crux_can_count_from_index.
 */
int64
crux_count_from_index(const pg_uuid_t *retailers, int n_retailers, int mask,
					  CruxConjunction conjunction, const CruxCountedRanges *ranges)
{
	bool		pushed = mask != 0 && crux_see_held_summaries();
	RangeCounter *rc = begin_counting(mask != 0 ? &summaries_by_day : &orders_by_date);
	int64		count = 0;

	rc->mask = mask;
	rc->conjunction = conjunction;
	for (int r = 0; r < n_retailers; r++)
		count += count_retailer_ranges(rc, &retailers[r], ranges);
	end_counting(rc);
	if (pushed)
		PopActiveSnapshot();
	return count;
}
