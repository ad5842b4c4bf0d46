-- Each order's summary carries the order's status (version 1.18): the status sort
-- walks the summaries' index by retailer, status and order for a tenant and for
-- each organization of org_uuids, and by status and order over all retailers,
-- testing a status filter index-only, and stops at the page's end. Against the plain-SQL
-- baseline: over all retailers (a superuser and a member of crux_admin), for one
-- organization, two (merged), seventeen (one list), and for a tenant through
-- row-level security; each conjunction, both directions, first and later pages,
-- with and without a date range. The copy follows the order's status through an
-- update, a held summary, a summary written empty, and the recount.
BEGIN;

-- 3,000 more orders of org-1 and 300 of org-2 to org-6 in five order statuses (two
-- that differ only in case, which the sort orders bytewise), a sparse "only
-- cancelled" among them (crux_test.add_status_filter_orders)
SELECT crux_test.add_status_filter_orders('STATUSSORT');
ANALYZE crux.order_summaries;
CREATE TEMP TABLE requests AS SELECT r AS req FROM crux_test.status_filter_requests('status') r;

-- a member of crux_admin, and a tenant of org-1
CREATE ROLE t_status_admin NOLOGIN;
GRANT crux_admin TO t_status_admin;
CREATE ROLE t_status NOLOGIN;
GRANT crux_reader TO t_status;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_status', md5('org-1')::uuid);

-- the most entries of an index (or of every index of a table) that one of seven
-- calls of the request reads
CREATE FUNCTION pg_temp.index_reads(index regclass, req jsonb) RETURNS bigint LANGUAGE sql AS $$
    SELECT max(r) FROM unnest(crux_test.index_reads_by_call(req, index)) r
$$;
GRANT EXECUTE ON FUNCTION pg_temp.index_reads(regclass, jsonb) TO t_status;
-- the summaries whose status is not their order's
CREATE FUNCTION pg_temp.status_drift() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM crux.orders o JOIN crux.order_summaries s ON s.order_uuid = o.uuid
     WHERE s.status IS DISTINCT FROM o.status
$$;

SELECT plan(17);

SELECT is(pg_temp.status_drift(), 0::bigint, 'every summary carries its order''s status');
SELECT cmp_ok((SELECT count(*) FROM requests
                WHERE jsonb_array_length(crux_baseline.get_orders(req) -> 'orders') > 0),
              '>=', 120::bigint, 'most of the pages hold orders');
