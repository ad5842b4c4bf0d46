-- Pages of the uuid sort with a status filter walk the summaries' index by retailer
-- and order (version 1.16), testing each order's status mask index-only, and stop at
-- the page's end. Against the plain-SQL baseline: over all retailers (a superuser
-- and a member of crux_admin), for one organization, two (merged), seventeen (one
-- list), and for a tenant through row-level security; each conjunction, both
-- directions, first and later pages, with and without a date range (tested
-- index-only too, version 1.19); after a line item's status changes. And the walk
-- reads about the page's end divided by the filter's share of the caller's orders,
-- not all of them.
BEGIN;

-- 3,000 more orders of org-1 and 300 of org-2 to org-6, dated over 2017, a sparse
-- "only cancelled" among them (crux_test.add_status_filter_orders)
SELECT crux_test.add_status_filter_orders('UUIDSORT');
ANALYZE crux.order_summaries;
CREATE TEMP TABLE requests AS SELECT r AS req FROM crux_test.status_filter_requests('uuid') r;

-- a member of crux_admin, and a tenant of org-1
CREATE ROLE t_uuid_admin NOLOGIN;
GRANT crux_admin TO t_uuid_admin;
CREATE ROLE t_uuid NOLOGIN;
GRANT crux_reader TO t_uuid;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_uuid', md5('org-1')::uuid);

-- the entries a page's walk reads from the summaries' index by retailer and order,
-- once its plan is kept
CREATE FUNCTION pg_temp.uuid_index_reads(req jsonb) RETURNS bigint LANGUAGE sql AS $$
    SELECT (crux_test.index_reads_by_call(req, 'crux.order_summaries_retailer_order_uuid_idx'))[7]
$$;
GRANT EXECUTE ON FUNCTION pg_temp.uuid_index_reads(jsonb) TO t_uuid;

SELECT plan(16);

SELECT cmp_ok((SELECT count(*) FROM requests
                WHERE jsonb_array_length(crux_baseline.get_orders(req) -> 'orders') > 0),
              '>=', 120::bigint, 'most of the pages hold orders');
SELECT is((SELECT count(*) FROM requests WHERE crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'pages of the uuid sort with a status filter: the baseline''s answers');
SELECT is(crux_test.answers_differing_as('t_uuid', ARRAY(SELECT req FROM requests WHERE NOT req ? 'org_uuids'),
                                         md5('org-1')::uuid),
          0::bigint, 'pages for a tenant through row-level security: the baseline''s answers');
SELECT is(crux_test.answers_differing_as('t_uuid_admin', ARRAY(SELECT req FROM requests WHERE NOT req ? 'org_uuids')),
          0::bigint, 'pages for a member of crux_admin: the baseline''s answers');
SELECT cmp_ok((SELECT count(*) FROM requests
                WHERE NOT req ? 'org_uuids'
                  AND jsonb_array_length(crux_baseline.get_orders(
                          req || jsonb_build_object('org_uuids', jsonb_build_array(md5('org-1')::uuid)))
                          -> 'orders') > 0),
              '>=', 30::bigint, 'the tenant''s pages hold orders');

-- "only cancelled" keeps one in twenty of org-1's orders: a page ending at position
-- 50 reads about 1,000 entries of the index, not org-1's 3,300 or more
SET LOCAL ROLE t_uuid;
SELECT ok(pg_temp.uuid_index_reads('{"line_item_status": "cancelled", "status_conjunction": "only",
                                     "sort": {"key": "uuid", "dir": "asc"}, "start": 40, "limit": 50}')
          BETWEEN 1 AND 1499, 'a tenant''s page walks the index by retailer and order to the page''s end');
RESET ROLE;
SELECT ok(pg_temp.uuid_index_reads(jsonb_build_object(
              'org_uuids', jsonb_build_array(md5('org-1')::uuid, md5('org-3')::uuid),
              'line_item_status', 'cancelled', 'status_conjunction', 'only',
              'sort', '{"key": "uuid", "dir": "asc"}'::jsonb, 'limit', 10)) BETWEEN 1 AND 500,
          'a page of two organizations walks it once per organization, merged');
-- with a date range (a dense filter: walking costs less than collecting the matches)
CREATE TEMP TABLE dated AS SELECT jsonb_build_object(
    'org_uuids', jsonb_build_array(md5('org-1')::uuid), 'line_item_status', 'cancelled',
    'status_conjunction', 'or', 'sort', '{"key": "uuid", "dir": "asc"}'::jsonb,
    'start_date', '2017-03-01T00:00:00Z', 'limit', 10) AS req;
SELECT ok(pg_temp.uuid_index_reads((SELECT req FROM dated)) BETWEEN 1 AND 200,
          'with a date range the page walks this index too, to the page''s end');
SELECT is((crux_test.index_reads_by_call((SELECT req FROM dated), 'crux.orders_retailer_uuid_idx'))[7],
          0::bigint, 'with a date range the page tests it index-only, not walking the orders');
SET LOCAL ROLE t_uuid;
SELECT ok(pg_temp.uuid_index_reads('{"line_item_status": "cancelled", "status_conjunction": "only",
                                     "sort": {"key": "uuid", "dir": "desc"},
                                     "start_date": "2017-03-01T00:00:00Z", "end_date": "2017-10-01T12:00:00Z",
                                     "start": 20, "limit": 30}') BETWEEN 1 AND 1499,
          'a tenant''s page with a date range walks it to the page''s end');
RESET ROLE;

-- an empty selection (every status at once: no order has seven line items) is
-- counted first and walks nothing
SET LOCAL ROLE t_uuid;
SELECT is(pg_temp.uuid_index_reads('{"line_item_status": ["unallocated", "allocated", "rejected", "has_tracking",
                                                          "backordered", "delivered", "cancelled"],
                                     "status_conjunction": "and", "sort": {"key": "uuid", "dir": "asc"}}'),
          0::bigint, 'an empty selection of a tenant reads none of the index');
