-- Pages of a date range under another sort than the date (status, uuid, sku_id)
-- for a retailer with most of the orders: the count chooses between reading the
-- range to sort it and walking the sort's index to the page, whatever the planner
-- guesses of the retailer, or, for a status filter, collecting its matches from
-- the summaries' day index; each such page is planned for its own range on every
-- call; the sku_id sort tests a range on the summaries it walks, whose index holds
-- each order's created_date and status mask (version 1.17, as do the orders'
-- indexes of the other sorts). Against the plain-SQL baseline: for the tenant
-- through row-level security, and for an administrator naming it alone, with
-- another organization, with 16 others, and naming none.
BEGIN;

-- 20,000 orders, one an hour from 2016 on, each with one line item, rejected for
-- every twentieth order; every 400th has no sku_id
INSERT INTO crux.organizations (uuid, name) VALUES (md5('org-wide')::uuid, 'Wide');
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-wide')::uuid, 'WIDE-' || g, timestamptz '2016-01-01 00:30:00Z' + g * interval '1 hour'
  FROM generate_series(1, 20000) g;
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered, status)
SELECT o.uuid, 1, CASE WHEN substr(o.purchase_order_id, 6)::int % 400 <> 0
                       THEN 'WIDE-SKU-' || substr(o.purchase_order_id, 6)::int % 97 END, 1,
       CASE WHEN substr(o.purchase_order_id, 6)::int % 20 = 0 THEN 'rejected'
            ELSE 'allocated' END::crux.line_item_status
  FROM crux.orders o WHERE o.purchase_order_id LIKE 'WIDE-%';
ANALYZE crux.orders, crux.order_summaries;

CREATE ROLE t_wide NOLOGIN;
GRANT crux_reader TO t_wide;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_wide', md5('org-wide')::uuid);

-- position 500 of the retailer's three years, each sort both ways
CREATE TEMP TABLE wide_requests AS
SELECT k, d, jsonb_build_object('sort', jsonb_build_object('key', k, 'dir', d),
                                'start_date', '2016-01-01T00:00:00Z', 'end_date', '2019-01-01T00:00:00Z',
                                'start', 500, 'limit', 510) AS req
  FROM unnest(ARRAY['status', 'uuid', 'sku_id']) k, unnest(ARRAY['asc', 'desc']) d;
GRANT SELECT ON wide_requests TO t_wide;

SELECT plan(13);

-- the planner guesses a retailer at a hundredth of the orders, and would read the
-- range (20,000 orders) to sort it
SET LOCAL ROLE t_wide;
CREATE TEMP TABLE guessed_small AS
SELECT k, crux_test.index_reads_by_call(req, 'crux.orders') AS reads FROM wide_requests WHERE d = 'asc';
RESET ROLE;
SELECT is((SELECT string_agg(k || ' ' || reads::text, ', ' ORDER BY k) FROM guessed_small
            WHERE reads[1] > 2000), NULL,
          'a wide date range under another sort walks to its page, not through the range');
-- the sku_id sort tests the range on the summaries it walks: of the orders it reads
-- only the page's
SELECT cmp_ok((SELECT reads[7] FROM guessed_small WHERE k = 'sku_id'), '<', 100::bigint,
              'a wide date range under the sku_id sort reads of the orders only its page''s');

-- a rare status (120 orders) in 100 days (2,400 orders): walking the sort's index
-- to the 10th match reads about 1,700 of the retailer's 20,000 orders, reading the
-- range 2,400; collecting tests the range's 2,400 summaries index-only, and reads
-- the orders only for their status under the status sort
SET LOCAL ROLE t_wide;
CREATE TEMP TABLE rare_in_range AS
SELECT k, crux_test.index_reads_by_call(jsonb_build_object(
           'sort', jsonb_build_object('key', k, 'dir', 'asc'), 'line_item_status', 'rejected',
           'start_date', '2017-01-10T00:00:00Z', 'end_date', '2017-04-20T00:00:00Z',
           'limit', 10), 'crux.orders') AS reads
  FROM unnest(ARRAY['status', 'uuid']) k;
