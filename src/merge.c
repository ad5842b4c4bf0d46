/*
 * merge.c
 *		The shards' side of crux_orders_proxy's merges of an admin's page across
 *		shards: each shard gives the keys of its orders from position 0 to the
 *		page's end (crux.get_order_keys_for_merge), the proxy merges the keys into
 *		the page, and the shards render just its orders (crux.get_orders_by_uuid).
 *		crux.get_orders_for_merge, whole orders up to the page's end, serves
 *		proxies of version 1.0.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "query.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

/* "key": value, a number. */
static void
push_int64_member(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	crux_push_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_bool_member(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	crux_push_key(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

PG_FUNCTION_INFO_V1(crux_get_orders_for_merge);

/*
 * crux.get_orders_for_merge(jsonb) returns jsonb, for crux_orders_proxy 1.0: the
 * request checked as crux_get_orders checks it, then answered from position 0
 * to its end (no page cap: the proxy merges the shards' answers and cuts the
 * page), as {"answer": <the answer>, "start": n, "limit": n, "sort_key": k,
 * "sort_dir": "asc" | "desc"}.
 */
Datum
crux_get_orders_for_merge(PG_FUNCTION_ARGS)
{
	static const char *const sort_keys[] = {"date", "status", "sku_id", "uuid"};
	CruxRequest req;
	int64		start;
	Jsonb	   *answer;
	JsonbParseState *state = NULL;
	JsonbValue	v;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_PAGE, &req);
	start = req.start;
	req.start = 0;
	answer = crux_answer_request(&req);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	crux_push_key(&state, "answer");
	v.type = jbvBinary;
	v.val.binary.data = &answer->root;
	v.val.binary.len = VARSIZE(answer) - VARHDRSZ;
	pushJsonbValue(&state, WJB_VALUE, &v);
	push_int64_member(&state, "start", start);
	push_int64_member(&state, "limit", req.limit);
	crux_push_string_member(&state, "sort_key", sort_keys[req.sort_key]);
	crux_push_string_member(&state, "sort_dir", req.sort_asc ? "asc" : "desc");
	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
}

/* [value or null, "uuid"] */
static void
push_key(JsonbParseState **state, text *value, Datum uuid)
{
	JsonbValue	v;

	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	v.type = value == NULL ? jbvNull : jbvString;
	if (value != NULL)
	{
		v.val.string.val = VARDATA_ANY(value);
		v.val.string.len = VARSIZE_ANY_EXHDR(value);
	}
	pushJsonbValue(state, WJB_ELEM, &v);
	v.type = jbvString;
	v.val.string.val = crux_uuid_text(DatumGetUUIDP(uuid));
	v.val.string.len = CRUX_UUID_TEXT_LEN;
	pushJsonbValue(state, WJB_ELEM, &v);
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * "keys": [[sort value or null, "uuid"], ...] of the page's orders, in no
 * particular order (the proxy sorts them); the values as crux_sort_text_expression
 * writes them, which compare bytewise as the sort compares. The uuid sort has
 * none.
 */
static void
push_keys(JsonbParseState **state, const CruxRequest *req, Datum *uuids, int n)
{
	crux_push_key(state, "keys");
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	if (n > 0 &&
		crux_run_sort_values_query(req, false,
								   PointerGetDatum(construct_array(uuids, n, UUIDOID, UUID_LEN,
																   false, TYPALIGN_CHAR))))
	{
		if (SPI_processed != (uint64) n)
			elog(ERROR, "could not read the sort values of a page");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int			at = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 1, &isnull)) - 1;
			Datum		value = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2,
											  &isnull);

			push_key(state, isnull ? NULL : DatumGetTextPP(value), uuids[at]);
		}
	}
	else
		for (int i = 0; i < n; i++)
			push_key(state, NULL, uuids[i]);
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * {"total_results", "start", "limit", "ascending", "keys"} of a parsed request,
 * its page taken from position 0, built in the caller's context.
 */
static Datum
merge_keys_of(void *arg)
{
	CruxRequest req = *(const CruxRequest *) arg;
	MemoryContext caller_cxt = CurrentMemoryContext;
	JsonbParseState *state = NULL;
	Datum	   *uuids = NULL;
	int			n = 0;
	int64		total;
	Jsonb	   *result;

	req.start = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	total = crux_count_and_page(&req, &uuids, &n);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_int64_member(&state, "total_results", total);
	push_int64_member(&state, "start", ((const CruxRequest *) arg)->start);
	push_int64_member(&state, "limit", req.limit);
	push_bool_member(&state, "ascending", req.sort_asc);
	push_keys(&state, &req, uuids, n);
	MemoryContextSwitchTo(caller_cxt);
	result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	SPI_finish();
	return PointerGetDatum(result);
}

PG_FUNCTION_INFO_V1(crux_get_order_keys_for_merge_1_9);

/*
 * crux.get_order_keys_for_merge(jsonb) returns jsonb: the request checked as
 * crux_get_orders checks it; its exact total, its bounds and direction, and the
 * keys of its orders from position 0 to its end.
 */
Datum
crux_get_order_keys_for_merge_1_9(PG_FUNCTION_ARGS)
{
	CruxRequest req;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_PAGE, &req);
	PG_RETURN_DATUM(crux_call_with_timeout(merge_keys_of, &req));
}

/* {"orders": [...], "total_results": 0}: the orders of a uuid array this role sees. */
static Datum
orders_by_uuid(void *arg)
{
	ArrayType  *wanted = arg;
	MemoryContext caller_cxt = CurrentMemoryContext;
	Oid			uuid_array = UUIDARRAYOID;
	Datum		array = PointerGetDatum(wanted);
	static SPIPlanPtr present_plan = NULL;
	Datum	   *uuids;
	bool	   *nulls;
	int			n;
	bool		isnull;
	Jsonb	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* those here and visible, in the array's order; the details in the same snapshot */
	if (SPI_execute_plan(crux_kept_plan(&present_plan,
										"SELECT coalesce(pg_catalog.array_agg(p.id ORDER BY p.n), '{}')"
										"  FROM pg_catalog.unnest($1) WITH ORDINALITY p(id, n)"
										" WHERE EXISTS (SELECT FROM crux.orders o"
										"                WHERE o.uuid OPERATOR(pg_catalog.=) p.id)",
										1, &uuid_array, 0), &array, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the orders of a page");
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull)),
					  UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &uuids, &nulls, &n);
	result = crux_orders_response(0, n > 0 ? crux_fetch_order_details(uuids, n) : NULL, n,
								  caller_cxt);
	SPI_finish();
	return PointerGetDatum(result);
}

PG_FUNCTION_INFO_V1(crux_get_orders_by_uuid_1_9);

/*
 * crux.get_orders_by_uuid(uuid[]) returns jsonb: those of the orders that are
 * in this database and that the caller sees, in the array's order, shaped as
 * crux_get_orders shapes them.
 */
Datum
crux_get_orders_by_uuid_1_9(PG_FUNCTION_ARGS)
{
	ArrayType  *wanted = PG_GETARG_ARRAYTYPE_P(0);

	if (ARR_NDIM(wanted) > 1 || array_contains_nulls(wanted))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the order uuids must be a one-dimensional array without nulls")));
	PG_RETURN_DATUM(crux_call_with_timeout(orders_by_uuid, wanted));
}
