-- crux.sku_orders, kept by the triggers for the SKUs crux.track_skus() tracks
-- (or a superuser inserts into crux.tracked_skus, updates or deletes there):
-- each order once per tracked SKU its line items carry, with the order's retailer,
-- created_date and status mask, through every kind of write; a tenant reads its own rows only;
-- a tracked SKU's term reads it, not probing order by order; an untracked one is
-- answered from the line items.
BEGIN;
SELECT plan(40);

CREATE TEMP VIEW expected_sku_orders AS
SELECT DISTINCT li.sku_id COLLATE "C" AS sku_id, o.retailer_uuid, o.created_date, li.order_uuid,
       s.status_mask
  FROM crux.line_items li
  JOIN crux.tracked_skus t ON t.sku_id = li.sku_id
  JOIN crux.orders o ON o.uuid = li.order_uuid
  JOIN crux.order_summaries s ON s.order_uuid = o.uuid;
CREATE TEMP VIEW sku_orders_wrong AS
SELECT count(*) AS n FROM (
    (SELECT * FROM expected_sku_orders EXCEPT ALL SELECT * FROM crux.sku_orders)
    UNION ALL
    (SELECT * FROM crux.sku_orders EXCEPT ALL SELECT * FROM expected_sku_orders)) d;

CREATE TEMP VIEW share_locks AS
SELECT count(*) AS n FROM pg_locks
 WHERE pid = pg_backend_pid() AND mode = 'ShareLock'
   AND relation IN ('crux.orders'::regclass, 'crux.line_items'::regclass);

SELECT is((SELECT count(*) FROM crux.sku_orders), 0::bigint, 'nothing is tracked before crux.track_skus()');
INSERT INTO crux.tracked_skus SELECT 'NOTHING' WHERE false;
SELECT is((SELECT n FROM share_locks), 0::bigint,
          'a change of crux.tracked_skus that changes no row locks out no writer');
SET LOCAL lock_timeout = '3s';
SELECT is(crux.track_skus(1), (SELECT count(DISTINCT sku_id) FROM crux.line_items),
          'crux.track_skus(1) tracks every SKU held by a line item');
SELECT is((SELECT n FROM share_locks), 2::bigint,
          'it holds SHARE locks on orders and line items until the transaction ends');
SELECT is(current_setting('lock_timeout'), '3s',
          'and leaves the session''s lock_timeout as it was (its attempts set their own)');
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'and adds one row per order and SKU');
SELECT cmp_ok((SELECT count(*) FROM crux.sku_orders), '>', 1000::bigint, 'there are rows to compare');
SELECT is(crux.track_skus(1), 0::bigint, 'run again, it adds nothing');
SELECT throws_ok('SELECT crux.track_skus(0)', '22023', 'invalid min_line_items: 0', 'a bad threshold is refused');

-- a new SKU is not tracked until crux.track_skus() finds it; then two line items of
-- it in one order are one row, which stays while one of them holds the SKU
CREATE TEMP TABLE o1 AS SELECT uuid, retailer_uuid, created_date FROM crux.orders ORDER BY uuid LIMIT 1;
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered)
SELECT uuid, p, 'SKU-TWICE', 1 FROM o1, generate_series(10, 11) p;
SELECT is((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-TWICE'), 0::bigint,
          'a new SKU has no rows');
SELECT is(crux.track_skus(2), 1::bigint, 'crux.track_skus(2) tracks it');
SELECT is((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-TWICE'), 1::bigint,
          'two line items of one SKU in one order: one row');
DELETE FROM crux.line_items WHERE sku_id = 'SKU-TWICE' AND position = 10;
SELECT is((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-TWICE'), 1::bigint,
          'one of them deleted: the row stays');
UPDATE crux.line_items SET sku_id = 'SKU000123' WHERE sku_id = 'SKU-TWICE';
SELECT is((SELECT count(*) FROM crux.sku_orders k, o1 WHERE k.order_uuid = o1.uuid AND k.sku_id IN ('SKU-TWICE', 'SKU000123')),
          1::bigint, 'the last one given another tracked SKU: the row moves to it');
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'every row as the line items say');
UPDATE crux.line_items SET status = 'delivered' WHERE order_uuid = (SELECT uuid FROM o1);
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'a change of status: the rows carry the new mask');
UPDATE crux.line_items SET status = 'rejected' WHERE uuid IN (SELECT uuid FROM crux.line_items ORDER BY uuid LIMIT 200);
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'many changes of status in one statement');

