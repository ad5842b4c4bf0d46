/*
 * skus.c
 *		Which SKUs crux.sku_orders holds (crux.tracked_skus, filled by
 *		crux.track_skus()): the list as committed now, for the triggers, and
 *		whether one SKU is held, for a term's query (and whether the database
 *		keeps the table at all: not before version 1.12).
 *
 * The triggers read the list under the latest snapshot, not their transaction's:
 * crux.track_skus() locks the orders and line items, so it is never in progress
 * while a writer's trigger runs, but it may have committed since the writer's
 * snapshot was taken. A READ COMMITTED writer then sees its rows and adds its own
 * from the list as committed now. A REPEATABLE READ or SERIALIZABLE writer would
 * not see the rows it must change, so it gets a serialization failure, to be
 * retried as its isolation level requires.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(crux_tracked_skus_now);

/* The table crux.<name>, or InvalidOid. */
static Oid
crux_table(const char *name)
{
	Oid			schema = get_namespace_oid("crux", true);

	return OidIsValid(schema) ? get_relname_relid(name, schema) : InvalidOid;
}

/*
 * Whether this database keeps crux.sku_orders (version 1.12 on; before
 * ALTER EXTENSION UPDATE, a term's SKU is found from the line items instead).
 */
bool
crux_sku_orders_kept(void)
{
	return OidIsValid(crux_table("sku_orders"));
}

static Relation
open_tracked_skus(void)
{
	Oid			relid = crux_table("tracked_skus");

	if (!OidIsValid(relid))
		elog(ERROR, "crux.tracked_skus not found");
	return table_open(relid, AccessShareLock);
}

/* The tracked SKUs in snapshot (into *skus when not NULL); how many. */
static int
read_tracked_skus(Relation rel, Snapshot snapshot, ArrayBuildState *skus)
{
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	HeapTuple	tuple;
	int			n = 0;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		sku = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		if (skus != NULL && !isnull)
			accumArrayResult(skus, sku, false, TEXTOID, CurrentMemoryContext);
		n++;
	}
	systable_endscan(scan);
	return n;
}

/*
 * crux.tracked_skus_now() returns text[]: every tracked SKU, as committed now;
 * under REPEATABLE READ or SERIALIZABLE, a serialization failure when that list
 * differs from the transaction's (only crux.track_skus() changes it, adding).
 */
Datum
crux_tracked_skus_now(PG_FUNCTION_ARGS)
{
	Relation	rel = open_tracked_skus();
	Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());
	ArrayBuildState *skus = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	int			n = read_tracked_skus(rel, latest, skus);

	UnregisterSnapshot(latest);
	if (IsolationUsesXactSnapshot() &&
		read_tracked_skus(rel, GetTransactionSnapshot(), NULL) != n)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent crux.track_skus()"),
				 errdetail("SKUs were tracked after this transaction's snapshot was taken; their orders' rows are not visible to it."),
				 errhint("The transaction might succeed if retried.")));
	table_close(rel, AccessShareLock);
	PG_RETURN_DATUM(makeArrayResult(skus, CurrentMemoryContext));
}

/*
 * Whether crux.sku_orders holds this SKU's orders, in the current query's
 * snapshot: read here, not granted to tenants as a table or function, since the
 * list says which SKUs all retailers together sell most.
 */
bool
crux_sku_is_tracked(const char *sku)
{
	Relation	rel = open_tracked_skus();
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(sku));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  GetActiveSnapshot(), 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
