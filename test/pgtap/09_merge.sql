-- The shards' side of an admin's page across shards (crux_orders_proxy 1.1):
-- crux.get_order_keys_for_merge gives the exact total, the bounds, the direction
-- and the keys of the orders from position 0 to the page's end, in the page's
-- order when sorted; crux.get_orders_by_uuid renders the orders it is given that
-- this database holds, in the given order, as crux_get_orders renders them.
BEGIN;
SELECT plan(9);

CREATE TEMP TABLE k AS
SELECT crux.get_order_keys_for_merge('{"start": 5, "limit": 12, "sort": {"key": "sku_id", "dir": "asc"}}') AS keys,
       crux_get_orders('{"start": 0, "limit": 12, "sort": {"key": "sku_id", "dir": "asc"}}') AS page;

SELECT is((SELECT (keys ->> 'total_results')::bigint FROM k),
          (SELECT (page ->> 'total_results')::bigint FROM k), 'keys: the exact total');
SELECT is((SELECT jsonb_build_array(keys -> 'start', keys -> 'limit', keys -> 'ascending') FROM k),
          '[5, 12, true]'::jsonb, 'keys: the bounds and the direction');
SELECT is((SELECT array_agg(e ->> 1 ORDER BY (e ->> 0) COLLATE "C" NULLS LAST, e ->> 1)
             FROM k, jsonb_array_elements(keys -> 'keys') e),
          (SELECT array_agg(o ->> 'uuid' ORDER BY n)
             FROM k, jsonb_array_elements(page -> 'orders') WITH ORDINALITY x(o, n)),
          'keys: the orders from position 0 to the end, sorted by their values as the page is');

SELECT is(crux.get_orders_by_uuid(ARRAY(
              SELECT (o ->> 'uuid')::uuid FROM k, jsonb_array_elements(page -> 'orders') WITH ORDINALITY x(o, n)
               ORDER BY n DESC) || '00000000-0000-4000-8000-000000000000'::uuid) -> 'orders',
          (SELECT jsonb_agg(o ORDER BY n DESC)
             FROM k, jsonb_array_elements(page -> 'orders') WITH ORDINALITY x(o, n)),
          'by uuid: the orders given, in their order, as crux_get_orders renders them; an unknown uuid is left out');
SELECT is(crux.get_orders_by_uuid('{}') -> 'orders', '[]'::jsonb, 'by uuid: none given, none rendered');
-- an order given 200 times, one of whose line items has three tracking numbers, is
-- rendered 200 times, each with all of them
SELECT li.order_uuid AS tracked, li.uuid AS tracked_item FROM crux.line_items li
  JOIN crux.tracking_numbers t ON t.line_item_uuid = li.uuid ORDER BY li.uuid LIMIT 1 \gset
INSERT INTO crux.tracking_numbers (line_item_uuid, tracking_number, shipping_date)
VALUES (:'tracked_item', '1ZSECOND', '2018-01-02T00:00:00Z'), (:'tracked_item', '1ZTHIRD', NULL);
SELECT is(crux.get_orders_by_uuid(array_fill(:'tracked'::uuid, ARRAY[200])) -> 'orders',
          (SELECT jsonb_agg(x) FROM generate_series(1, 200),
                  (SELECT crux.get_orders_by_uuid(ARRAY[:'tracked']::uuid[]) -> 'orders' -> 0 AS x) y),
          'by uuid: an order given 200 times is rendered 200 times, with all its tracking numbers');
SELECT is((SELECT jsonb_array_length(li -> 'tracking_numbers')
             FROM jsonb_array_elements(crux.get_orders_by_uuid(ARRAY[:'tracked']::uuid[]) -> 'orders' -> 0 -> 'line_items') li
            WHERE li ->> 'uuid' = :'tracked_item'), 3,
          'by uuid: and that line item shows its three tracking numbers');
SELECT throws_ok($$SELECT crux.get_orders_by_uuid(ARRAY[NULL::uuid])$$, '22023', NULL,
                 'by uuid: a null uuid is refused');
SELECT throws_ok($$SELECT crux.get_order_keys_for_merge('{"sort": {"key": "price"}}')$$, '22023', NULL,
                 'keys: a bad request gets crux_get_orders'' error');

SELECT * FROM finish();
ROLLBACK;