-- an order moved to another retailer and date: its rows follow
UPDATE crux.orders SET retailer_uuid = md5('org-7')::uuid, created_date = created_date + interval '3 days'
 WHERE uuid = (SELECT uuid FROM o1);
SELECT ok((SELECT bool_and(k.retailer_uuid = md5('org-7')::uuid AND k.created_date = o.created_date + interval '3 days')
             FROM crux.sku_orders k, o1 o WHERE k.order_uuid = o.uuid)
          AND (SELECT count(*) FROM crux.sku_orders k, o1 o WHERE k.order_uuid = o.uuid) > 0,
          'an order moved to another retailer and date: its rows carry them');

-- a line item moved to another order
UPDATE crux.line_items SET order_uuid = (SELECT uuid FROM crux.orders ORDER BY uuid OFFSET 1 LIMIT 1)
 WHERE uuid = (SELECT uuid FROM crux.line_items WHERE order_uuid = (SELECT uuid FROM o1) ORDER BY uuid LIMIT 1);
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'a line item moved to another order');

-- an order deleted: its line items go by cascade, and its rows with them
DELETE FROM crux.orders WHERE uuid = (SELECT uuid FROM o1);
SELECT is((SELECT count(*) FROM crux.sku_orders k, o1 o WHERE k.order_uuid = o.uuid), 0::bigint,
          'an order deleted: none of its rows stays');
DELETE FROM crux.orders WHERE uuid IN (SELECT uuid FROM crux.orders ORDER BY uuid OFFSET 10 LIMIT 25);
UPDATE crux.line_items SET sku_id = NULL WHERE uuid IN (SELECT uuid FROM crux.line_items ORDER BY uuid LIMIT 20);
DELETE FROM crux.line_items WHERE uuid IN (SELECT uuid FROM crux.line_items ORDER BY uuid DESC LIMIT 20);
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint,
          'many orders deleted in one statement, line items losing their SKU, line items deleted');
SELECT is(crux.recount_summaries(), 0::bigint, 'crux.recount_summaries finds nothing wrong');

-- recount_summaries repairs a damaged table and says how many rows were wrong
SET LOCAL session_replication_role = replica;   -- the triggers do not fire
DELETE FROM crux.line_items WHERE uuid IN (SELECT uuid FROM crux.line_items ORDER BY uuid LIMIT 3);
INSERT INTO crux.sku_orders VALUES ('SKU000123', md5('org-2')::uuid, now(), gen_random_uuid(), 1::smallint);
UPDATE crux.sku_orders SET status_mask = 127 WHERE order_uuid = (SELECT order_uuid FROM crux.sku_orders ORDER BY order_uuid LIMIT 1);
RESET session_replication_role;
SELECT cmp_ok(crux.recount_summaries(), '>=', 3::bigint, 'rows and masks made wrong behind the triggers are found');
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'and repaired');

-- a tracked SKU's page reads no summary per order (no status filter, no sku_id sort);
-- an untracked one is answered from the line items
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered)
SELECT uuid, 98, 'SKU-IN-400', 1 FROM crux.orders ORDER BY uuid LIMIT 400;
SELECT is((crux_get_orders('{"term": "SKU-IN-400"}') ->> 'total_results')::int, 400,
          'an untracked SKU in 400 orders: all counted, from the line items');
SELECT is(crux.track_skus(400), 1::bigint, 'crux.track_skus(400) tracks it');
SELECT (SELECT sum(pg_stat_get_xact_numscans(indexrelid)) FROM pg_index WHERE indrelid = 'crux.order_summaries'::regclass) AS scans_before \gset
SELECT is((crux_get_orders('{"term": "SKU-IN-400"}') ->> 'total_results')::int, 400, 'tracked: all counted');
SELECT cmp_ok((SELECT sum(pg_stat_get_xact_numscans(indexrelid)) FROM pg_index WHERE indrelid = 'crux.order_summaries'::regclass) - :scans_before, '<', 5::numeric,
              'from crux.sku_orders: no summary probed per order');

