-- The per-order summaries (status counts, status_mask, min_sku_id; version 1.2:
-- rows of crux.order_summaries) stay exact through plain INSERT, UPDATE, DELETE
-- and TRUNCATE on crux.line_items and crux.orders.
CREATE FUNCTION summary(po text) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s mask=%s counts=%s/%s/%s/%s/%s/%s/%s min_sku=%s', o.purchase_order_id,
                  s.status_mask, s.n_unallocated, s.n_allocated, s.n_rejected,
                  s.n_has_tracking, s.n_backordered, s.n_delivered, s.n_cancelled,
                  coalesce(s.min_sku_id, '-'))
      FROM crux.orders o LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid
     WHERE o.purchase_order_id = po
$$;
-- the summaries that differ from a recount from scratch (none, when all is well):
-- wrong counts, a wrong retailer or day, a missing summary row, or one left over
-- from an order that is gone
CREATE VIEW drift AS
SELECT coalesce(o.purchase_order_id, 'summary of no order ' || o_gone.order_uuid) AS purchase_order_id
  FROM crux.orders o
  FULL JOIN crux.order_summaries o_gone ON o_gone.order_uuid = o.uuid
  LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE status = 'unallocated') AS u,
                            count(*) FILTER (WHERE status = 'allocated') AS a,
                            count(*) FILTER (WHERE status = 'rejected') AS r,
                            count(*) FILTER (WHERE status = 'has_tracking') AS h,
                            count(*) FILTER (WHERE status = 'backordered') AS b,
                            count(*) FILTER (WHERE status = 'delivered') AS d,
                            count(*) FILTER (WHERE status = 'cancelled') AS c,
                            min(sku_id COLLATE "C") AS m
                       FROM crux.line_items li WHERE li.order_uuid = o.uuid) f ON true
 WHERE o.uuid IS NULL OR o_gone.order_uuid IS NULL
    OR (o_gone.retailer_uuid, o_gone.created_day, o_gone.n_unallocated, o_gone.n_allocated,
        o_gone.n_rejected, o_gone.n_has_tracking, o_gone.n_backordered,
        o_gone.n_delivered, o_gone.n_cancelled, o_gone.min_sku_id)
       IS DISTINCT FROM (o.retailer_uuid, (o.created_date AT TIME ZONE 'UTC')::date,
                         f.u::int, f.a::int, f.r::int, f.h::int, f.b::int, f.d::int,
                         f.c::int, f.m);

SELECT summary('P03'), summary('P05'), summary('P10');
SELECT * FROM drift;

-- insert one, then several lines in one statement into several orders
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT uuid, 'delivered', 'A-1', 1 FROM crux.orders WHERE purchase_order_id = 'P05';
SELECT summary('P05');
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT uuid, s::crux.line_item_status, NULL, 2
  FROM crux.orders, unnest('{rejected,rejected,cancelled}'::text[]) s
 WHERE purchase_order_id IN ('P03', 'P05');
SELECT summary('P03'), summary('P05');

-- a status change moves the count; a quantity change leaves it
UPDATE crux.line_items SET status = 'allocated'
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P03')
   AND status = 'unallocated';
SELECT summary('P03');
UPDATE crux.line_items SET quantity_ordered = quantity_ordered + 1;
SELECT summary('P03');
SELECT pos('{"line_item_status": "unallocated", "status_conjunction": "only"}');

-- changing the smallest sku_id recomputes it; NULL skus never count
UPDATE crux.line_items SET sku_id = 'Z-9'
 WHERE sku_id = 'A-1';
SELECT summary('P05');
UPDATE crux.line_items SET sku_id = NULL
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P05');
SELECT summary('P05');

-- moving a line item to another order updates both
UPDATE crux.line_items SET order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P05')
 WHERE sku_id = 'S-050';
SELECT summary('P03'), summary('P05');

-- deleting lines, then an order (its lines go by cascade)
DELETE FROM crux.line_items
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P10')
   AND status IN ('unallocated', 'cancelled');
SELECT summary('P10');
DELETE FROM crux.line_items
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P10');
SELECT summary('P10');
DELETE FROM crux.orders WHERE purchase_order_id = 'P09';
SELECT * FROM drift;

-- a rolled back change leaves the summary as it was
BEGIN;
UPDATE crux.line_items SET status = 'cancelled';
SELECT count(*) FROM crux.order_summaries WHERE status_mask = 64;
ROLLBACK;
SELECT summary('P03');

-- recount_summaries finds nothing to fix when the triggers did their work, and
-- fixes summaries damaged behind the triggers' back
SELECT crux.recount_summaries();
ALTER TABLE crux.line_items DISABLE TRIGGER line_items_summarize_update;
UPDATE crux.line_items SET status = 'rejected' WHERE sku_id = 'S-900' OR sku_id LIKE 'S-1%';
ALTER TABLE crux.line_items ENABLE TRIGGER line_items_summarize_update;
SELECT count(*) AS drifted FROM drift;
SELECT crux.recount_summaries();
SELECT * FROM drift;

-- the order counts (crux.order_counts, version 1.1; a count per status mask in one
-- row per bucket since 1.2) follow every change to orders: new and deleted orders,
-- line-item changes, a move to another day and retailer
CREATE VIEW counts_rows_per_bucket AS
SELECT count(*) AS bucket_rows, count(DISTINCT (retailer_uuid, period)) AS buckets
  FROM crux.order_counts;
SELECT crux.recount_order_counts();
UPDATE crux.orders SET created_date = created_date + interval '40 days'
 WHERE purchase_order_id = 'P03';
