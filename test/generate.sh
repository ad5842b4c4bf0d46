#!/usr/bin/env bash
# Loads N deterministic sample orders (test/generate.sql) into the database in PG*,
# split into JOBS disjoint spans of created dates loaded by parallel sessions
# (default: one per core), each in date order, as real orders arrive.
#   bash test/generate.sh 1000000        # the benchmark size
#   bash test/generate.sh 100000 2
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-1000}
jobs=${2:-$(nproc)}
psql -X -q -v ON_ERROR_STOP=1 -v orders=0 -v skip_analyze=1 -f test/generate.sql
pids=()
for ((j = 0; j < jobs; j++)); do
    psql -X -q -v ON_ERROR_STOP=1 -v orders="$orders" -v part=$j -v parts="$jobs" \
         -v skip_analyze=1 -f test/generate.sql &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
psql -X -q -c "ANALYZE crux.organizations, crux.users, crux.orders, crux.line_items, crux.tracking_numbers"