-- the list changed directly: an untracked SKU's rows go and its term is answered
-- from the line items; a SKU inserted or renamed there gets its orders' rows;
-- TRUNCATE, which would leave the rows behind, is refused
DELETE FROM crux.tracked_skus WHERE sku_id = 'SKU-IN-400';
SELECT is((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-IN-400'), 0::bigint,
          'DELETE FROM crux.tracked_skus untracks a SKU: its rows go');
SELECT is((crux_get_orders('{"term": "SKU-IN-400"}') ->> 'total_results')::int, 400,
          'untracked again: all counted, from the line items');
UPDATE crux.line_items SET status = 'cancelled' WHERE sku_id = 'SKU-IN-400' AND position = 98
   AND order_uuid IN (SELECT uuid FROM crux.orders ORDER BY uuid LIMIT 50);
INSERT INTO crux.tracked_skus VALUES ('SKU-IN-400');
SELECT is((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-IN-400'), 400::bigint,
          'INSERT INTO crux.tracked_skus tracks it: a row per order');
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint,
          'with the status masks of now, not of when it was last tracked');
SELECT is((crux_get_orders('{"term": "SKU-IN-400", "line_item_status": "cancelled"}') ->> 'total_results')::bigint,
          (SELECT count(DISTINCT li.order_uuid) FROM crux.line_items li
            WHERE li.status = 'cancelled'
              AND li.order_uuid IN (SELECT order_uuid FROM crux.line_items WHERE sku_id = 'SKU-IN-400')),
          'a tracked SKU''s term with a status filter counts from its rows (50 made cancelled and more)');
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered)
SELECT uuid, 97, 'SKU-IN-3', 1 FROM crux.orders ORDER BY uuid DESC LIMIT 3;
UPDATE crux.tracked_skus SET sku_id = 'SKU-IN-3' WHERE sku_id = 'SKU-IN-400';
SELECT ok((SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-IN-400') = 0
          AND (SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-IN-3') = 3,
          'a tracked SKU renamed in crux.tracked_skus: the old one''s rows go, the new one''s come');
SELECT is((SELECT n FROM sku_orders_wrong), 0::bigint, 'every row as the line items say');
SELECT throws_ok('TRUNCATE crux.tracked_skus', '0A000', 'cannot truncate crux.tracked_skus',
                 'TRUNCATE crux.tracked_skus is refused');
-- rows an untracked SKU left behind (a DELETE without the trigger, as before 1.13),
-- here with wrong masks, give way to the rows of now when it is tracked again
ALTER TABLE crux.tracked_skus DISABLE TRIGGER tracked_skus_delete;
DELETE FROM crux.tracked_skus WHERE sku_id = 'SKU-IN-3';
ALTER TABLE crux.tracked_skus ENABLE TRIGGER tracked_skus_delete;
UPDATE crux.sku_orders SET status_mask = 0 WHERE sku_id = 'SKU-IN-3';
INSERT INTO crux.tracked_skus VALUES ('SKU-IN-3'), ('SKU-IN-400');
SELECT ok((SELECT n FROM sku_orders_wrong) = 0 AND (SELECT count(*) FROM crux.sku_orders WHERE sku_id = 'SKU-IN-3') = 3,
          'a SKU tracked again replaces the rows left from before with the masks of now');

-- a tenant reads only its organization's rows, not the list of tracked SKUs, and
-- its term counts its own orders
SELECT (SELECT count(*) FROM crux.sku_orders WHERE retailer_uuid = md5('org-2')::uuid) AS own,
       (SELECT count(*) FROM crux.orders o WHERE o.retailer_uuid = md5('org-2')::uuid
           AND EXISTS (SELECT FROM crux.line_items li WHERE li.order_uuid = o.uuid AND li.sku_id = 'SKU-IN-400')) AS own_400 \gset
CREATE ROLE t_sku_tenant NOLOGIN;
GRANT crux_reader TO t_sku_tenant;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_sku_tenant', md5('org-2')::uuid);
SET LOCAL ROLE t_sku_tenant;
SELECT is((SELECT count(*) FROM crux.sku_orders), :own::bigint, 'a tenant reads only its own rows');
SELECT throws_ok('SELECT * FROM crux.tracked_skus', '42501', NULL, 'and not the tracked SKUs');
SELECT is((crux_get_orders('{"term": "SKU-IN-400", "limit": 1000}') ->> 'total_results')::bigint, :own_400::bigint,
          format('a tenant''s term counts its own orders of the SKU (%s of 400)', :own_400));
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