UPDATE crux.orders SET retailer_uuid = (SELECT uuid FROM crux.organizations
                                          WHERE uuid <> orders.retailer_uuid
                                          ORDER BY uuid LIMIT 1)
 WHERE purchase_order_id = 'P04';
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT retailer_uuid, 'P-NEW', '2017-12-31 23:59:59.999999+00' FROM crux.orders
 WHERE purchase_order_id = 'P05';
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT uuid, 'backordered', 'N-1', 1 FROM crux.orders WHERE purchase_order_id = 'P-NEW';
DELETE FROM crux.orders WHERE purchase_order_id = 'P08';
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE crux.line_items SET status = 'delivered'
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'P05');
COMMIT;
SELECT crux.recount_order_counts();
-- without concurrent writers every bucket is one row
SELECT bucket_rows = buckets AS folded FROM counts_rows_per_bucket;
BEGIN;
UPDATE crux.line_items SET status = 'cancelled';
SELECT crux.recount_order_counts();
ROLLBACK;
SELECT crux.recount_order_counts();

-- TRUNCATE empties every summary
TRUNCATE crux.line_items CASCADE;
SELECT crux.recount_order_counts();
SELECT count(*) FROM crux.order_summaries WHERE status_mask <> 0 OR min_sku_id IS NOT NULL;
SELECT pos('{"line_item_status": ["unallocated"]}');

-- a new order gets an empty summary row; the summaries are not columns of
-- crux.orders (since 1.2), so a loader cannot write them
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id)
VALUES ('00000000-0000-4000-8000-0000000000ee', 'aaaaaaaa-0000-4000-8000-000000000001', 'P-LIE');
SELECT summary('P-LIE');
SELECT * FROM drift;
\set VERBOSITY terse
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, n_delivered)
VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 'P-LIE2', 5);
\set VERBOSITY default
-- an order's summary follows it to a new uuid (possible while it has no line items)
UPDATE crux.orders SET uuid = '00000000-0000-4000-8000-0000000000ef'
 WHERE purchase_order_id = 'P-LIE';
SELECT summary('P-LIE');
SELECT * FROM drift;
SELECT crux.recount_order_counts();
-- a bulk insert (over 10,000 line items in one statement) updates the orders
-- through a hash join; summaries and counts stay exact, the setting is restored
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT o.uuid, (ARRAY['unallocated', 'allocated', 'delivered', 'cancelled'])[1 + g % 4]::crux.line_item_status,
       'B-' || lpad(g::text, 5, '0'), 1
  FROM crux.orders o, generate_series(1, 12000) g;
SELECT count(*) > 10000 AS bulk FROM crux.line_items;
SELECT * FROM drift;
SELECT crux.recount_order_counts();
SHOW enable_nestloop;
SELECT summary('P-LIE');
TRUNCATE crux.orders CASCADE;
SELECT count(*) FROM crux.order_summaries;
SELECT count(*) FROM crux.order_counts;
SELECT count(*) FROM crux.order_counts_all;

-- a top-level statement's new orders' summaries wait for their line items and are
-- written once, with their counts (1.14); at commit, those that no line item took
-- are written empty
BEGIN;
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
SELECT md5('held-' || g)::uuid, (SELECT uuid FROM crux.organizations ORDER BY uuid LIMIT 1),
       'H' || g, timestamptz '2018-03-01 12:00:00+00' + g * interval '1 day'
  FROM generate_series(1, 3) g;
SELECT count(*) AS summaries_written FROM crux.order_summaries
 WHERE order_uuid IN (SELECT md5('held-' || g)::uuid FROM generate_series(1, 3) g);
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT md5('held-1')::uuid, s::crux.line_item_status, 'B-2', 1
  FROM unnest('{backordered,delivered}'::text[]) s;
SELECT n_tup_ins AS summaries_inserted, n_tup_upd AS summaries_updated
  FROM pg_stat_xact_user_tables WHERE relid = 'crux.order_summaries'::regclass;
COMMIT;
SELECT summary('H1'), summary('H2'), summary('H3');
SELECT count(*) AS pending FROM crux.pending_summaries;
SELECT * FROM drift;

-- the count arithmetic: one count per status mask in a bigint[128];
-- NULL when a bucket nets to nothing; a filter sums the masks it matches
SELECT crux.mask_counts(m, n) IS NULL AS nets_to_nothing
  FROM (VALUES (3::smallint, 2::bigint), (3::smallint, -2::bigint)) v(m, n);
WITH c AS (SELECT crux.mask_counts(m, n) AS counts
             FROM (VALUES (1::smallint, 1::bigint), (3::smallint, 10::bigint),
                          (2::smallint, 100::bigint), (64::smallint, 1000::bigint)) v(m, n))
SELECT cardinality(counts) AS masks,
       crux.count_matching(counts, 0::smallint, 0::smallint) AS no_filter,
       crux.count_matching(counts, 1::smallint, 0::smallint) AS or_1,
       crux.count_matching(counts, 3::smallint, 1::smallint) AS and_1_2,
       crux.count_matching(counts, 1::smallint, 2::smallint) AS only_1,
       crux.count_matching(counts, 66::smallint, 0::smallint) AS or_2_64,
       crux.count_matching(crux.mask_counts(counts) OVER (), 2::smallint, 2::smallint) AS merged_only_2
  FROM c;
\set VERBOSITY terse
SELECT crux.mask_counts(128::smallint, 1::bigint);
SELECT crux.count_matching('{1,2}'::bigint[], 0::smallint, 0::smallint);
\set VERBOSITY default
