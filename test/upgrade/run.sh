#!/usr/bin/env bash
# Upgrades: a fresh install runs the current version's whole script
# (src/crux_orders--X.Y.sql); an older database gets there through the upgrade
# scripts src/crux_orders--A--B.sql. Against the server in PG*: database "upgraded"
# gets crux_orders 1.0 and sample orders; the new library, which serves the default
# version only, answers it with the error that names ALTER EXTENSION crux_orders
# UPDATE; after that update, and in database "fresh" (the default version and the
# same orders), both must have the same objects (test/upgrade/fingerprint.sql) and
# give the same answers; so must every later released version, each with data,
# after its update. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/tap.sh
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$@"; }
answers() {  # answers DB: many crux_get_orders answers and export rows, as one text
    q "$1" -c "
        SELECT string_agg(crux_get_orders(r)::text, E'\n' ORDER BY r::text)
          FROM (VALUES ('{}'::jsonb), ('{\"limit\": 1000}'),
                       ('{\"line_item_status\": \"delivered\", \"limit\": 500}'),
                       ('{\"line_item_status\": [\"allocated\", \"rejected\"], \"status_conjunction\": \"and\"}'),
                       ('{\"line_item_status\": [\"delivered\"], \"status_conjunction\": \"only\"}'),
                       ('{\"start_date\": \"2017-03-04T05:06:07Z\", \"end_date\": \"2018-02-01\", \"line_item_status\": \"backordered\"}'),
                       ('{\"org_uuids\": [\"$(q "$1" -c "SELECT md5('org-2')::uuid")\"]}'),
                       ('{\"sort\": {\"key\": \"sku_id\", \"dir\": \"asc\"}, \"limit\": 1000}'),
                       ('{\"sort\": {\"key\": \"status\", \"dir\": \"desc\"}, \"limit\": 1000}'),
                       ('{\"sort\": {\"key\": \"uuid\", \"dir\": \"desc\"}, \"line_item_status\": \"delivered\", \"status_conjunction\": \"only\", \"start\": 10, \"limit\": 60}'),
                       ('{\"org_uuids\": [\"$(q "$1" -c "SELECT md5('org-1')::uuid")\"], \"sort\": {\"key\": \"uuid\", \"dir\": \"asc\"}, \"line_item_status\": [\"allocated\", \"rejected\"], \"status_conjunction\": \"and\"}'),
                       ('{\"sort\": {\"key\": \"sku_id\", \"dir\": \"asc\"}, \"line_item_status\": \"backordered\", \"start_date\": \"2017-01-01T00:00:00Z\", \"end_date\": \"2018-06-01T00:00:00Z\", \"limit\": 100}'),
                       ('{\"org_uuids\": [\"$(q "$1" -c "SELECT md5('org-2')::uuid")\"], \"sort\": {\"key\": \"status\", \"dir\": \"desc\"}, \"line_item_status\": \"delivered\", \"status_conjunction\": \"only\", \"start\": 5, \"limit\": 40}'),
                       ('{\"term\": \"PO-00000042\"}'),
                       ('{\"term\": \"SKU000123\", \"limit\": 100}')) v(r)" 2>&1
    q "$1" -c "SELECT md5(string_agg(x::text, '|')) FROM crux_export_rows('{\"limit\": 300}') x" 2>&1
}
for db in upgraded fresh; do
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done

q upgraded -q -c "CREATE EXTENSION crux_orders VERSION '1.0'"
tap $? "CREATE EXTENSION crux_orders VERSION '1.0' (the released version)"
q upgraded -q -v orders=500 -f test/generate.sql >/dev/null
old=$(q upgraded -c "SELECT crux_get_orders('{}')" 2>&1)
[[ $old == *"is at version 1.0"* && $old == *"ALTER EXTENSION crux_orders UPDATE"* ]]
tap $? "a database still at 1.0 gets the error that names its version and ALTER EXTENSION crux_orders UPDATE"
echo "$old" | head -3 | sed 's/^/# /'

