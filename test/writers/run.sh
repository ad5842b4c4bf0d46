#!/usr/bin/env bash
# Concurrent writers against the database in PG* (sample orders loaded): CLIENTS
# pgbench clients for SECONDS seconds on a hot set of HOT orders, mixing status
# changes of line items and of orders, line-item inserts and deletes, moves between
# orders and two-order updates,
# with every SKU tracked (crux.sku_orders kept for all, the inserted ones included).
# Then crux.recount_summaries() must find nothing to fix, and no client may have
# failed (a deadlock or any other error aborts a client). Then, in two sessions: a
# REPEATABLE READ writer older than crux.track_skus() or a swap of tracked SKUs,
# crux.track_skus() against a writer of line items and then their order (no
# deadlock), and a change of crux.tracked_skus in REPEATABLE READ (refused). Prints TAP.
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
        -f status.sql@5 -f insert_delete.sql@2 -f move.sql@1 -f two_orders.sql@2 \
        -f order_status.sql@2 >"$out" 2>&1
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

# a REPEATABLE READ writer whose snapshot predates a crux.track_skus() that committed
# since cannot see the rows it would change: it fails to serialize, as it must be
# retried, instead of leaving them stale
work=$(mktemp -d)
psql -X -q -c "INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered) SELECT uuid, 'RR-SKU-$$', 1 FROM crux.orders ORDER BY uuid LIMIT 1"
mkfifo "$work/in"
open_session() {   # a psql session reading what is written to fd 3, printing to $work/out
    : >"$work/out"
    psql -X -q -v ON_ERROR_STOP=0 <"$work/in" >"$work/out" 2>&1 &
    session=$!
    exec 3>"$work/in"
}
close_session() {  # ends its input and waits for it
    exec 3>&-
    wait $session
}
until_seen() {  # the session has printed $1 (polled, at most 30 s)
    for _ in $(seq 600); do grep -q "$1" "$work/out" && return 0; sleep 0.05; done
    return 1
}
open_session
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM crux.orders; \\echo snapshot-taken" >&3
until_seen snapshot-taken
psql -X -q -c "SELECT crux.track_skus(1)" >/dev/null
echo "DELETE FROM crux.line_items WHERE sku_id = 'RR-SKU-$$'; \\echo delete-done" >&3
until_seen delete-done
echo "ROLLBACK;" >&3
close_session
if grep -q "could not serialize access due to a concurrent change of crux.tracked_skus" "$work/out" &&
   [ "$(psql -X -At -c "SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'RR-SKU-$$'")" = 1 ]; then
    echo "ok 3 - a REPEATABLE READ writer older than crux.track_skus() gets a serialization failure; the row stays right"
else
    echo "not ok 3 - a REPEATABLE READ writer older than crux.track_skus() gets a serialization failure; the row stays right"
    sed 's/^/# /' "$work/out"
fi
psql -X -q -c "DELETE FROM crux.line_items WHERE sku_id = 'RR-SKU-$$'" -c "DELETE FROM crux.tracked_skus WHERE sku_id = 'RR-SKU-$$'"

# the same when one SKU was untracked and another tracked since (the list's size
# unchanged): the writer cannot see the new SKU's row it would remove
psql -X -q -c "INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered) SELECT uuid, 'RR-SWAP-$$', 1 FROM crux.orders ORDER BY uuid LIMIT 1"
open_session
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM crux.orders; \\echo snapshot-taken" >&3
until_seen snapshot-taken
psql -X -q -c "BEGIN" -c "DELETE FROM crux.tracked_skus WHERE sku_id = 'A-1'" \
     -c "INSERT INTO crux.tracked_skus VALUES ('RR-SWAP-$$')" -c "COMMIT" >/dev/null
