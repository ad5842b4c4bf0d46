/*
 * skus.c
 *		Which SKUs crux.sku_orders holds (crux.tracked_skus, filled by
 *		crux.track_skus() or a superuser): the list as committed now, for the
 *		triggers, and whether one SKU is held, for a term's query (and whether
 *		the database keeps the table at all: not before version 1.12).
 *
 * The triggers read the list under the latest snapshot, not their transaction's:
 * a change of the list locks the orders and line items, so it is never in
 * progress while a writer's trigger runs, but it may have committed since the
 * writer's snapshot was taken. A READ COMMITTED writer then sees its rows and
 * adds its own from the list as committed now. A REPEATABLE READ or SERIALIZABLE
 * writer would not see the rows it must change, so it gets a serialization
 * failure, to be retried as its isolation level requires.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
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

/* The table (or index) crux.<name>, or InvalidOid. */
Oid
crux_table_oid(const char *name)
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
	return OidIsValid(crux_table_oid("sku_orders"));
}

static Relation
open_tracked_skus(void)
{
	Oid			relid = crux_table_oid("tracked_skus");

	if (!OidIsValid(relid))
		elog(ERROR, "crux.tracked_skus not found");
	return table_open(relid, AccessShareLock);
}

/* The tracked SKUs in snapshot, in the order the table holds them. */
static ArrayType *
read_tracked_skus(Relation rel, Snapshot snapshot)
{
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
	return DatumGetArrayTypeP(makeArrayResult(skus, CurrentMemoryContext));
}

static int
compare_skus(const void *a, const void *b)
{
	return DatumGetInt32(DirectFunctionCall2Coll(bttextcmp, C_COLLATION_OID,
												 *(const Datum *) a,
												 *(const Datum *) b));
}

/* Whether two lists that read_tracked_skus() returned hold the same SKUs. */
static bool
same_skus(ArrayType *a, ArrayType *b)
{
	Datum	   *a_skus;
	Datum	   *b_skus;
	int			n_a;
	int			n_b;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &a_skus, NULL, &n_a);
	deconstruct_array(b, TEXTOID, -1, false, TYPALIGN_INT, &b_skus, NULL, &n_b);
	if (n_a != n_b)
		return false;
	qsort(a_skus, n_a, sizeof(Datum), compare_skus);
	qsort(b_skus, n_b, sizeof(Datum), compare_skus);
	for (int i = 0; i < n_a; i++)
		if (compare_skus(&a_skus[i], &b_skus[i]) != 0)
			return false;
	return true;
}

/*
 * crux.tracked_skus_now() returns text[]: every tracked SKU, as committed now;
 * under REPEATABLE READ or SERIALIZABLE, a serialization failure when that list
 * differs from the transaction's (SKUs tracked or untracked since its snapshot).
 */
Datum
crux_tracked_skus_now(PG_FUNCTION_ARGS)
{
	Relation	rel = open_tracked_skus();
	Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());
	ArrayType  *skus = read_tracked_skus(rel, latest);

	UnregisterSnapshot(latest);
	if (IsolationUsesXactSnapshot() &&
		!same_skus(skus, read_tracked_skus(rel, GetTransactionSnapshot())))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of crux.tracked_skus"),
				 errdetail("SKUs were tracked or untracked after this transaction's snapshot was taken, so it cannot see their orders' rows as they are."),
				 errhint("The transaction might succeed if retried.")));
	table_close(rel, AccessShareLock);
	PG_RETURN_ARRAYTYPE_P(skus);
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
