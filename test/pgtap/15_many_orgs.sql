-- Pages of an administrator naming more organizations than one query merges (16):
-- each organization's walk is opened as a cursor and the cursors merged, so that the
-- walks together read about as far as the page's end; with too little work_mem for
-- a cursor each (80 kB), and for an export, the walks run in turn over the list,
-- each to the page's end, and the page is sorted from their rows. A sparse status
-- filter sorted by date walks each organization's day index, and the uuid sort with
-- a status filter each one's summaries by retailer and order, so that neither reads
-- the listed organizations' orders, only the page's. Against the plain-SQL
-- baseline: lists of 20 organizations (one unknown, one named twice) and of 40,
-- every sort both ways, each conjunction, with and without a date range, first,
-- later and past-the-end pages, merged from cursors and walked in turn; an export
-- reads the same selection.

BEGIN;
-- work_mem for a cursor per organization of the lists below (40 x 80 kB)
SET LOCAL work_mem = '4MB';
SELECT plan(10);

-- 20 more retailers with 200 orders each over 2017; each order has an allocated line
-- item, about one in ten a cancelled one too, and about one in four a rejected one
INSERT INTO crux.organizations (uuid, name)
SELECT md5('org-list-' || g)::uuid, 'Listed ' || g FROM generate_series(1, 20) g;
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-list-' || (1 + g % 20))::uuid, 'LIST-' || g,
       timestamptz '2017-01-01 00:00:00Z' + g * interval '131 minutes'
  FROM generate_series(1, 4000) g;
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered, status)
SELECT o.uuid, l.p, 'LIST-SKU', 1, l.s
  FROM crux.orders o,
       LATERAL (SELECT substr(o.purchase_order_id, 6)::int AS g) n,
       LATERAL (VALUES (1, 'allocated'::crux.line_item_status),
                       (2, CASE WHEN abs(hashint4(n.g)) % 10 = 0
                                THEN 'cancelled'::crux.line_item_status END),
                       (3, CASE WHEN abs(hashint4(n.g + 7919)) % 4 = 0
                                THEN 'rejected'::crux.line_item_status END)) l(p, s)
 WHERE o.purchase_order_id LIKE 'LIST-%' AND l.s IS NOT NULL;
ANALYZE crux.orders, crux.order_summaries;

CREATE TEMP TABLE lists (n int, orgs jsonb);
INSERT INTO lists
SELECT 20, (SELECT jsonb_agg(md5('org-list-' || g)::uuid) FROM generate_series(1, 18) g)
           || jsonb_build_array(md5('no such org')::uuid, md5('org-list-3')::uuid,
                                md5('org-1')::uuid)
UNION ALL
SELECT 40, (SELECT jsonb_agg(md5('org-list-' || g)::uuid) FROM generate_series(1, 20) g)
           || (SELECT jsonb_agg(md5('org-' || g)::uuid) FROM generate_series(1, 20) g);


-- about 100 orders with a rejected and a cancelled line item, newest first, from
-- the 26th: each organization's day index is walked, index-only; of the orders
-- only the page's 25 are read (their details)
SELECT is((SELECT array_agg(r) FILTER (WHERE r > 100)
             FROM unnest(crux_test.index_reads_by_call(jsonb_build_object(
                      'org_uuids', (SELECT orgs FROM lists WHERE n = 20),
                      'line_item_status', '["rejected", "cancelled"]'::jsonb,
                      'status_conjunction', 'and', 'start', 25, 'limit', 50), 'crux.orders')) r),
          NULL, 'a sparse status filter of 20 organizations reads their day indexes, not their orders');
-- every order allocated, sorted by uuid: each organization's summaries are walked
-- in uuid order, by retailer and order, and their masks tested index-only; of the
-- orders only the page's 100 are read, and the summaries' primary key (by order
-- alone) is not walked
CREATE TEMP TABLE by_uuid AS
SELECT crux_test.index_reads_by_call(r, 'crux.orders') AS orders,
       crux_test.index_reads_by_call(r, 'crux.order_summaries_pkey') AS pkey
  FROM (SELECT jsonb_build_object('org_uuids', (SELECT orgs FROM lists WHERE n = 40),
                                  'line_item_status', 'allocated',
                                  'sort', '{"key": "uuid", "dir": "desc"}'::jsonb,
                                  'limit', 100) AS r) x;
SELECT is((SELECT array_agg(r) FILTER (WHERE r > 150) FROM by_uuid, unnest(orders) r),
          NULL, 'a status filter of 40 organizations sorted by uuid reads their summaries, not their orders');
SELECT is((SELECT array_agg(r) FILTER (WHERE r > 50) FROM by_uuid, unnest(pkey) r),
          NULL, 'that walk reads each organization''s summaries by retailer and order, not by the primary key');
