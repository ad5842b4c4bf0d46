#!/usr/bin/env bash
# Backend memory over many calls (issues #4, #6): one pgbench connection makes CALLS
# calls (default 100,000) of crux_get_orders with a mix of request shapes (so the
# plan cache fills) and of bad requests (errors), on 1,000 sample orders; the
# backend's RSS and private memory (RssAnon) are sampled from /proc while it runs.
# Prints the samples and the growth from the first to the last. Then the same calls
# again, each its own statement, with the sum of the backend's memory contexts
# printed after a warm-up and every quarter (memory-contexts.py): RSS moves with
# malloc's and the kernel's bookkeeping, the contexts are what the backend keeps.
#   bash test/bench/memory.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-100000}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
pg_virtualenv -t -v 15 bash -c '
    set -euo pipefail
    work=$(mktemp -d)
    psql -X -q -c "CREATE EXTENSION crux_orders"
    bash test/generate.sh 1000 >/dev/null
    echo "SELECT crux_get_orders('"'"'{\"line_item_status\": [\"allocated\", \"delivered\"], \"status_conjunction\": \"and\", \"limit\": 5}'"'"');" >"$work/a.sql"
    echo "SELECT crux_get_orders('"'"'{\"term\": \"SKU000123\", \"sort\": {\"key\": \"sku_id\", \"dir\": \"asc\"}}'"'"');" >"$work/b.sql"
    echo "SELECT crux_get_orders('"'"'{\"start\": 100, \"limit\": 110, \"start_date\": \"2017-01-01\", \"org_uuids\": [\"71f82408-0503-1caf-aec6-98e6445b893a\"]}'"'"');" >"$work/c.sql"
    echo "DO \$\$ BEGIN PERFORM crux_get_orders('"'"'{\"status_conjunction\": \"xor\"}'"'"'); EXCEPTION WHEN invalid_parameter_value THEN NULL; END \$\$;" >"$work/d.sql"
    pgbench -n -c 1 -t '"$calls"' -f "$work/a.sql" -f "$work/b.sql" -f "$work/c.sql" -f "$work/d.sql" \
            >"$work/pgbench.out" 2>&1 &
    bench=$!
    pid=""
    while [ -z "$pid" ]; do
        pid=$(psql -X -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = '"'"'pgbench'"'"'" || true)
    done
    samples=() anon=()
    while kill -0 $bench 2>/dev/null; do
        # VmRSS counts the shared buffers the backend has touched too; RssAnon is
        # its private memory alone
        read -r rss priv < <(awk "/^VmRSS/ { r = \$2 } /^RssAnon/ { a = \$2 } END { print r, a }" \
                             /proc/$pid/status 2>/dev/null || true)
        [ -n "$rss" ] && samples+=("$rss") && anon+=("$priv")
        sleep 5        # sampling interval of a measurement, not synchronisation
    done
    wait $bench
    grep -E "processed|tps" "$work/pgbench.out"
    echo "backend RSS samples (kB): ${samples[*]}"
    echo "backend private memory (RssAnon) samples (kB): ${anon[*]}"
    echo "growth first to last: RSS $(( ${samples[-1]} - ${samples[0]} )) kB, private $(( ${anon[-1]} - ${anon[0]} )) kB over '"$calls"' calls"
    # the same shapes, each call its own statement, measured inside the backend
    python3 test/bench/memory-contexts.py '"$((calls / 4))"' | psql -X -q
'