RESET ROLE;
SELECT is((SELECT string_agg(k || ' ' || reads::text, ', ' ORDER BY k) FROM rare_in_range
            WHERE reads[7] > CASE k WHEN 'uuid' THEN 100 ELSE 500 END), NULL,
          'a rare status in a date range under the uuid and status sorts: its matches collected, not the range''s orders read');

-- the same rare status under the sku_id sort: walked on the summaries' index by
-- retailer and min_sku_id, which holds each order's status mask and created_date,
-- or collected from the day index; either way the orders are read for the page only
SET LOCAL ROLE t_wide;
CREATE TEMP TABLE rare_by_sku AS
SELECT d, crux_test.index_reads_by_call(jsonb_build_object(
           'sort', jsonb_build_object('key', 'sku_id', 'dir', d), 'line_item_status', 'rejected',
           'start_date', '2017-01-10T00:00:00Z', 'end_date', '2017-04-20T00:00:00Z',
           'limit', 10), 'crux.orders') AS reads
  FROM unnest(ARRAY['asc', 'desc']) d;
RESET ROLE;
SELECT is((SELECT string_agg(d || ' ' || reads::text, ', ' ORDER BY d) FROM rare_by_sku
            WHERE reads[7] > 100), NULL,
          'a rare status in a date range under the sku_id sort reads of the orders only its page''s');

-- the sorts' indexes hold each order's created_date (version 1.17; the status
-- sort's are the summaries' from 1.18)
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname IN ('order_summaries_retailer_status_idx', 'orders_retailer_uuid_idx',
                                'order_summaries_status_idx', 'order_summaries_min_sku_id_idx',
                                'order_summaries_retailer_min_sku_id_idx')
              AND c.relnamespace = 'crux'::regnamespace
              AND i.indnatts > i.indnkeyatts
              AND pg_get_indexdef(i.indexrelid) LIKE '%INCLUDE (%created_date)'),
          'order_summaries_min_sku_id_idx, order_summaries_retailer_min_sku_id_idx, order_summaries_retailer_status_idx, order_summaries_status_idx, orders_retailer_uuid_idx',
          'the sorts'' indexes hold each order''s created_date');

-- the planner sees the retailer's size (n_distinct = 2, as a platform's big retailer
-- is seen at 1M orders): each call is planned for its range, where the plan cache,
-- after five custom plans, would take a generic plan that guesses the range small
ALTER TABLE crux.orders ALTER COLUMN retailer_uuid SET (n_distinct = 2);
ANALYZE crux.orders;
SET LOCAL ROLE t_wide;
CREATE TEMP TABLE seen_big AS
SELECT k, crux_test.index_reads_by_call(req, 'crux.orders') AS reads FROM wide_requests WHERE d = 'desc';
RESET ROLE;
SELECT is((SELECT string_agg(k || ' ' || reads::text, ', ' ORDER BY k) FROM seen_big
            WHERE reads[7] > reads[2] + 10 OR reads[2] > 2000), NULL,
          'a wide date range under another sort: the seventh call walks as the second does');
ALTER TABLE crux.orders ALTER COLUMN retailer_uuid RESET (n_distinct);
ANALYZE crux.orders;

-- the answers: each sort both ways; three years, 100 days (2,400 orders), everything
-- up to a date and a day; with no status filter and a rare status (whose matches
-- may be collected); the first page and position 500
CREATE TEMP TABLE answers AS
SELECT r.req, NULL::jsonb AS tenant_answer
  FROM (SELECT jsonb_strip_nulls(jsonb_build_object(
                   'sort', jsonb_build_object('key', k, 'dir', d), 'start_date', sd, 'end_date', ed,
                   'line_item_status', s, 'start', p, 'limit', p + 10)) AS req
          FROM unnest(ARRAY['status', 'uuid', 'sku_id']) k, unnest(ARRAY['asc', 'desc']) d,
               (VALUES ('2016-01-01T00:00:00Z', '2019-01-01T00:00:00Z'),
                       ('2017-01-10T00:00:00Z', '2017-04-20T00:00:00Z'),
                       (NULL, '2017-04-20T00:00:00Z'),
                       ('2017-03-01T00:00:00Z', '2017-03-02T00:00:00Z')) r(sd, ed),
               (VALUES (NULL), ('rejected')) s(s), (VALUES (0), (500)) p(p)) r;
