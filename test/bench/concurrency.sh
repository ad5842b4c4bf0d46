#!/usr/bin/env bash
# Summaries under concurrent writers (issue #4): 100,000 sample orders, then
# pgbench with CLIENTS clients (default 8) for SECONDS seconds (default 30) changing
# line-item statuses, inserting and deleting line items, and moving items between
# orders, on a hot set of 2,000 orders so that writers collide. Afterwards
# crux.recount_summaries() must find nothing to fix, and no client may have failed
# (a deadlock or any other error aborts the client and is reported).
#   bash test/bench/concurrency.sh [CLIENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-8}
seconds=${2:-30}
bash test/setup.sh
source test/bench/server.sh
pg_virtualenv -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    work=$(mktemp -d)
    psql -X -q -c "CREATE EXTENSION crux_orders"
    bash test/generate.sh 100000 >/dev/null
    cat >"$work/status.sql" <<SQL
\set o random(1, 2000)
\set p random(1, 4)
\set s random(1, 7)
UPDATE crux.line_items SET status = (enum_range(NULL::crux.line_item_status))[:s]
 WHERE order_uuid = md5('"'"'order-'"'"' || :o)::uuid AND position = :p;
SQL
    cat >"$work/insert_delete.sql" <<SQL
\set o random(1, 2000)
INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered, status)
VALUES (md5('"'"'order-'"'"' || :o)::uuid, '"'"'A-'"'"' || :o, 1, '"'"'backordered'"'"');
DELETE FROM crux.line_items WHERE order_uuid = md5('"'"'order-'"'"' || :o)::uuid AND sku_id = '"'"'A-'"'"' || :o;
SQL
    cat >"$work/move.sql" <<SQL
\set a random(1, 2000)
\set b random(1, 2000)
UPDATE crux.line_items SET order_uuid = md5('"'"'order-'"'"' || :b)::uuid
 WHERE order_uuid = md5('"'"'order-'"'"' || :a)::uuid AND position = 4;
SQL
    cat >"$work/two_orders.sql" <<SQL
\set a random(1, 2000)
\set b random(1, 2000)
\set s random(1, 7)
UPDATE crux.line_items SET status = (enum_range(NULL::crux.line_item_status))[:s]
 WHERE order_uuid IN (md5('"'"'order-'"'"' || :a)::uuid, md5('"'"'order-'"'"' || :b)::uuid);
SQL
    pgbench -n -c '"$clients"' -j 2 -T '"$seconds"' -f "$work/status.sql@5" -f "$work/insert_delete.sql@2" \
            -f "$work/move.sql@1" -f "$work/two_orders.sql@2" >"$work/pgbench.out" 2>&1 || true
    grep -E "number of (transactions actually processed|failed)|tps|aborted|deadlock|ERROR" "$work/pgbench.out" || true
    wrong=$(psql -X -At -c "SELECT crux.recount_summaries()")
    echo "summaries wrong after the run: $wrong"
    if grep -qiE "aborted|deadlock|error" "$work/pgbench.out" || [ "$wrong" != 0 ]; then
        echo FAILED; exit 1
    fi
    echo "PASSED"
'
