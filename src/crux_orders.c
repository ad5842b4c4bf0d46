/*
 * crux_orders.c
 *		The module: settings, and the SQL-callable functions as thin wrappers over
 *		request parsing (request.c), querying (query.c) and output (output.c).
 */
#include "postgres.h"

#include "crux_orders.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int			crux_max_page_size = 1000;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("crux_orders.max_page_size",
							"Largest page crux_get_orders returns (limit - start).",
							"Requests asking for a larger page are rejected; exports have no cap.",
							&crux_max_page_size,
							1000, 1, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("crux_orders");
}

/*
 * The whole of crux_get_orders inside one SPI connection: count, page, details,
 * response. The response is built in the caller's memory context, so it outlives
 * SPI_finish, which releases everything else.
 */
static Jsonb *
get_orders(const CruxRequest *req)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	int64		total;
	Datum	   *uuids = NULL;
	int			n_uuids = 0;
	SPITupleTable *details = NULL;
	Jsonb	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	total = crux_count_and_page(req, &uuids, &n_uuids);
	if (n_uuids > 0)
		details = crux_fetch_order_details(req->layout, uuids, n_uuids);
	result = crux_orders_response(total, details, n_uuids, caller_cxt);

	SPI_finish();
	return result;
}

/* The request argument (SQL NULL means every default) parsed, then answered. */
static Datum
answer_request(FunctionCallInfo fcinfo, CruxLayout layout)
{
	CruxRequest req;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_PAGE, &req);
	req.layout = layout;
	PG_RETURN_JSONB_P(get_orders(&req));
}

PG_FUNCTION_INFO_V1(crux_get_orders);
PG_FUNCTION_INFO_V1(crux_get_orders_1_1);
PG_FUNCTION_INFO_V1(crux_get_orders_1_2);

/*
 * crux_get_orders(jsonb) returns jsonb. Each version of the SQL objects binds its
 * own entry point: 1.0 crux_get_orders (no count tables yet), 1.1
 * crux_get_orders_1_1, 1.2 crux_get_orders_1_2 (summaries in their own table), so
 * that a database keeps working between installing this library and ALTER
 * EXTENSION crux_orders UPDATE.
 */
Datum
crux_get_orders(PG_FUNCTION_ARGS)
{
	return answer_request(fcinfo, CRUX_LAYOUT_1_0);
}

Datum
crux_get_orders_1_1(PG_FUNCTION_ARGS)
{
	return answer_request(fcinfo, CRUX_LAYOUT_1_1);
}

Datum
crux_get_orders_1_2(PG_FUNCTION_ARGS)
{
	return answer_request(fcinfo, CRUX_LAYOUT_1_2);
}
