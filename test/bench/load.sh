#!/usr/bin/env bash
# Times loading N sample orders (default 1,000,000) with test/generate.sh into a
# throwaway server with the benchmark settings (test/bench/server.sh): first into
# bare tables (the extension's summary triggers on orders and line items disabled), then as users load, with
# them. Prints both times and their ratio, and checks the summaries are exact.
#   bash test/bench/load.sh [ORDERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=${1:-1000000}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    orders='"$orders"'
    timed() {   # timed DB: seconds to load $orders orders into DB
        local start end
        start=$(date +%s.%N)
        PGDATABASE=$1 bash test/generate.sh "$orders" >/dev/null
        end=$(date +%s.%N)
        awk "BEGIN { print $end - $start }"
    }
    for db in bare crux; do
        psql -X -q -c "CREATE DATABASE $db"
        psql -X -q -d $db -c "CREATE EXTENSION crux_orders"
    done
    psql -X -q -d bare -c "ALTER TABLE crux.line_items DISABLE TRIGGER USER" \
                       -c "ALTER TABLE crux.orders DISABLE TRIGGER USER"
    bare=$(timed bare)
    psql -X -q -c "CHECKPOINT"
    crux=$(timed crux)
    wrong=$(psql -X -At -d crux -c "SELECT crux.recount_summaries()")
    printf "orders: %s\nbare tables: %.1f s\nwith crux_orders summaries: %.1f s\nratio: %.2f\nsummaries wrong after load: %s\n" \
        "$orders" "$bare" "$crux" "$(awk "BEGIN { print $crux / $bare }")" "$wrong"
'
