#!/usr/bin/env bash
# Loads N deterministic sample orders (test/generate.sql) into the database in PG*,
# split into JOBS disjoint spans of created dates loaded by parallel sessions
# (default: one per core), each in date order, as real orders arrive. With
# CRUX_SAMPLE_LAYOUT=random, the same rows split into ranges of order numbers and
# stored in that order, which is random with respect to their dates (the layout
# of the benchmarks before version 1.5's last changes). The organizations and users
# of that size are created first, in a session of their own, so that the parallel
# sessions never wait on each other's new organizations.
#   bash test/generate.sh 1000000        # the benchmark size
#   bash test/generate.sh 100000 2
#   CRUX_SAMPLE_LAYOUT=random bash test/generate.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-1000}
jobs=${2:-$(nproc)}
# organizations and users only: the size's, with an empty range of orders
psql -X -q -v ON_ERROR_STOP=1 -v orders="$orders" -v first=1 -v last=0 -v skip_analyze=1 \
     -f test/generate.sql
pids=()
layout=${CRUX_SAMPLE_LAYOUT:-date}
case $layout in date | random) ;; *) echo "CRUX_SAMPLE_LAYOUT: date or random" >&2; exit 2 ;; esac
for ((j = 0; j < jobs; j++)); do
    if [ "$layout" = random ]; then
        part=(-v first=$((orders * j / jobs + 1)) -v last=$((orders * (j + 1) / jobs)))
    else
        part=(-v part=$j -v parts="$jobs")
    fi
    psql -X -q -v ON_ERROR_STOP=1 -v orders="$orders" "${part[@]}" -v layout="$layout" \
         -v skip_organizations=1 -v skip_analyze=1 -f test/generate.sql &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
psql -X -q -c "ANALYZE crux.organizations, crux.users, crux.orders, crux.line_items, crux.tracking_numbers"
