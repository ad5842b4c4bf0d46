/*
 * skus.c
 *		Which SKUs crux.sku_orders holds (crux.tracked_skus, filled by
 *		crux.track_skus()): the list as committed now, for the line-item triggers,
 *		and whether one SKU is held, for a term's query.
 *
 * The triggers read the list under the latest snapshot, not their transaction's:
 * a REPEATABLE READ writer whose snapshot predates a crux.track_skus() that has
 * since committed must still add its line items' rows for the SKUs tracked
 * there (crux.track_skus() locks the orders and line items, so it is never in
 * progress while a writer's trigger runs).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
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
PG_FUNCTION_INFO_V1(crux_sku_is_tracked);

static Relation
open_tracked_skus(void)
{
	Oid			relid = get_relname_relid("tracked_skus", get_namespace_oid("crux", false));

	if (!OidIsValid(relid))
		elog(ERROR, "crux.tracked_skus not found");
	return table_open(relid, AccessShareLock);
}

/* crux.tracked_skus_now() returns text[]: every tracked SKU, as committed now */
Datum
crux_tracked_skus_now(PG_FUNCTION_ARGS)
{
	Relation	rel = open_tracked_skus();
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	ArrayBuildState *skus = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		sku = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		if (!isnull)
			accumArrayResult(skus, sku, false, TEXTOID, CurrentMemoryContext);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	PG_RETURN_DATUM(makeArrayResult(skus, CurrentMemoryContext));
}

/*
 * crux.sku_is_tracked(sku text) returns boolean: whether crux.sku_orders holds
 * this SKU's orders, in the caller's snapshot. Any role may ask about a SKU it
 * names; the list itself stays unreadable to tenants.
 */
Datum
crux_sku_is_tracked(PG_FUNCTION_ARGS)
{
	text	   *sku = PG_GETARG_TEXT_PP(0);
	Relation	rel = open_tracked_skus();
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(sku));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  GetActiveSnapshot(), 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	PG_RETURN_BOOL(found);
}
