#!/usr/bin/env bash
# Cancellation (issue #6): statement_timeout and pg_cancel_backend stop a
# crux_get_orders and an export (crux_export_rows for DBAs, and crux.export_csv, what
# the worker runs from 1.5 on) promptly. The calls are made to wait on a lock that
# another session holds on crux.orders, so they are certain to be running when they
# are cancelled, whatever the machine's speed. Prints TAP.
set -uo pipefail
source "$(dirname "$0")/../tap.sh"
waiting_on_lock() {     # waiting_on_lock APPLICATION_NAME: its backend waits on a lock
    [ "$(psql -X -At -c "SELECT count(*) FROM pg_stat_activity
                          WHERE application_name = '$1' AND wait_event_type = 'Lock'")" = 1 ]
}

# the lock holder: a transaction that stays open until we close its input
coproc HOLDER { psql -X -q -At -v ON_ERROR_STOP=1 2>&1; }
echo "BEGIN; LOCK TABLE crux.orders, crux.export_jobs IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&"${HOLDER[1]}"
read -r line <&"${HOLDER[0]}"
[ "$line" = locked ]; tap $? "another session holds a lock on crux.orders"

for call in "crux_get_orders('{}')" "count(*) FROM crux_export_rows(NULL)" \
            "crux.export_csv(NULL, 0, NULL, true)"; do
    out=$(PGOPTIONS="-c statement_timeout=500" psql -X -At -c "SELECT $call" 2>&1)
    grep -q "canceling statement due to statement timeout" <<<"$out"
    tap $? "statement_timeout stops SELECT $call"
    grep -q "canceling statement due to statement timeout" <<<"$out" || head -5 <<<"$out" | sed 's/^/# /'

    PGAPPNAME=crux_cancel_me psql -X -At -c "SELECT $call" >/tmp/crux_cancel.$$ 2>&1 &
    client=$!
    for _ in $(seq 1 300); do waiting_on_lock crux_cancel_me && break; sleep 0.1; done
    start=$(date +%s%N)
    psql -X -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'crux_cancel_me'" >/dev/null
    wait $client
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    grep -q "canceling statement due to user request" /tmp/crux_cancel.$$
    tap $? "pg_cancel_backend stops SELECT $call (${ms} ms)"
done
rm -f /tmp/crux_cancel.$$

# crux_orders.statement_timeout: the API's own limit, whatever the session's
for call in "crux_get_orders('{}')" "crux_export_orders('{}')"; do
    out=$(PGOPTIONS="-c crux_orders.statement_timeout=300" psql -X -At -c "SELECT $call" 2>&1)
    [[ $out == *"canceling statement due to statement timeout"* ]]
    tap $? "crux_orders.statement_timeout 300ms stops SELECT $call (the session's statement_timeout is 0)"
done
out=$(PGOPTIONS="-c crux_orders.statement_timeout=300 -c statement_timeout=600000" \
      psql -X -At -c "SELECT crux_get_orders('{}')" 2>&1)
[[ $out == *"canceling statement due to statement timeout"* ]]
tap $? "crux_orders.statement_timeout stops the call when it comes before the session's statement_timeout"
out=$(PGOPTIONS="-c crux_orders.statement_timeout=60000 -c statement_timeout=300" \
      psql -X -At -c "SELECT crux_get_orders('{}')" 2>&1)
[[ $out == *"canceling statement due to statement timeout"* ]]
tap $? "the session's statement_timeout still stops it when it comes first"
# a call cut short leaves nothing armed: the session idles past the limit, then works
out=$(PGOPTIONS="-c crux_orders.statement_timeout=300" psql -X -At \
      -c "SELECT crux_get_orders('{}')" -c '\! sleep 0.6' -c "SELECT 'still here'" 2>&1)
[[ $out == *"statement timeout"* && $out == *"still here"* ]] && [ "$(grep -c ERROR <<<"$out")" = 1 ]
tap $? "after a call stopped by crux_orders.statement_timeout the session idles past it and goes on"

echo "ROLLBACK;" >&"${HOLDER[1]}"
exec {HOLDER[1]}>&-
wait "$HOLDER_PID" 2>/dev/null
answer=$(psql -X -At -c "SELECT (crux_get_orders('{}') ->> 'total_results')::int > 0")
[ "$answer" = t ]; tap $? "afterwards the same calls answer again"
jobs=$(psql -X -At -c "SELECT count(*) FROM crux.export_jobs WHERE created_at > now() - interval '1 hour'
                         AND request = '{}' AND status = 'queued'")
out=$(PGOPTIONS="-c crux_orders.statement_timeout=300" psql -X -At \
      -c "SELECT crux_get_orders('{\"limit\": 1}') ->> 'total_results'" -c '\! sleep 0.6' \
      -c "SELECT 'still here'" -c "SHOW statement_timeout" 2>&1)
[[ $out == *"still here"* && $out != *ERROR* ]] && [ "$(tail -1 <<<"$out")" = 0 ]
tap $? "a call that ends in time leaves nothing armed either ($jobs exports queued by the stopped calls)"
