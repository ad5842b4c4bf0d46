/*
 * versions.c
 *		The entry points that the SQL objects of versions before 1.8 bind. This
 *		library serves 1.8 to 1.18 (1.9 binds 1.8's entry points and adds its
 *		own, 1.10 one more: crux_order_in_page, 1.11 crux_line_item_in_page,
 *		1.15 crux_orders_hold_summaries_1_15 in place of 1.14's); a
 *		database still at an older version gets an error that names its version
 *		and ALTER EXTENSION crux_orders UPDATE, which brings it to the current
 *		version (its data stays; the update converts it).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "crux_orders.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

/* The installed version of crux_orders in this database, or "unknown". */
static char *
installed_version(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = pstrdup("unknown");

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("crux_orders"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

static void
reject_old_version(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("crux_orders in this database is at version %s; this library serves version %s",
					installed_version(), CRUX_VERSION),
			 errdetail("The library was installed, but the database's objects were not updated."),
			 errhint("Run ALTER EXTENSION crux_orders UPDATE in this database.")));
}

#define OLD_ENTRY_POINT(name) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		reject_old_version(); \
		PG_RETURN_NULL(); \
	}

/* crux_get_orders: 1.0, 1.1, 1.2 to 1.6, 1.7 */
OLD_ENTRY_POINT(crux_get_orders)
OLD_ENTRY_POINT(crux_get_orders_1_1)
OLD_ENTRY_POINT(crux_get_orders_1_2)
OLD_ENTRY_POINT(crux_get_orders_1_7)

/* the export's selection: 1.0 and 1.1, 1.2 to 1.6, 1.7 */
OLD_ENTRY_POINT(crux_export_order_uuids)
OLD_ENTRY_POINT(crux_export_order_uuids_slice)
OLD_ENTRY_POINT(crux_export_order_count)
OLD_ENTRY_POINT(crux_export_order_uuids_1_2)
OLD_ENTRY_POINT(crux_export_order_uuids_slice_1_2)
OLD_ENTRY_POINT(crux_export_order_count_1_2)
OLD_ENTRY_POINT(crux_export_order_uuids_1_7)
OLD_ENTRY_POINT(crux_export_order_uuids_slice_1_7)
OLD_ENTRY_POINT(crux_export_order_count_1_7)

/* the worker's CSV in COPY's bytes: 1.5 to 1.7 */
OLD_ENTRY_POINT(crux_export_csv)