GRANT SELECT, UPDATE ON answers TO t_wide;
SET LOCAL ROLE t_wide;
UPDATE answers SET tenant_answer = crux_get_orders(req);
RESET ROLE;
SELECT cmp_ok((SELECT count(*) FROM answers
                WHERE jsonb_array_length(tenant_answer -> 'orders') = 10), '>=', 72::bigint,
              'three quarters of those pages are full (all but the day''s at position 500 and some of the rare status)');
SELECT is((SELECT count(*) FROM answers
            WHERE tenant_answer IS DISTINCT FROM
                  crux_baseline.get_orders(req || jsonb_build_object('org_uuids',
                                                                     jsonb_build_array(md5('org-wide')::uuid)))),
          0::bigint, 'the tenant''s pages (row-level security): the baseline''s answers');
CREATE TEMP TABLE admin_requests AS
SELECT req || jsonb_strip_nulls(jsonb_build_object('org_uuids', o)) AS req
  FROM answers,
       (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-wide')::uuid)),
               (jsonb_build_array(md5('org-wide')::uuid, md5('org-1')::uuid)),
               ((SELECT jsonb_agg(u) FROM (SELECT md5('org-wide')::uuid AS u
                                           UNION ALL SELECT md5('org-' || g)::uuid
                                             FROM generate_series(1, 16) g) x))) o(o)
 WHERE req #>> '{sort,dir}' = 'asc';
SELECT is((SELECT count(*) FROM admin_requests WHERE NOT req ? 'org_uuids'
              AND crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'an administrator''s pages over all retailers: the baseline''s answers');
SELECT is((SELECT count(*) FROM admin_requests WHERE jsonb_array_length(req -> 'org_uuids') = 1
              AND crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'an administrator''s pages of the retailer alone: the baseline''s answers');
SELECT is((SELECT count(*) FROM admin_requests WHERE jsonb_array_length(req -> 'org_uuids') = 2
              AND crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'an administrator''s pages of two organizations: the baseline''s answers');
SELECT is((SELECT count(*) FROM admin_requests WHERE jsonb_array_length(req -> 'org_uuids') = 17
              AND crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'an administrator''s pages of 17 organizations: the baseline''s answers');

-- the rare status under the sku_id sort without a date range (walked, testing the
-- masks in the index), each way from the first page to the last, where the orders
-- without a sku_id sort (last ascending, first descending): the tenant's, and an
-- administrator's naming the retailer and naming none
CREATE TEMP TABLE sku_rare AS
SELECT jsonb_build_object('sort', jsonb_build_object('key', 'sku_id', 'dir', d),
                          'line_item_status', 'rejected', 'start', p, 'limit', p + 10) AS req,
       NULL::jsonb AS tenant_answer
  FROM unnest(ARRAY['asc', 'desc']) d, (VALUES (0), (500), (990)) p(p);
GRANT SELECT, UPDATE ON sku_rare TO t_wide;
SET LOCAL ROLE t_wide;
UPDATE sku_rare SET tenant_answer = crux_get_orders(req);
RESET ROLE;
SELECT is((SELECT count(*) FROM sku_rare,
                  LATERAL (SELECT req || jsonb_build_object('org_uuids',
                                                            jsonb_build_array(md5('org-wide')::uuid)) AS one) o
            WHERE tenant_answer IS DISTINCT FROM crux_baseline.get_orders(one)
               OR crux_get_orders(one) IS DISTINCT FROM tenant_answer
               OR crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'a rare status under the sku_id sort, no date range, orders without a sku_id among its matches: the baseline''s answers');

-- ANALYZE writes the tables' sizes in place, which the rollback does not undo: they
-- are written again for the rows that stay
DELETE FROM crux.orders WHERE retailer_uuid = md5('org-wide')::uuid;
ANALYZE crux.orders, crux.order_summaries;

SELECT * FROM finish();
ROLLBACK;