update=$(q upgraded -c "LISTEN pgrst" -c "ALTER EXTENSION crux_orders UPDATE" 2>&1)
tap $? "ALTER EXTENSION crux_orders UPDATE"
version=$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'crux_orders'")
default=$(q upgraded -c "SELECT default_version FROM pg_available_extensions WHERE name = 'crux_orders'")
[ "$version" = "$default" ]; tap $? "the upgraded database is at the default version ($version)"

install=$(q fresh -c "LISTEN pgrst" -c "CREATE EXTENSION crux_orders" 2>&1)
[[ $update == *'notification "pgrst" with payload "reload schema"'* &&
   $install == *'notification "pgrst" with payload "reload schema"'* ]]
tap $? "the update and a fresh install tell PostgREST to reload its schema (NOTIFY pgrst)"
q fresh -q -v orders=500 -f test/generate.sql >/dev/null
work=$(mktemp -d)
q upgraded -f test/upgrade/fingerprint.sql >"$work/upgraded" 2>&1 &&
    q fresh -f test/upgrade/fingerprint.sql >"$work/fresh" 2>&1 &&
    diff "$work/upgraded" "$work/fresh" >"$work/diff" 2>&1
tap $? "the upgraded and the fresh install have the same objects, definitions and grants"
head -20 "$work/diff" | sed 's/^/# /'
objects=$(grep -c '^member ' "$work/fresh")
lines=$(wc -l <"$work/fresh")
[ "$objects" -ge 29 ] && [ "$lines" -gt 300 ]
tap $? "the comparison covers the whole extension ($objects member objects, $lines lines)"
rm -rf "$work"

[ "$(answers upgraded)" = "$(answers fresh)" ]
tap $? "both give the same answers (15 requests and an export)"

# the same writes on both keep them equal, summaries, counts and tracked SKUs
# included (line items' statuses, orders' statuses, deleted orders)
for db in upgraded fresh; do
    q $db -q -c "SELECT crux.track_skus(2)" \
             -c "UPDATE crux.line_items SET status = 'cancelled' WHERE sku_id LIKE 'SKU0001%'" \
             -c "UPDATE crux.orders SET status = 'Delivered' WHERE purchase_order_id LIKE 'PO-0000002%'" \
             -c "DELETE FROM crux.orders WHERE purchase_order_id LIKE 'PO-0000004%'"
done
[ "$(answers upgraded)" = "$(answers fresh)" ]
tap $? "after the same writes on both, still the same answers"
wrong=$(q upgraded -c "SELECT crux.recount_summaries()")
[ "$wrong" = 0 ]; tap $? "the upgraded database's summaries and counts are exact (found $wrong wrong)"

