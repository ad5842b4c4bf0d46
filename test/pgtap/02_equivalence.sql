-- crux_get_orders against the plain-SQL baseline (test/baseline.sql), which reads
-- only the contract's columns: for about 2,500 requests over the 1,000 sample
-- orders, combining every filter, conjunction, sort key and direction with paging
-- (also deep and past the end, also for several organizations and for terms),
-- both must return identical jsonb.
BEGIN;

-- the SKUs held by 3 line items or more are tracked (crux.sku_orders); rarer ones
-- are answered from the line items (rolled back with the rest)
SELECT crux.track_skus(3) AS tracked \gset

CREATE TEMP TABLE requests (req jsonb);
INSERT INTO requests
-- every conjunction over single statuses, pairs and all seven, each sort both ways
SELECT jsonb_build_object('line_item_status', s, 'status_conjunction', c,
                          'sort', jsonb_build_object('key', k, 'dir', d), 'start', p, 'limit', p + 20)
  FROM (VALUES ('["unallocated"]'::jsonb), ('["allocated"]'), ('["rejected"]'), ('["HasTracking"]'),
               ('["backordered"]'), ('["delivered"]'), ('["Cancelled"]'),
               ('["unallocated", "delivered"]'), ('["allocated", "has_tracking"]'),
               ('["rejected", "cancelled", "backordered"]'),
               ('["unallocated", "allocated", "rejected", "has_tracking", "backordered", "delivered", "cancelled"]')) s(s),
       (VALUES ('or'), ('and'), ('only')) c(c),
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (35)) p(p)
 WHERE c <> 'only' OR jsonb_array_length(s) = 1;

INSERT INTO requests
-- date ranges, terms and organizations, with and without statuses
SELECT jsonb_strip_nulls(jsonb_build_object(
           'start_date', sd, 'end_date', ed, 'term', t, 'org_uuids', o,
           'line_item_statuses', s, 'sort', jsonb_build_object('key', k)))
  FROM (VALUES (NULL), ('2016-06-01T00:00:00Z'), ('2016-06-10T07:00:00Z'), ('2018-01-01T00:00:00.000Z')) sd(sd),
       (VALUES (NULL), ('2017-06-01T00:00:00Z')) ed(ed),
       (VALUES (NULL), ('PO-00000042'), ('SKU000123'),
               ((SELECT upper(uuid::text) FROM crux.orders ORDER BY uuid LIMIT 1))) t(t),
       (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid)),
               (jsonb_build_array(md5('org-2')::uuid, md5('org-3')::uuid))) o(o),
       (VALUES (NULL::jsonb), ('["Delivered", "Allocated"]')) s(s),
       (VALUES ('date'), ('sku_id'), ('status'), ('uuid')) k(k);

INSERT INTO requests
-- several organizations (each read on its own, then merged), one named twice, one
-- unknown; terms paged to and past their last match
SELECT jsonb_strip_nulls(jsonb_build_object(
           'org_uuids', o, 'term', t, 'line_item_status', s,
           'sort', jsonb_build_object('key', k, 'dir', d), 'start', p, 'limit', p + 15))
  FROM (VALUES (jsonb_build_array(md5('org-2')::uuid, md5('org-1')::uuid, md5('org-2')::uuid)),
               (jsonb_build_array(md5('org-3')::uuid, md5('org-4')::uuid, md5('org-5')::uuid,
                                  md5('no such org')::uuid))) o(o),
       (VALUES (NULL), ('SKU000123')) t(t),
       (VALUES (NULL), ('cancelled')) s(s),
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (40), (400)) p(p);

INSERT INTO requests
-- sparse status filters ("only", "and"), which read the summaries' day index, over
-- date ranges that start and end inside a day, both ways, deep and past the end
SELECT jsonb_build_object('line_item_status', s, 'status_conjunction', c,
                          'start_date', sd, 'end_date', ed,
                          'sort', jsonb_build_object('key', 'date', 'dir', d), 'start', p, 'limit', p + 10)
  FROM (VALUES ('["cancelled"]'::jsonb, 'only'), ('["delivered"]', 'only'),
               ('["rejected", "cancelled"]', 'and'), ('["unallocated", "delivered"]', 'and')) s(s, c),
       (VALUES ('2016-02-03T04:05:06.789Z', '2017-08-09T10:11:12Z'),
               ('2017-05-05T13:00:00Z', '2017-05-06T01:00:00Z')) r(sd, ed),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (12), (300)) p(p);

