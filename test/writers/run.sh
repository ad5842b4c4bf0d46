#!/usr/bin/env bash
# Concurrent writers against the database in PG* (sample orders loaded): CLIENTS
# pgbench clients for SECONDS seconds on a hot set of HOT orders, mixing status
# changes, line-item inserts and deletes, moves between orders and two-order updates,
# with every SKU tracked (crux.sku_orders kept for all, the inserted ones included).
# Then crux.recount_summaries() must find nothing to fix, and no client may have
# failed (a deadlock or any other error aborts a client). Prints TAP.
#   bash test/writers/run.sh [CLIENTS] [SECONDS] [HOT]
set -uo pipefail
cd "$(dirname "$0")"
clients=${1:-8}
seconds=${2:-30}
hot=${3:-2000}
out=$(mktemp)
psql -X -q -c "SELECT crux.track_skus(1)" \
     -c "INSERT INTO crux.tracked_skus SELECT 'A-' || g FROM generate_series(1, $hot) g ON CONFLICT DO NOTHING" >/dev/null
pgbench -n -c "$clients" -j 2 -T "$seconds" -D hot="$hot" \
        -f status.sql@5 -f insert_delete.sql@2 -f move.sql@1 -f two_orders.sql@2 >"$out" 2>&1
rc=$?
grep -E "processed|^tps|aborted|deadlock|ERROR" "$out" | sed 's/^/# /'
if [ $rc -eq 0 ] && ! grep -qiE "aborted|deadlock|error" "$out"; then
    echo "ok 1 - $clients concurrent writers for $seconds s: no client failed, no deadlock"
else
    echo "not ok 1 - $clients concurrent writers for $seconds s: no client failed, no deadlock"
fi
wrong=$(psql -X -At -c "SELECT crux.recount_summaries()")
if [ "$wrong" = 0 ]; then
    echo "ok 2 - every summary, count and SKU row exact afterwards"
else
    echo "not ok 2 - every summary, count and SKU row exact afterwards ($wrong wrong)"
fi
rm -f "$out"
