/*
 * export.c
 *		Exports, the database side: crux_export_orders queues an export job and
 *		announces it with NOTIFY; crux.export_order_uuids is the selection an export
 *		covers, which crux_export_rows (SQL, in the install script) turns into flat
 *		rows. The worker program (crux-export-worker) does the rest.
 *
 * Both validate the request exactly as crux_get_orders does, plus "fields", and
 * have no page cap. They run as the caller, so row-level security applies.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "crux_orders.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

/* how many order uuids an export's selection is fetched by */
#define UUIDS_PER_FETCH 10000

#define EXPORT_CHANNEL "crux_orders_export"

static Datum
fields_array(const CruxRequest *req)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(req->n_fields, 1));

	for (int i = 0; i < req->n_fields; i++)
		elems[i] = CStringGetTextDatum(req->fields[i]);
	return PointerGetDatum(construct_array(elems, req->n_fields, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Records the job (the insert trigger fills in who asks) and queues the
 * notification, both inside the caller's transaction. Returns the job's uuid as
 * text, in the caller's memory context.
 */
static char *
queue_export_job(Jsonb *request, const CruxRequest *req)
{
	static SPIPlanPtr insert_plan = NULL;
	Oid			argtypes[2] = {JSONBOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	char	   *uuid;
	char	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	crux_kept_plan(&insert_plan, "INSERT INTO crux.export_jobs (request, fields)"
				   " VALUES ($1, $2) RETURNING uuid", 2, argtypes, 0);
	values[0] = JsonbPGetDatum(request);
	if (req->n_fields > 0)
		values[1] = fields_array(req);
	else
		nulls[1] = 'n';
	if (SPI_execute_plan(insert_plan, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not record the export job");

	uuid = DatumGetCString(DirectFunctionCall1(uuid_out,
											   SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1,
															 &isnull)));
	Async_Notify(EXPORT_CHANNEL, psprintf("{\"uuid\": \"%s\"}", uuid));
	result = SPI_palloc(strlen(uuid) + 1);
	strcpy(result, uuid);
	SPI_finish();
	return result;
}

static Jsonb *
uuid_response(const char *uuid)
{
	JsonbParseState *state = NULL;
	JsonbValue	k,
				v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "uuid";
	k.val.string.len = 4;
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) uuid;
	v.val.string.len = strlen(uuid);
	pushJsonbValue(&state, WJB_VALUE, &v);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* queue_export_job's arguments, for crux_call_with_timeout */
typedef struct QueueCall
{
	Jsonb	   *request;
	const CruxRequest *req;
} QueueCall;

static Datum
queue_call(void *arg)
{
	QueueCall  *q = arg;

	return PointerGetDatum(uuid_response(queue_export_job(q->request, q->req)));
}

PG_FUNCTION_INFO_V1(crux_export_orders);

/* crux_export_orders(jsonb) returns jsonb: {"uuid": "<export uuid>"} */
Datum
crux_export_orders(PG_FUNCTION_ARGS)
{
	Jsonb	   *request = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	CruxRequest req;

	crux_parse_request(request, CRUX_REQUEST_EXPORT, &req);
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot queue an export on a standby"),
				 errdetail("crux_export_orders records a job, and this server is a read-only hot standby."),
				 errhint("Call crux_export_orders on the primary; crux-export-worker --read-dsn can read the export from a standby.")));
	if (request == NULL)
		request = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	PG_RETURN_DATUM(crux_call_with_timeout(queue_call, &(QueueCall) {request, &req}));
}

/*
 * Returns, as a materialized set, the uuids of the orders at positions
 * [first, first + count) of the export's selection (count < 0: to the end),
 * fetched from a cursor a batch at a time into the tuplestore, which keeps
 * work_mem in memory and the rest on disk.
 */
static void
return_order_uuids(FunctionCallInfo fcinfo, const CruxRequest *req, int64 first,
				   int64 count)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Portal		cursor;
	uint64		fetched;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cursor = crux_open_order_uuid_cursor(req, first, count, false);
	do
	{
		MemoryContext oldcontext;

		SPI_cursor_fetch(cursor, true, UUIDS_PER_FETCH);
		fetched = SPI_processed;
		oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		for (uint64 i = 0; i < fetched; i++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											  1, &isnull);

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		}
		MemoryContextSwitchTo(oldcontext);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	} while (fetched == UUIDS_PER_FETCH);
	SPI_cursor_close(cursor);
	SPI_finish();
}

int64
crux_slice_bound(FunctionCallInfo fcinfo, int argno, const char *name, int64 if_null)
{
	int64		value;

	if (PG_ARGISNULL(argno))
		return if_null;
	value = PG_GETARG_INT64(argno);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid \"%s\": %lld", name, (long long) value),
				 errhint("Slices start at position 0 and hold 0 or more orders.")));
	return value;
}

PG_FUNCTION_INFO_V1(crux_export_order_uuids_1_8);
PG_FUNCTION_INFO_V1(crux_export_order_uuids_slice_1_8);
PG_FUNCTION_INFO_V1(crux_export_order_count_1_8);

/*
 * crux.export_order_uuids(jsonb) returns setof uuid: the orders an export of this
 * request covers, in the request's sort order.
 */
Datum
crux_export_order_uuids_1_8(PG_FUNCTION_ARGS)
{
	CruxRequest req;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_EXPORT, &req);
	return_order_uuids(fcinfo, &req, 0, -1);
	return (Datum) 0;
}

/*
 * crux.export_order_uuids(jsonb, first bigint, count bigint) returns setof uuid:
 * a slice of that selection, positions [first, first + count); NULL count means
 * to the end. The worker exports large selections as slices in parallel.
 */
Datum
crux_export_order_uuids_slice_1_8(PG_FUNCTION_ARGS)
{
	CruxRequest req;
	int64		first;
	int64		count;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_EXPORT, &req);
	first = crux_slice_bound(fcinfo, 1, "first", 0);
	count = crux_slice_bound(fcinfo, 2, "count", -1);
	return_order_uuids(fcinfo, &req, first, count);
	return (Datum) 0;
}

/* crux.export_order_count(jsonb) returns bigint: how many orders it covers. */
Datum
crux_export_order_count_1_8(PG_FUNCTION_ARGS)
{
	CruxRequest req;
	int64		count;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_EXPORT, &req);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	count = crux_count_export_orders(&req);
	SPI_finish();
	PG_RETURN_INT64(count);
}

PG_FUNCTION_INFO_V1(crux_export_merge_bounds_1_9);

/*
 * crux.export_merge_bounds(jsonb, OUT start bigint, OUT "limit" bigint, OUT
 * ascending boolean): how the parts of an export merge into one selection (its
 * positions [start, limit), limit NULL for none, and the sort's direction), for
 * the worker that joins an admin's export across shards.
 */
Datum
crux_export_merge_bounds_1_9(PG_FUNCTION_ARGS)
{
	CruxRequest req;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_EXPORT, &req);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crux.export_merge_bounds must return a composite type");
	values[0] = Int64GetDatum(req.start);
	values[1] = Int64GetDatum(req.limit);
	nulls[1] = !req.has_limit;
	values[2] = BoolGetDatum(req.sort_asc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