INSERT INTO requests
-- sparse status filters for several organizations (one day-index walk each, merged),
-- and more organizations than are merged branch by branch (17: one list)
SELECT jsonb_build_object('org_uuids', o, 'line_item_status', s, 'status_conjunction', c,
                          'sort', jsonb_build_object('key', k, 'dir', d), 'start', p, 'limit', p + 10)
  FROM (VALUES (jsonb_build_array(md5('org-2')::uuid, md5('org-1')::uuid)),
               ((SELECT jsonb_agg(md5('org-' || g)::uuid) FROM generate_series(1, 17) g))) o(o),
       (VALUES ('["delivered"]'::jsonb, 'only'), ('["allocated", "delivered"]', 'and')) s(s, c),
       (VALUES ('date'), ('status')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (25)) p(p);

INSERT INTO requests
-- "or" filters and single statuses under the date sort whose page ends far into the
-- orders they keep (the day index is read then), over ranges with partial days, for
-- all retailers and for one organization
SELECT jsonb_strip_nulls(jsonb_build_object(
           'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
           'start_date', sd, 'end_date', ed,
           'sort', jsonb_build_object('key', 'date', 'dir', d), 'start', p, 'limit', p + 150))
  FROM (VALUES ('["rejected"]'::jsonb, 'or'), ('["backordered"]', 'and'),
               ('["cancelled", "rejected"]', 'or')) s(s, c),
       (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid))) o(o),
       (VALUES (NULL, NULL), ('2016-02-03T04:05:06.789Z', '2017-08-09T10:11:12Z')) r(sd, ed),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (60), (400)) p(p);

INSERT INTO requests
-- status filters under the status and uuid sorts, whose matches may be collected
-- from the summaries and sorted: all retailers, one and two organizations, with and
-- without a date range, first and later pages
SELECT jsonb_strip_nulls(jsonb_build_object(
           'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
           'start_date', sd, 'end_date', ed,
           'sort', jsonb_build_object('key', k, 'dir', d), 'start', p, 'limit', p + 20))
  FROM (VALUES ('["cancelled"]'::jsonb, 'only'), ('["rejected", "delivered"]', 'and'),
               ('["backordered"]', 'or')) s(s, c),
       (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid)),
               (jsonb_build_array(md5('org-2')::uuid, md5('org-3')::uuid))) o(o),
       (VALUES (NULL, NULL), ('2016-06-10T07:00:00Z', '2017-08-09T10:11:12.5Z')) r(sd, ed),
       (VALUES ('status'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (30)) p(p);

INSERT INTO requests
-- terms (the most popular SKU, tracked, a SKU of two line items, untracked, a PO,
-- an order uuid in capitals, nothing) under every
-- conjunction, sort and direction, with a date range, for one organization; first
-- pages, later pages and pages past the last match (counted without a page)
SELECT jsonb_strip_nulls(jsonb_build_object(
           'term', t, 'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
           'start_date', sd, 'sort', jsonb_build_object('key', k, 'dir', d),
           'start', p, 'limit', p + 7))
  FROM (VALUES ((SELECT sku_id FROM crux.line_items GROUP BY sku_id ORDER BY count(*) DESC, sku_id LIMIT 1)),
               ((SELECT sku_id FROM crux.line_items GROUP BY sku_id HAVING count(*) = 2 ORDER BY sku_id LIMIT 1)),
               ('PO-00000042'),
               ((SELECT upper(uuid::text) FROM crux.orders ORDER BY uuid OFFSET 7 LIMIT 1)),
               ('no such term')) t(t),
       (VALUES (NULL::jsonb, NULL), ('["delivered"]', 'only'), ('["allocated", "backordered"]', 'and'),
               ('["rejected", "cancelled"]', 'or')) s(s, c),
       (VALUES (NULL::jsonb, NULL), (jsonb_build_array(md5('org-1')::uuid), '2016-06-10T07:00:00Z')) o(o, sd),
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (5), (60)) p(p);

-- a term that is a purchase order and also a SKU, of that order and of others,
-- untracked and tracked: each order once
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered)
SELECT uuid, 97, 'PO-00000077', 1 FROM crux.orders
 WHERE purchase_order_id = 'PO-00000077' OR uuid IN (SELECT uuid FROM crux.orders ORDER BY uuid LIMIT 5);
CREATE TEMP TABLE po_sku AS
SELECT crux_get_orders(jsonb_strip_nulls(jsonb_build_object('term', 'PO-00000077', 'line_item_status', s,
                                                            'sort', jsonb_build_object('key', k, 'dir', 'asc')))) AS untracked,
       jsonb_strip_nulls(jsonb_build_object('term', 'PO-00000077', 'line_item_status', s,
                                            'sort', jsonb_build_object('key', k, 'dir', 'asc'))) AS req
  FROM (VALUES (NULL::jsonb), ('["unallocated"]')) s(s),
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k);
SELECT crux.track_skus(6) AS tracked \gset
ALTER TABLE po_sku ADD COLUMN tracked jsonb;
UPDATE po_sku SET tracked = crux_get_orders(req);
INSERT INTO requests SELECT req FROM po_sku;