SELECT is((SELECT count(*) FROM requests WHERE crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'pages of the status sort with a status filter: the baseline''s answers');
SELECT is(crux_test.answers_differing_as('t_status', ARRAY(SELECT req FROM requests WHERE NOT req ? 'org_uuids'),
                                         md5('org-1')::uuid),
          0::bigint, 'pages for a tenant through row-level security: the baseline''s answers');
SELECT is(crux_test.answers_differing_as('t_status_admin', ARRAY(SELECT req FROM requests WHERE NOT req ? 'org_uuids')),
          0::bigint, 'pages for a member of crux_admin: the baseline''s answers');

-- "only cancelled" keeps one in twenty of org-1's orders: a page ending at position
-- 50 reads about 1,000 entries of the summaries' indexes, not org-1's 3,300 or more,
-- and probes no summary by its primary key (as a walk of the orders' index would,
-- one per order walked). (On so few retailers the planner may walk either index by
-- status.)
SET LOCAL ROLE t_status;
SELECT ok(pg_temp.index_reads('crux.order_summaries',
                              '{"line_item_status": "cancelled", "status_conjunction": "only",
                                "sort": {"key": "status", "dir": "asc"}, "start": 40, "limit": 50}')
          BETWEEN 1 AND 1499, 'a tenant''s page walks the summaries'' index by status to the page''s end');
SELECT is(pg_temp.index_reads('crux.order_summaries_pkey',
                              '{"line_item_status": "cancelled", "status_conjunction": "only",
                                "sort": {"key": "status", "dir": "desc"}, "start": 40, "limit": 50}'),
          0::bigint, 'and probes no summary');
RESET ROLE;
SELECT ok(pg_temp.index_reads('crux.order_summaries_status_idx',
                              '{"line_item_status": "cancelled", "status_conjunction": "only",
                                "sort": {"key": "status", "dir": "asc"}, "start": 40, "limit": 50}')
          BETWEEN 1 AND 1499, 'an administrator''s page walks the index by status over all retailers');
SELECT ok(pg_temp.index_reads('crux.order_summaries', jsonb_build_object(
              'org_uuids', jsonb_build_array(md5('org-1')::uuid, md5('org-3')::uuid),
              'line_item_status', 'cancelled', 'status_conjunction', 'only',
              'sort', '{"key": "status", "dir": "asc"}'::jsonb, 'limit', 10)) BETWEEN 1 AND 500,
          'a page of two organizations walks it once per organization, merged');
SELECT ok((SELECT pg_temp.index_reads('crux.order_summaries', r) BETWEEN 1 AND 1499 AND
                  pg_temp.index_reads('crux.order_summaries_pkey', r) = 0
             FROM (SELECT jsonb_build_object(
                       'org_uuids', jsonb_build_array(md5('org-1')::uuid), 'line_item_status', 'cancelled',
                       'status_conjunction', 'only', 'sort', '{"key": "status", "dir": "desc"}'::jsonb,
                       'start_date', '2017-03-01T00:00:00Z', 'end_date', '2017-09-01T00:00:00Z',
                       'limit', 10) AS r) x),
          'with a date range too, tested in the index, no summary probed');

-- an order's status changes: its summary's copy follows, the counts stay
UPDATE crux.orders SET status = 'Aardvark' WHERE purchase_order_id IN ('STATUSSORT-20', 'STATUSSORT-7');
SELECT is(pg_temp.status_drift(), 0::bigint, 'after an update of orders'' status, every summary carries it');
SELECT is((SELECT crux_get_orders(('{"org_uuids": ["' || md5('org-1')::uuid || '"],
                                    "line_item_status": "cancelled", "status_conjunction": "only",
                                    "sort": {"key": "status", "dir": "asc"}, "limit": 1}')::jsonb)
                  -> 'orders' -> 0 ->> 'purchase_order_id'),
          'STATUSSORT-20', 'the order whose status now sorts first opens the page of its filter');
SELECT is((SELECT count(*) FROM requests WHERE crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'after the update: the baseline''s answers');

-- held summaries (pg_prove runs this file in one transaction, at its top level):
-- one taken by its line items, one written empty when read, one updated while held
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, status)
VALUES (md5('statussort-held-1')::uuid, md5('org-1')::uuid, 'STATUSSORT-HELD-1', 'Held One'),
       (md5('statussort-held-2')::uuid, md5('org-1')::uuid, 'STATUSSORT-HELD-2', 'Held Two'),
       (md5('statussort-held-3')::uuid, md5('org-1')::uuid, 'STATUSSORT-HELD-3', 'Held Three');
UPDATE crux.orders SET status = 'Held Three, updated' WHERE purchase_order_id = 'STATUSSORT-HELD-3';
INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered, status)
VALUES (md5('statussort-held-1')::uuid, 'STATUSSORT-SKU', 1, 'cancelled');
SELECT is((SELECT count(*) FROM crux.order_summaries s
            WHERE (s.order_uuid, s.status) IN ((md5('statussort-held-1')::uuid, 'Held One'),
                                               (md5('statussort-held-3')::uuid, 'Held Three, updated'))),
          2::bigint, 'a held summary taken by its line items, and one updated while held, carry the status');
SELECT is((SELECT crux_get_orders(('{"org_uuids": ["' || md5('org-1')::uuid || '"],
                                    "line_item_status": "cancelled", "status_conjunction": "only",
                                    "sort": {"key": "status", "dir": "desc"}, "start": 0, "limit": 1000}')::jsonb)
                  -> 'orders' @> '[{"purchase_order_id": "STATUSSORT-HELD-1", "status": "Held One"}]'),
          true, 'its order is on the pages of the status sort');
SELECT is(pg_temp.status_drift(), 0::bigint, 'a held summary written empty when read carries its order''s status');

-- the recount finds and mends a summary whose status is not its order's
UPDATE crux.order_summaries SET status = 'Wrong' WHERE order_uuid = md5('statussort-11')::uuid;
SELECT is(crux.recount_summaries(), 1::bigint, 'the recount finds the wrong status (and nothing else drifted)');

SELECT * FROM finish();
ROLLBACK;