# from each later released version, with data and writes, to the default version:
# 1.1 (summaries still columns of crux.orders: they move into crux.order_summaries
# with their values), 1.2 (the summaries' retailer-day index becomes partial), 1.3
# (export rows take their tracking numbers from crux.line_item_tracking), 1.4
# (crux.export_csv writes the worker's CSV), 1.5 (indexes that lead with the retailer
# for every sort, jit off for the API, line items' and tracking numbers' policies probe),
# 1.6 (the summaries carry their order's created_date, in the day indexes), 1.7 (exports:
# cancel, expiry, the CSV in the API's forms), and 1.8 to 1.18 (which this library
# still serves: they answer before the update too; 1.9 adds the export across
# shards, 1.10 the order in the line items' sku_id index, 1.11 the tracking numbers'
# policy's first test, 1.12 crux.sku_orders, filled by the update, 1.13 the triggers
# of crux.tracked_skus, 1.14 the summaries held for their line items, 1.15 the orders
# counted when their summaries are written, 1.16 the summaries' index by
# retailer and order, 1.17 each order's created_date in the sorts' indexes, 1.18
# each order's status in its summary; 1.19 puts each order's created_date in the
# summaries' index by retailer and order)
for from in 1.1 1.2 1.3 1.4 1.5 1.6 1.7 1.8 1.9 1.10 1.11 1.12 1.13 1.14 1.15 1.16 1.17 1.18; do
    db=upgraded_${from/./_}
    q postgres -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    q $db -q -c "CREATE EXTENSION crux_orders VERSION '$from'" &&
        q $db -q -v orders=500 -f test/generate.sql >/dev/null &&
        q $db -q -c "UPDATE crux.line_items SET status = 'cancelled' WHERE sku_id LIKE 'SKU0001%'" \
                 -c "UPDATE crux.orders SET status = 'Delivered' WHERE purchase_order_id LIKE 'PO-0000002%'" \
                 -c "DELETE FROM crux.orders WHERE purchase_order_id LIKE 'PO-0000004%'"
    tap $? "CREATE EXTENSION crux_orders VERSION '$from', orders and the same writes"
    before=$(answers $db)
    q $db -q -c "ALTER EXTENSION crux_orders UPDATE"
    tap $? "ALTER EXTENSION crux_orders UPDATE from $from"
    if [ "$from" = 1.8 ] || [ "$from" = 1.9 ] || [ "$from" = 1.10 ] || [ "$from" = 1.11 ] ||
       [ "$from" = 1.12 ] || [ "$from" = 1.13 ] || [ "$from" = 1.14 ] || [ "$from" = 1.15 ] ||
       [ "$from" = 1.16 ] || [ "$from" = 1.17 ] || [ "$from" = 1.18 ]; then
        [ "$before" = "$(answers fresh)" ] && [ "$(answers $db)" = "$(answers fresh)" ]
        tap $? "from $from: the same answers as a fresh install, before the update and after it"
    else
        [[ $before == *"is at version $from"*"ALTER EXTENSION crux_orders UPDATE"* ]] &&
            [ "$(answers $db)" = "$(answers fresh)" ]
        tap $? "from $from: the update's error before it, then the same answers as a fresh install"
    fi
    wrong=$(q $db -c "SELECT crux.recount_summaries()")
    [ "$wrong" = 0 ]; tap $? "from $from: the summaries and counts are exact afterwards (found $wrong wrong)"
    [ "$(q $db -f test/upgrade/fingerprint.sql 2>&1)" = "$(q fresh -f test/upgrade/fingerprint.sql 2>&1)" ]
    tap $? "from $from: the same objects, definitions and grants as a fresh install"
    q postgres -q -c "DROP DATABASE $db"
done

# an update from 1.14 inside a transaction whose new orders' summaries 1.14 holds
# (counted at insert): the update writes them first; their line items, and orders
# held after it (counted when written), count nothing twice or not at all
q postgres -q -c "DROP DATABASE IF EXISTS held_1_14" -c "CREATE DATABASE held_1_14"
q held_1_14 -q -c "CREATE EXTENSION crux_orders VERSION '1.14'" &&
    q held_1_14 -q -v orders=200 -f test/generate.sql >/dev/null &&
    q held_1_14 -q -c "BEGIN" \
        -c "INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id)
            SELECT md5('UP' || g)::uuid, md5('org-2')::uuid, 'UP-' || g FROM generate_series(1, 20) g" \
        -c "ALTER EXTENSION crux_orders UPDATE" \
        -c "INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id)
            SELECT md5('UP' || g)::uuid, md5('org-2')::uuid, 'UP-' || g FROM generate_series(21, 40) g" \
        -c "INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
            SELECT md5('UP' || g)::uuid, 'allocated', 'UP-1', 1 FROM generate_series(1, 30) g" \
        -c "COMMIT"
rc=$?
state=$(q held_1_14 -c "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'crux_orders'),
                               (SELECT count(*) FROM crux.orders WHERE purchase_order_id LIKE 'UP-%'),
                               crux.recount_summaries()")
[ $rc = 0 ] && [ "$state" = "1.19|40|0" ]
tap $? "an update from 1.14 in a transaction that holds summaries, then more orders and line items: at 1.19, 40 orders, every summary and count exact (version|orders|wrong: $state)"
q postgres -q -c "DROP DATABASE held_1_14"
