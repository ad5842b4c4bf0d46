#!/usr/bin/env bash
# Backup and restore (issue #6): pg_dump the database in PG* (crux_orders with sample
# orders and some export jobs), restore it into a fresh database with pg_restore, and
# compare: the same crux_get_orders answers, the same export history, exact summaries,
# the same tracked SKUs with their rows; then a schema-only dump must restore cleanly
# into another fresh database. Prints TAP.
set -uo pipefail
src=${PGDATABASE:?set PGDATABASE}
dump=$(mktemp)
source "$(dirname "$0")/../tap.sh"
answers() {  # answers DB: a digest of many crux_get_orders answers and of the export history
    psql -X -At -d "$1" -c "
        SELECT md5(string_agg(crux_get_orders(r)::text, '|' ORDER BY r::text))
          FROM (VALUES ('{}'::jsonb), ('{\"limit\": 1000}'), ('{\"line_item_status\": \"delivered\", \"limit\": 500}'),
                       ('{\"line_item_status\": [\"allocated\", \"rejected\"], \"status_conjunction\": \"and\"}'),
                       ('{\"sort\": {\"key\": \"sku_id\", \"dir\": \"asc\"}, \"limit\": 1000}'),
                       ('{\"term\": \"PO-00000042\"}')) v(r)" 2>&1
    psql -X -At -d "$1" -c "SELECT md5(string_agg(j::text, '|' ORDER BY uuid)) FROM crux.export_jobs j" 2>&1
}
tracking() {  # tracking DB: the tracked SKUs, their rows, and a term of the most held one
    psql -X -At -d "$1" -c "
        SELECT count(*), md5(string_agg(sku_id, '|' ORDER BY sku_id)) FROM crux.tracked_skus" \
        -c "SELECT count(*), md5(string_agg(k::text, '|' ORDER BY k::text)) FROM crux.sku_orders k" \
        -c "SELECT crux_get_orders(jsonb_build_object('term', (
                SELECT k.sku_id FROM crux.sku_orders k GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)))" 2>&1
}
psql -X -q -c "SELECT crux_export_orders('{\"term\": \"backup\"}'), crux_export_orders('{\"limit\": 3}')" >/dev/null
for db in crux_restored crux_schema_only; do
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done

pg_dump -Fc -f "$dump" "$src"
pg_restore -d crux_restored "$dump" 2>"$dump.err"
tap $? "pg_restore of a full dump succeeds"; [ -s "$dump.err" ] && sed 's/^/# /' "$dump.err"
before=$(answers "$src")
after=$(answers crux_restored)
[ "$before" = "$after" ]; tap $? "the restored database gives identical answers and export history"
[ "$(psql -X -At -d "$src" -c "SELECT count(*) > 0 FROM crux.tracked_skus")" = t ] &&
    [ "$(tracking "$src")" = "$(tracking crux_restored)" ]
tap $? "the restored database tracks the same SKUs, with the same rows and term answers"
wrong=$(psql -X -At -d crux_restored -c "SELECT crux.recount_summaries()")
[ "$wrong" = 0 ]; tap $? "every summary is exact after the restore (found $wrong wrong)"

pg_dump -Fc --schema-only -f "$dump" "$src"
pg_restore -d crux_schema_only "$dump" 2>"$dump.err"
tap $? "a schema-only dump restores cleanly"; [ -s "$dump.err" ] && sed 's/^/# /' "$dump.err"
empty=$(psql -X -At -d crux_schema_only -c "SELECT crux_get_orders('{}')")
[ "$empty" = '{"orders": [], "total_results": 0}' ]; tap $? "and answers with zero orders"
rm -f "$dump" "$dump.err"
