/*
 * summaries.c
 *		The per-order summaries' entry point in C: a new order starts with empty
 *		summaries whatever its INSERT says (its line items add their counts).
 *		Written in C because it runs once per inserted order, bulk loads included;
 *		the rest of the summary maintenance is set-based SQL in the install script.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "crux_orders.h"
#include "fmgr.h"

static const char *const summary_columns[] = {
	"n_unallocated", "n_allocated", "n_rejected", "n_has_tracking",
	"n_backordered", "n_delivered", "n_cancelled", "min_sku_id"
};

#define N_SUMMARY_COLUMNS lengthof(summary_columns)

PG_FUNCTION_INFO_V1(crux_orders_reset_summaries);

/* BEFORE INSERT ... FOR EACH ROW on crux.orders */
Datum
crux_orders_reset_summaries(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	int			columns[N_SUMMARY_COLUMNS];
	Datum		values[N_SUMMARY_COLUMNS];
	bool		nulls[N_SUMMARY_COLUMNS];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "crux_orders_reset_summaries must run BEFORE INSERT FOR EACH ROW");

	tupdesc = trigdata->tg_relation->rd_att;
	for (int i = 0; i < (int) N_SUMMARY_COLUMNS; i++)
	{
		columns[i] = SPI_fnumber(tupdesc, summary_columns[i]);
		if (columns[i] <= 0)
			elog(ERROR, "column \"%s\" of crux.orders not found", summary_columns[i]);
		values[i] = Int32GetDatum(0);
		nulls[i] = (i == (int) N_SUMMARY_COLUMNS - 1);	/* min_sku_id: NULL */
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_trigtuple, tupdesc,
													 N_SUMMARY_COLUMNS, columns,
													 values, nulls));
}
