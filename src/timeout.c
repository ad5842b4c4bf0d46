/*
 * timeout.c
 *		crux_orders.statement_timeout: the longest one API call (crux_get_orders,
 *		crux_export_orders) may run; past it the call is cancelled as
 *		statement_timeout cancels a statement (SQLSTATE 57014). The session's own
 *		statement_timeout applies when it comes sooner, and is as it was after the
 *		call.
 */
#include "postgres.h"

#include "crux_orders.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

int			crux_statement_timeout = 30000; /* ms; 0: none */

/*
 * Runs call(arg), one API call, under crux_orders.statement_timeout (and with
 * the role's organization read once, crux_call_as_one_caller); returns what it
 * returns.
 */
Datum
crux_call_with_timeout(Datum (*call) (void *arg), void *arg)
{
	volatile Datum result = (Datum) 0;
	volatile bool armed = false;
	bool		had = get_timeout_active(STATEMENT_TIMEOUT);
	TimestampTz previous = had ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;

	if (crux_statement_timeout > 0)
	{
		TimestampTz ours = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   crux_statement_timeout);

		if (!had || ours < previous)
		{
			enable_timeout_at(STATEMENT_TIMEOUT, ours);
			armed = true;
		}
	}
	PG_TRY();
	{
		result = crux_call_as_one_caller(call, arg);
	}
	PG_FINALLY();
	{
		/* never left armed: it would fire after the statement, at the client's next */
		if (armed && had)
			enable_timeout_at(STATEMENT_TIMEOUT, previous);
		else if (armed)
			disable_timeout(STATEMENT_TIMEOUT, false);
	}
	PG_END_TRY();
	return result;
}
