/*
 * crux_orders.c
 *		The module: settings, and the SQL-callable functions as thin wrappers over
 *		request parsing (request.c), querying (query.c, pages.c), the order details
 *		(details.c) and output (output.c).
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "crux_orders.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int			crux_max_page_size = 1000;
static int	crux_retained_memory = 32 * 1024;	/* kB */

void		_PG_init(void);

/*
 * How much freed memory the backend's allocator (glibc) keeps for the next call
 * instead of returning it to the kernel. A page of hundreds of orders allocates a
 * few megabytes (rows, sort, response, its text) and frees them at the end of the
 * statement; with glibc's defaults most of that goes back to the kernel, and every
 * call then pays a page fault per 4 kB it touches again, about a third of the time
 * of such a call. Blocks up to half the setting come from the heap, not from
 * mappings of their own, and the heap is trimmed only beyond the setting. 0 sets
 * glibc's defaults (128 kB each).
 */
static void
assign_retained_memory(int newval, void *extra)
{
#ifdef __GLIBC__
	int			bytes = newval > 0 ? newval * 1024 : 128 * 1024;

	(void) mallopt(M_MMAP_THRESHOLD, newval > 0 ? bytes / 2 : bytes);
	(void) mallopt(M_TRIM_THRESHOLD, bytes);
#endif
}

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
	DefineCustomIntVariable("crux_orders.retained_memory",
							"Freed memory a backend keeps for its next calls instead of returning it to the kernel.",
							"Large pages then reuse memory instead of faulting it in again; 0 keeps the C library's defaults.",
							&crux_retained_memory,
							32 * 1024, 0, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, assign_retained_memory, NULL);
	DefineCustomIntVariable("crux_orders.statement_timeout",
							"Longest run of one crux_get_orders or crux_export_orders call.",
							"Past it the call is cancelled as statement_timeout cancels a statement; 0 turns it off.",
							&crux_statement_timeout,
							30000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("crux_orders");
}

/*
 * The whole of crux_get_orders inside one SPI connection: count, page, details,
 * response. The response is built in the caller's memory context, so it outlives
 * SPI_finish, which releases everything else.
 */
static Datum
answer_request(void *arg)
{
	const CruxRequest *req = arg;
	MemoryContext caller_cxt = CurrentMemoryContext;
	int64		total;
	Datum	   *uuids = NULL;
	int			n_uuids = 0;
	CruxDetails *details = NULL;
	Jsonb	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	total = crux_count_and_page(req, &uuids, &n_uuids);
	if (n_uuids > 0)
		details = crux_fetch_order_details(uuids, n_uuids);
	result = crux_orders_response(total, details, n_uuids, caller_cxt);

	SPI_finish();
	return PointerGetDatum(result);
}

/* The answer to a parsed request, within crux_orders.statement_timeout. */
Jsonb *
crux_answer_request(const CruxRequest *req)
{
	return DatumGetJsonbP(crux_call_with_timeout(answer_request, (void *) req));
}

PG_FUNCTION_INFO_V1(crux_get_orders_1_8);

/* crux_get_orders(jsonb) returns jsonb; SQL NULL means every default. */
Datum
crux_get_orders_1_8(PG_FUNCTION_ARGS)
{
	CruxRequest req;

	crux_parse_request(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
					   CRUX_REQUEST_PAGE, &req);
	PG_RETURN_JSONB_P(crux_answer_request(&req));
}