echo "DELETE FROM crux.line_items WHERE sku_id = 'RR-SWAP-$$'; \\echo delete-done" >&3
until_seen delete-done
echo "ROLLBACK;" >&3
close_session
if grep -q "could not serialize access due to a concurrent change of crux.tracked_skus" "$work/out" &&
   [ "$(psql -X -At -c "SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'RR-SWAP-$$'")" = 1 ]; then
    echo "ok 4 - the same when a SKU was untracked and another tracked since; the row stays right"
else
    echo "not ok 4 - the same when a SKU was untracked and another tracked since; the row stays right"
    sed 's/^/# /' "$work/out"
fi
psql -X -q -c "DELETE FROM crux.line_items WHERE sku_id = 'RR-SWAP-$$'" -c "DELETE FROM crux.tracked_skus WHERE sku_id = 'RR-SWAP-$$'" \
     -c "INSERT INTO crux.tracked_skus VALUES ('A-1')"

# crux.track_skus() while a writer holds the line items it wrote and then writes
# their order: the tracker, holding orders and waiting for line items, gives its
# locks back when its attempt runs out (a quarter of deadlock_timeout), before the
# writer looks for the deadlock; the writer commits, then the tracker tracks its new
# SKU
open_session
echo "BEGIN; INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered) SELECT uuid, 'DL-SKU-$$', 1 FROM crux.orders ORDER BY uuid LIMIT 1; \\echo inserted" >&3
until_seen inserted
psql -X -At -c "SELECT crux.track_skus(1)" >"$work/tracker" 2>&1 &
tracker=$!
waited=0
for _ in $(seq 600); do   # until the tracker waits for the line items' lock (at most 30 s)
    [ "$(psql -X -At -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                          WHERE NOT l.granted AND l.relation = 'crux.line_items'::regclass
                            AND a.query LIKE '%track_skus%'")" = 1 ] && { waited=1; break; }
    sleep 0.05
done
echo "UPDATE crux.orders SET notes = 'written after its line item' WHERE uuid = (SELECT order_uuid FROM crux.line_items WHERE sku_id = 'DL-SKU-$$'); COMMIT; \\echo committed" >&3
until_seen committed
close_session
wait $tracker; tracker_rc=$?
if [ $waited = 1 ] && [ $tracker_rc = 0 ] && ! grep -qi "error\|deadlock" "$work/out" "$work/tracker" &&
   [ "$(psql -X -At -c "SELECT count(*) FROM crux.sku_orders k JOIN crux.orders o ON o.uuid = k.order_uuid
                         WHERE k.sku_id = 'DL-SKU-$$' AND o.notes = 'written after its line item'")" = 1 ]; then
    echo "ok 5 - crux.track_skus() and a writer of line items, then their order: no deadlock, both done"
else
    echo "not ok 5 - crux.track_skus() and a writer of line items, then their order: no deadlock, both done"
    sed 's/^/# writer: /' "$work/out"; sed 's/^/# tracker: /' "$work/tracker"
fi
psql -X -q -c "DELETE FROM crux.line_items WHERE sku_id = 'DL-SKU-$$'" -c "DELETE FROM crux.tracked_skus WHERE sku_id = 'DL-SKU-$$'"

# the list changes in READ COMMITTED only: it reads the line items committed after
# its locks, which an older snapshot would not see
msg=$(psql -X -q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
           -c "INSERT INTO crux.tracked_skus VALUES ('RR-TRACKED')" -c "COMMIT" 2>&1)
if [[ $msg == *"crux.tracked_skus can only change in a READ COMMITTED transaction"* ]] &&
   [ "$(psql -X -At -c "SELECT count(*) FROM crux.tracked_skus WHERE sku_id = 'RR-TRACKED'")" = 0 ]; then
    echo "ok 6 - a change of crux.tracked_skus in REPEATABLE READ is refused"
else
    echo "not ok 6 - a change of crux.tracked_skus in REPEATABLE READ is refused"
    echo "$msg" | sed 's/^/# /'
fi
rm -rf "$work" "$out"
