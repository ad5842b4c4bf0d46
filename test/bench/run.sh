#!/usr/bin/env bash
# The query benchmark of issue #4, run by hand:
#   bash test/bench/run.sh [ORDERS ...]        (default: 100000 1000000)
# For each size: a throwaway server with the benchmark settings (server.sh), sample
# orders from test/generate.sh, the plain-SQL baseline (test/baseline.sql), and a
# login role "bench_tenant" mapped to retailer 1. For each query of queries.tsv it
# first checks that crux_get_orders and the baseline return identical jsonb, then
# drives each with pgbench (BENCH_CLIENTS clients for BENCH_SECONDS seconds,
# default 2 and 10) and
# reports median and p95 latency (ms), throughput (calls/s), and the ratio of the
# baseline's median to crux_get_orders' median. Results also go to test/bench/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
export CLIENTS=${BENCH_CLIENTS:-2} SECONDS_PER_RUN=${BENCH_SECONDS:-10}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
mkdir -p test/bench/results
for orders in "${sizes[@]}"; do
    pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash test/bench/measure.sh "$orders" \
        | tee "test/bench/results/queries-$orders.txt"
done
