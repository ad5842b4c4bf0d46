#!/usr/bin/env bash
# Export throughput (issue #5): N sample orders (default 1,000,000) in a throwaway
# server with the benchmark settings, one export of every order queued, then
# crux-export-worker --once timed end to end (claim, COPY, CSV file, no email), with
# its peak memory. Prints line-item rows per second and the worker's max RSS.
#   bash test/bench/export.sh [ORDERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=${1:-1000000}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    out=$(mktemp -d)
    psql -X -q -c "CREATE EXTENSION crux_orders"
    bash test/generate.sh '"$orders"' >/dev/null
    psql -X -q -c "VACUUM ANALYZE"
    uuid=$(psql -X -At -c "SELECT crux_export_orders(NULL) ->> '"'uuid'"'")
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$out/rss" "$(pg_config --bindir)/crux-export-worker" --once -o "$out" 2>"$out/log"
    end=$(date +%s.%N)
    read -r rows bytes <<<"$(psql -X -At -F " " -c "SELECT row_count, bytes FROM crux.export_jobs WHERE uuid = '"'"'$uuid'"'"'")"
    awk -v rows="$rows" -v bytes="$bytes" -v s="$start" -v e="$end" -v rss="$(cat "$out/rss")" "BEGIN {
        printf \"rows: %d\nbytes: %d\nseconds: %.1f\nrows per second: %.0f\nworker max RSS: %.1f MB\n\",
               rows, bytes, e - s, rows / (e - s), rss / 1024 }"
    rm -rf "$out"
'