-- a later page of 40 organizations: their walks are merged from a cursor each, so
-- that together they read about as far as the page's end (about 200 index entries;
-- 2,700 when each organization is walked to it), once its plans are made (the
-- first of the seven calls, which makes them, may read more)
SELECT is((SELECT array_agg(r) FILTER (WHERE r > 1000 AND i > 1)
             FROM unnest(crux_test.index_reads_by_call(jsonb_build_object(
                      'org_uuids', (SELECT orgs FROM lists WHERE n = 40),
                      'start', 100, 'limit', 125), 'crux.orders')) WITH ORDINALITY AS c(r, i)),
          NULL, 'a later page of 40 organizations reads about as far as the page''s end');

-- the answers
CREATE TEMP TABLE requests AS
SELECT l.n, jsonb_strip_nulls(jsonb_build_object(
           'org_uuids', l.orgs, 'sort', jsonb_build_object('key', k, 'dir', d),
           'line_item_status', s.s, 'status_conjunction', s.c,
           'start_date', r.sd, 'end_date', r.ed, 'start', p, 'limit', p + 20)) AS req
  FROM lists l,
       unnest(ARRAY['date', 'status', 'sku_id', 'uuid']) k, unnest(ARRAY['asc', 'desc']) d,
       (VALUES (NULL::jsonb, NULL), ('"cancelled"', 'or'), ('["rejected", "cancelled"]', 'and'),
               ('"allocated"', 'only')) s(s, c),
       (VALUES (NULL, NULL), ('2017-03-10T07:00:00Z', '2017-09-01T00:00:00Z')) r(sd, ed),
       (VALUES (0), (60), (3000)) p(p);
ALTER TABLE requests ADD COLUMN baseline jsonb;
UPDATE requests SET baseline = crux_baseline.get_orders(req);
SELECT cmp_ok((SELECT count(*) FROM requests
                WHERE jsonb_array_length(crux_get_orders(req) -> 'orders') = 20), '>=', 200::bigint,
              'most of those pages are full');
SELECT is((SELECT count(*) FROM requests WHERE n = 20
              AND crux_get_orders(req) IS DISTINCT FROM baseline),
          0::bigint, 'pages of 20 organizations (one unknown, one named twice): the baseline''s answers');
SELECT is((SELECT count(*) FROM requests WHERE n = 40
              AND crux_get_orders(req) IS DISTINCT FROM baseline),
          0::bigint, 'pages of 40 organizations: the baseline''s answers');
-- with too little work_mem for a cursor per organization, a list is walked in turn
SET LOCAL work_mem = '1MB';
SELECT is((SELECT count(*) FROM requests WHERE n = 40
              AND crux_get_orders(req) IS DISTINCT FROM baseline),
          0::bigint, 'pages of 40 organizations walked in turn (work_mem of 1MB): the baseline''s answers');
SET LOCAL work_mem = '4MB';

-- an export of a list reads the same selection in the same order
SELECT is((SELECT array_agg(y.order_uuid ORDER BY y.first) FROM (
               SELECT x.order_uuid, min(x.ordinality) AS first
                 FROM crux_export_rows(jsonb_build_object(
                          'org_uuids', (SELECT orgs FROM lists WHERE n = 40),
                          'line_item_status', 'cancelled', 'sort', '{"key": "status", "dir": "desc"}'::jsonb))
                      WITH ORDINALITY AS x
                GROUP BY x.order_uuid) y),
          (SELECT array_agg((e ->> 'uuid')::uuid ORDER BY i) FROM jsonb_array_elements(crux_get_orders(jsonb_build_object(
               'org_uuids', (SELECT orgs FROM lists WHERE n = 40),
               'line_item_status', 'cancelled', 'sort', '{"key": "status", "dir": "desc"}'::jsonb,
               'limit', 1000)) -> 'orders') WITH ORDINALITY AS o(e, i)),
          'an export of 40 organizations: the orders of their pages, in their order');
SELECT is((SELECT count(DISTINCT x.order_uuid) FROM crux_export_rows(jsonb_build_object(
               'org_uuids', (SELECT orgs FROM lists WHERE n = 40), 'line_item_status', 'cancelled')) x),
          (SELECT count(DISTINCT o.uuid) FROM crux.orders o
             JOIN crux.line_items li ON li.order_uuid = o.uuid AND li.status = 'cancelled'
            WHERE o.retailer_uuid IN (SELECT (jsonb_array_elements_text(orgs))::uuid
                                        FROM lists WHERE n = 40)),
          'that export holds every listed retailer''s cancelled orders');

-- ANALYZE writes the tables' sizes in place, which the rollback does not undo: they
-- are written again for the rows that stay
DELETE FROM crux.orders WHERE purchase_order_id LIKE 'LIST-%';
ANALYZE crux.orders, crux.order_summaries;

SELECT * FROM finish();
ROLLBACK;