RESET ROLE;

-- an export sorted by uuid with a term and one organization reads the term's
-- matches (the page's query without the summaries' walk): every matching order once
SELECT is((SELECT count(DISTINCT x.order_uuid) FROM crux_export_rows(jsonb_build_object(
               'term', 'UUIDSORT-SKU', 'org_uuids', jsonb_build_array(md5('org-1')::uuid),
               'sort', '{"key": "uuid", "dir": "asc"}'::jsonb)) x),
          3000::bigint, 'an export sorted by uuid with a term and one organization');
SELECT is((SELECT array_agg(y.order_uuid ORDER BY y.first) FROM (
               SELECT x.order_uuid, min(x.ordinality) AS first
                 FROM crux_export_rows(jsonb_build_object(
                          'term', 'UUIDSORT-SKU', 'org_uuids', jsonb_build_array(md5('org-1')::uuid),
                          'line_item_status', 'cancelled', 'sort', '{"key": "uuid", "dir": "desc"}'::jsonb))
                      WITH ORDINALITY AS x
                GROUP BY x.order_uuid) y),
          (SELECT array_agg((e ->> 'uuid')::uuid ORDER BY i) FROM jsonb_array_elements(crux_get_orders(jsonb_build_object(
               'term', 'UUIDSORT-SKU', 'org_uuids', jsonb_build_array(md5('org-1')::uuid),
               'line_item_status', 'cancelled', 'sort', '{"key": "uuid", "dir": "desc"}'::jsonb,
               'limit', 1000)) -> 'orders') WITH ORDINALITY AS o(e, i)),
          'an export sorted by uuid with a term, a status filter and one organization: the orders of its pages');

-- a line item's status changes: the index follows its summary
UPDATE crux.line_items SET status = 'cancelled'
 WHERE order_uuid = (SELECT uuid FROM crux.orders WHERE purchase_order_id = 'UUIDSORT-7');
SELECT is((SELECT count(*) FROM requests WHERE crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'after a status change: the baseline''s answers');
SELECT ok(EXISTS (SELECT FROM jsonb_array_elements(crux_get_orders(jsonb_build_object(
                      'org_uuids', jsonb_build_array(md5('org-1')::uuid), 'line_item_status', 'cancelled',
                      'status_conjunction', 'only', 'sort', '{"key": "uuid", "dir": "asc"}'::jsonb,
                      'limit', 1000)) -> 'orders') e
                   WHERE e ->> 'purchase_order_id' = 'UUIDSORT-7'),
          'an order whose line items all became cancelled is on the "only cancelled" page');
SELECT is(crux.recount_summaries(), 0::bigint, 'no summary or count drifted');

SELECT * FROM finish();
ROLLBACK;