-- a SKU in 300 orders, tracked, named by an administrator with organizations that
-- have far fewer: its orders are read from crux.sku_orders by organization
INSERT INTO crux.line_items (order_uuid, position, sku_id, sku_name, quantity_ordered, status)
SELECT uuid, 99, 'SKU-IN-300', 'in 300 orders', 1,
       (ARRAY['unallocated', 'allocated', 'delivered', 'cancelled'])[1 + n % 4]::crux.line_item_status
  FROM (SELECT uuid, row_number() OVER (ORDER BY uuid) AS n FROM crux.orders) o
 WHERE n % 3 = 0 LIMIT 300;
SELECT crux.track_skus(300) AS tracked \gset
INSERT INTO requests
SELECT jsonb_strip_nulls(jsonb_build_object(
           'term', 'SKU-IN-300', 'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
           'start_date', sd, 'sort', jsonb_build_object('key', k, 'dir', d),
           'start', p, 'limit', p + 6))
  FROM (VALUES (NULL::jsonb, NULL), ('["cancelled"]', 'only'), ('["allocated", "delivered"]', 'or')) s(s, c),
       (VALUES (jsonb_build_array(md5('org-2')::uuid), NULL),
               (jsonb_build_array(md5('org-3')::uuid, md5('org-4')::uuid, md5('no such org')::uuid),
                '2016-06-10T07:00:00Z')) o(o, sd),
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (4), (200)) p(p);

INSERT INTO requests VALUES
    ('{}'), ('{"start": 990, "limit": 1000}'), ('{"start": 1000, "limit": 1000}'),
    ('{"start": 5000, "limit": 5010}'), ('{"limit": 1000, "sort": {"key": "status", "dir": "asc"}}'),
    ('{"limit": 1000, "sort": {"key": "sku_id", "dir": "desc"}}');

-- an order wider than jsonb's offset stride (32 children): 40 line items, the first
-- with 45 tracking numbers, quantities past the small ones, money with trailing zeros
INSERT INTO crux.orders (uuid, retailer_uuid, status, purchase_order_id, created_date)
VALUES (md5('wide order')::uuid, md5('org-2')::uuid, 'New', 'PO-WIDE', '2017-06-01T12:00:00Z');
INSERT INTO crux.line_items (uuid, order_uuid, position, status, sku_id, quantity_ordered, cost)
SELECT md5('wide line ' || g)::uuid, md5('wide order')::uuid, g, 'has_tracking', 'SKU-WIDE',
       250 + g, g * 1.10
  FROM generate_series(1, 40) g;
INSERT INTO crux.tracking_numbers (line_item_uuid, tracking_number, quantity, shipping_cost, shipping_date)
SELECT md5('wide line 1')::uuid, 'TN-WIDE-' || g, 300 + g, g / 4.0,
       '2017-06-02T00:00:00Z'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 45) g;
INSERT INTO requests VALUES ('{"term": "PO-WIDE"}'), ('{"term": "SKU-WIDE", "limit": 1000}');

SELECT plan((SELECT count(*)::int FROM requests) + 3);
SELECT is(crux_get_orders(req), crux_baseline.get_orders(req), req::text) FROM requests;
SELECT ok(bool_and(r::text::jsonb = r AND jsonb_array_length(r->'orders'->0->'line_items') = 40
                   AND jsonb_array_length(r->'orders'->0->'line_items'->0->'tracking_numbers') = 45),
          'the wide order reads back from its text as written')
  FROM (SELECT crux_get_orders('{"term": "PO-WIDE"}') AS r) s;
SELECT ok(bool_and(untracked = tracked), 'a term that is a PO and a SKU: the same answers untracked and tracked')
  FROM po_sku;

-- that term reads no summary per order of the SKU (300)
SELECT (SELECT sum(pg_stat_get_xact_numscans(indexrelid)) FROM pg_index WHERE indrelid = 'crux.order_summaries'::regclass) AS scans_before \gset
SELECT crux_get_orders(jsonb_build_object('term', 'SKU-IN-300', 'org_uuids',
                                          jsonb_build_array(md5('org-2')::uuid))) IS NULL AS failed \gset
SELECT cmp_ok((SELECT sum(pg_stat_get_xact_numscans(indexrelid)) FROM pg_index WHERE indrelid = 'crux.order_summaries'::regclass) - :scans_before, '<', 30::numeric,
              'a SKU in 300 orders, for a small organization: its orders are read by organization, no summary probed per order');

SELECT * FROM finish();
ROLLBACK;
