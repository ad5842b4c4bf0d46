#!/usr/bin/env bash
# Summaries under concurrent writers (issue #4): 100,000 sample orders in a throwaway
# server with the benchmark settings, then test/writers/run.sh with CLIENTS clients
# (default 8) for SECONDS seconds (default 30) on a hot set of 2,000 orders.
#   bash test/bench/concurrency.sh [CLIENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-8}
seconds=${2:-30}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    psql -X -q -c "CREATE EXTENSION crux_orders"
    bash test/generate.sh 100000 >/dev/null
    bash test/writers/run.sh '"$clients"' '"$seconds"' 2000
'
