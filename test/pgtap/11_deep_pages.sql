-- Deep pages of a status filter under the date sort (from position 1,000 on) start
-- their walk past the whole days (over all retailers) or months (per retailer) of
-- the count tables before them. Against the plain-SQL baseline: over all
-- retailers (a superuser and a member of crux_admin), for one and for two
-- organizations, and for a tenant through row-level security; both directions; with
-- no date range, and with ranges that start or end inside a day, inside a month, at
-- a midnight, on the first of a month, or not at all, over orders dated at
-- midnights and on the first of months too. And the walk to such a page reads the
-- summaries of about a day, not of every order before it; the count of a range
-- that covers most of its end months reads the orders of the days outside it, and
-- is exact over ranges ending on every kind of day of a month; a page reads each of
-- its retailers' and users' names once.
BEGIN;

-- 4,500 more orders, one every 6 hours from 2016 to 2019 (at 00, 06, 12 and 18 UTC),
-- half of them org-1's, each with a cancelled line item, half of them also with a
-- rejected one
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-' || CASE WHEN g % 2 = 0 THEN 1 ELSE 2 + g % 5 END)::uuid, 'DEEP-' || g,
       timestamptz '2016-01-01 00:00:00Z' + g * interval '6 hours'
  FROM generate_series(1, 4500) g;
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered, status)
SELECT o.uuid, p, 'DEEP-SKU', 1, s
  FROM crux.orders o,
       LATERAL (VALUES (1, 'cancelled'::crux.line_item_status),
                       (2, CASE WHEN substr(o.purchase_order_id, 6)::int % 4 < 2
                                THEN 'rejected'::crux.line_item_status END)) l(p, s)
 WHERE o.purchase_order_id LIKE 'DEEP-%' AND s IS NOT NULL;

CREATE TEMP TABLE requests AS
SELECT jsonb_strip_nulls(jsonb_build_object(
           'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
           'start_date', sd, 'end_date', ed,
           'sort', jsonb_build_object('key', 'date', 'dir', d), 'start', p, 'limit', p + 7)) AS req
  FROM (VALUES ('["cancelled"]'::jsonb, 'only'), ('["cancelled", "rejected"]', 'and'),
               ('["cancelled"]', 'or')) s(s, c),
       (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid)),
               (jsonb_build_array(md5('org-1')::uuid, md5('org-3')::uuid))) o(o),
       (VALUES (NULL, NULL), ('2016-02-03T04:05:06.789Z', '2018-08-09T10:11:12Z'),
               ('2016-03-01T00:00:00Z', NULL), (NULL, '2018-11-30T13:00:00Z'),
               ('2016-02-29T12:00:00Z', '2018-11-01T13:00:00Z'),
               ('2016-03-01T00:00:00Z', '2018-06-01T00:00:00Z'),
               ('2016-02-03T06:00:00Z', '2018-08-09T00:00:00Z')) r(sd, ed),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (1000), (1401)) p(p);

-- a member of crux_admin: its answers are the superuser's
CREATE ROLE t_deep_admin NOLOGIN;
GRANT crux_admin TO t_deep_admin;
CREATE TEMP TABLE admin_pages AS
SELECT req, crux_baseline.get_orders(req) AS expected, NULL::jsonb AS answer
  FROM requests WHERE NOT req ? 'org_uuids';
GRANT SELECT, UPDATE ON admin_pages TO t_deep_admin;
SET LOCAL ROLE t_deep_admin;
UPDATE admin_pages SET answer = crux_get_orders(req);
RESET ROLE;

-- a tenant of org-1: its answers are those of an administrator naming org-1
CREATE ROLE t_deep NOLOGIN;
GRANT crux_reader TO t_deep;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_deep', md5('org-1')::uuid);
CREATE TEMP TABLE tenant_pages AS
SELECT req, crux_baseline.get_orders(req || jsonb_build_object('org_uuids',
                                                               jsonb_build_array(md5('org-1')::uuid))) AS expected,
       NULL::jsonb AS answer
  FROM requests WHERE NOT req ? 'org_uuids';
GRANT SELECT, UPDATE ON tenant_pages TO t_deep;
SET LOCAL ROLE t_deep;
UPDATE tenant_pages SET answer = crux_get_orders(req);
RESET ROLE;

SELECT plan(17);

SELECT cmp_ok((SELECT count(*) FROM requests
                WHERE (crux_baseline.get_orders(req) -> 'total_results')::int > (req ->> 'start')::int),
              '>=', 150::bigint, 'most of the deep pages hold orders');
SELECT is((SELECT count(*) FROM requests WHERE crux_get_orders(req) IS DISTINCT FROM crux_baseline.get_orders(req)),
          0::bigint, 'deep pages of a status filter under the date sort: the baseline''s answers');
SELECT is((SELECT count(*) FROM tenant_pages WHERE answer IS DISTINCT FROM expected),
          0::bigint, 'deep pages for a tenant through row-level security: the baseline''s answers');
SELECT is((SELECT count(*) FROM admin_pages WHERE answer IS DISTINCT FROM expected),
          0::bigint, 'deep pages for a member of crux_admin: the baseline''s answers');
SELECT cmp_ok((SELECT count(*) FROM tenant_pages WHERE jsonb_array_length(answer -> 'orders') > 0),
              '>=', 40::bigint, 'the tenant''s deep pages hold orders');

-- the walk to position 1,400 of a sparse filter over all retailers reads about a
-- day of the summaries' day index, not the 1,400 matches before it
CREATE FUNCTION pg_temp.day_index_reads(req jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint := pg_stat_get_xact_tuples_returned('crux.order_summaries_day_idx'::regclass);
BEGIN
    PERFORM crux_get_orders(req);
    RETURN pg_stat_get_xact_tuples_returned('crux.order_summaries_day_idx'::regclass) - before;
END
$$;
SELECT cmp_ok(pg_temp.day_index_reads('{"line_item_status": ["cancelled", "rejected"], "status_conjunction": "and",
                                         "sort": {"key": "date", "dir": "desc"}, "start": 1400, "limit": 1410}'),
              '<', 100::bigint, 'a deep page (descending) walks the day index from the day before it');
SELECT cmp_ok(pg_temp.day_index_reads('{"line_item_status": ["cancelled", "rejected"], "status_conjunction": "and",
                                         "sort": {"key": "date", "dir": "asc"}, "start_date": "2016-01-05T01:00:00Z",
                                         "start": 1400, "limit": 1410}'),
              '<', 100::bigint, 'a deep page (ascending, from inside a day) walks the day index from the day before it');
SELECT cmp_ok(pg_temp.day_index_reads('{"line_item_status": ["cancelled", "rejected"], "status_conjunction": "and",
                                         "sort": {"key": "date", "dir": "desc"}, "start": 900, "limit": 910}'),
              '>', 900::bigint, 'a page before position 1,000 walks from the range''s end');

-- choosing that walk for a page of a status filter in a range of partial months
-- estimates the range's orders from whole months of the count tables, instead of
-- counting them one by one: the request reads the index entries of the range's
-- matches (its count) and of about a page of orders, not those of every order of
-- the range again (about 180 entries, against about 450)
-- (index_reads: the index entries that the seventh call of req reads from the
-- indexes of tables, on its kept plans)
CREATE FUNCTION pg_temp.index_reads(req jsonb,
                                    tables regclass[] DEFAULT '{crux.orders, crux.order_summaries}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
BEGIN
    PERFORM crux_get_orders(req) FROM generate_series(1, 6);
    before := (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                WHERE indrelid = ANY (tables));
    PERFORM crux_get_orders(req);
    RETURN (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
             WHERE indrelid = ANY (tables)) - before;
END
$$;
SELECT cmp_ok(pg_temp.index_reads(jsonb_build_object(
                  'org_uuids', jsonb_build_array(md5('org-1')::uuid), 'line_item_status', 'cancelled',
                  'start_date', '2016-01-02T03:00:00Z', 'end_date', '2016-01-31T21:00:00Z', 'limit', 10)),
              '<', 300::bigint, 'a page of a status filter in partial months does not count the range''s orders one by one twice');

-- a page reads the names of its retailers and users once each, not once per order:
-- a page of 60 of org-1's orders (one retailer, three users) reads at most 4 entries
-- of the organizations' and users' primary keys (one per order before: 64), for an
-- administrator naming org-1 and for org-1's tenant
CREATE TEMP TABLE name_reads (reads bigint);
GRANT INSERT ON name_reads TO t_deep;
INSERT INTO name_reads
SELECT pg_temp.index_reads(jsonb_build_object('org_uuids', jsonb_build_array(md5('org-1')::uuid),
                                              'start', 700, 'limit', 760),
                           '{crux.users, crux.organizations}');
SET LOCAL ROLE t_deep;
INSERT INTO name_reads
SELECT pg_temp.index_reads('{"start": 700, "limit": 760}', '{crux.users, crux.organizations}');
RESET ROLE;
SELECT cmp_ok((SELECT max(reads) FROM name_reads), '<=', 4::bigint,
              'a page reads each of its retailers'' and users'' names once (also for a tenant)');

-- total_results of a range that covers most of the months at its ends counts each
-- of those months as its bucket less the days of it outside the range: a page past
-- the end, for which only the count runs, reads the index entries of org-1's
-- orders on 2016-03-01 and 2016-05-31 (6 to 8), not those of the 60 days of the
-- range outside April (about 300 with a status filter); with and without one, and
-- equal to the baseline's count
CREATE TEMP TABLE most_of_months AS
SELECT jsonb_strip_nulls(jsonb_build_object(
           'org_uuids', jsonb_build_array(md5('org-1')::uuid), 'line_item_status', s,
           'start_date', '2016-03-02T00:00:00Z', 'end_date', '2016-05-31T00:00:00Z',
           'start', 100000, 'limit', 100010)) AS req
  FROM (VALUES (NULL), ('cancelled')) s(s);
SELECT cmp_ok((SELECT max(pg_temp.index_reads(req)) FROM most_of_months),
              '<', 20::bigint, 'a range covering most of its end months counts them as months less their other days');
SELECT is((SELECT count(*) FROM most_of_months
            WHERE crux_get_orders(req) -> 'total_results' IS DISTINCT FROM crux_baseline.get_orders(req) -> 'total_results'),
          0::bigint, 'and its count is the baseline''s');

-- a status filter over parts of one or two days (no whole day) is counted
-- index-only from the summaries' day indexes: the count reads no index of
-- crux.orders (counted order by order, it read org-1's and every retailer's orders
-- of those hours from the orders' date indexes), and equals the baseline's
CREATE TEMP TABLE part_days AS
SELECT jsonb_strip_nulls(jsonb_build_object(
           'org_uuids', o, 'line_item_status', st, 'status_conjunction', c,
           'start_date', sd, 'end_date', ed, 'start', 100000, 'limit', 100010)) AS req,
       NULL::jsonb AS tenant_answer
  FROM (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid))) o(o),
       (VALUES ('["cancelled", "rejected"]'::jsonb, 'and'), ('["cancelled", "rejected"]', 'or'),
               ('["cancelled"]', 'only')) c(st, c),
       (VALUES ('2017-03-05T05:00:00Z', '2017-03-05T19:00:00Z'),
               ('2017-03-05T05:00:00Z', '2017-03-06T13:00:00Z'),
               ('2017-03-05T12:00:00Z', '2017-03-06T00:00:00Z'),
               ('2017-03-05T00:00:00Z', '2017-03-05T17:59:59.999999Z'),
               ('2017-03-05T12:00:00.000001Z', '2017-03-06T06:00:00.000001Z')) r(sd, ed);
GRANT SELECT, UPDATE ON part_days TO t_deep;
SET LOCAL ROLE t_deep;
UPDATE part_days SET tenant_answer = crux_get_orders(req) -> 'total_results' WHERE NOT req ? 'org_uuids';
RESET ROLE;
SELECT is((SELECT max(pg_temp.index_reads(req, '{crux.orders}')) FROM part_days), 0::bigint,
          'a status filter over parts of a day or two is counted from the summaries alone');
SELECT is((SELECT count(*) FROM part_days
            WHERE crux_get_orders(req) -> 'total_results' IS DISTINCT FROM crux_baseline.get_orders(req) -> 'total_results'
               OR (NOT req ? 'org_uuids' AND tenant_answer IS DISTINCT FROM
                   crux_baseline.get_orders(req || jsonb_build_object('org_uuids', jsonb_build_array(md5('org-1')::uuid))) -> 'total_results')),
          0::bigint, 'and its count is the baseline''s (also for a tenant)');

-- an order dated at infinity and one at -infinity (org-1's): counted in
-- total_results, and first in a walk from their end, which skips past them
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
VALUES (md5('org-1')::uuid, 'DEEP-INF', 'infinity'), (md5('org-1')::uuid, 'DEEP-NINF', '-infinity');
INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered, status)
SELECT uuid, 1, 'DEEP-SKU', 1, 'cancelled' FROM crux.orders
 WHERE purchase_order_id IN ('DEEP-INF', 'DEEP-NINF');
CREATE FUNCTION pg_temp.page_keys(answer jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_build_array(answer -> 'total_results', jsonb_path_query_array(answer, '$.orders[*].uuid')) $$;
-- the same, in plain SQL: the orders with a cancelled line item ("or"), or only
-- cancelled ones ("only"), of org (NULL: all), from sd on (NULL: all), their number
-- and positions 1,001 to 1,004
CREATE FUNCTION pg_temp.expected_keys(conj text, org uuid, ascending boolean, sd timestamptz)
RETURNS jsonb LANGUAGE sql AS $$
    WITH m AS (
        SELECT o.uuid, o.created_date FROM crux.orders o
         WHERE (org IS NULL OR o.retailer_uuid = org) AND (sd IS NULL OR o.created_date >= sd)
           AND EXISTS (SELECT FROM crux.line_items li
                        WHERE li.order_uuid = o.uuid AND li.status = 'cancelled')
           AND (conj = 'or' OR NOT EXISTS (SELECT FROM crux.line_items li
                                            WHERE li.order_uuid = o.uuid AND li.status <> 'cancelled'))
    ), ranked AS (
        SELECT m.uuid, CASE WHEN ascending
                            THEN row_number() OVER (ORDER BY m.created_date, m.uuid)
                            ELSE row_number() OVER (ORDER BY m.created_date DESC, m.uuid DESC) END AS n
          FROM m
    )
    SELECT jsonb_build_array((SELECT count(*) FROM m),
                             (SELECT coalesce(jsonb_agg(r.uuid::text ORDER BY r.n), '[]')
                                FROM ranked r WHERE r.n BETWEEN 1001 AND 1004))
$$;
CREATE TEMP TABLE infinity_pages AS
SELECT jsonb_strip_nulls(jsonb_build_object(
           'line_item_status', '["cancelled"]'::jsonb, 'status_conjunction', c,
           'org_uuids', CASE WHEN o IS NOT NULL THEN jsonb_build_array(o) END, 'start_date', sd,
           'sort', jsonb_build_object('key', 'date', 'dir', CASE WHEN asc_ THEN 'asc' ELSE 'desc' END),
           'start', 1000, 'limit', 1004)) AS req,
       pg_temp.expected_keys(c, o, asc_, sd::timestamptz) AS expected,
       pg_temp.expected_keys(c, md5('org-1')::uuid, asc_, sd::timestamptz) AS tenant_expected,
       NULL::jsonb AS tenant_answer
  FROM (VALUES ('or'), ('only')) c(c),
       (VALUES (md5('org-1')::uuid), (NULL::uuid)) o(o),
       (VALUES (true), (false)) d(asc_),
       (VALUES (NULL), ('2016-03-01T00:00:00Z')) r(sd);
GRANT SELECT, UPDATE ON infinity_pages TO t_deep;
SET LOCAL ROLE t_deep;
UPDATE infinity_pages SET tenant_answer = pg_temp.page_keys(crux_get_orders(req)) WHERE NOT req ? 'org_uuids';
RESET ROLE;
SELECT is((SELECT count(*) FROM infinity_pages
            WHERE pg_temp.page_keys(crux_get_orders(req)) IS DISTINCT FROM expected
               OR (NOT req ? 'org_uuids' AND tenant_answer IS DISTINCT FROM tenant_expected)),
          0::bigint, 'orders dated at infinity: counted, and first in a walk from their end (also for a tenant)');
SELECT cmp_ok(pg_temp.day_index_reads('{"line_item_status": ["cancelled", "rejected"], "status_conjunction": "and",
                                         "sort": {"key": "date", "dir": "desc"}, "start": 1400, "limit": 1410}'),
              '<', 100::bigint, 'a deep page walks from the day before it past orders dated at infinity');

-- total_results per retailer equals the baseline's over ranges that start and end
-- on many days of months (the 1st, 2nd, 15th, 16th and last ones, at midnight and
-- at noon; across a leap February and a new year; or not at all, with orders dated
-- at infinity): both ends in one month, counted by its days or as its month less
-- the days outside, or in different months, each end either way; for org_uuids and
-- for a tenant, with and without a status filter
CREATE TEMP TABLE month_edges AS
SELECT d FROM unnest(ARRAY[
    '2016-01-01T00:00:00Z', '2016-01-02T12:00:00Z', '2016-01-16T00:00:00Z', '2016-01-30T12:00:00Z',
    '2016-02-01T12:00:00Z', '2016-02-15T00:00:00Z', '2016-02-28T00:00:00Z', '2016-02-29T12:00:00Z',
    '2016-03-01T00:00:00Z', '2016-03-03T00:00:00Z', '2016-12-02T00:00:00Z', '2016-12-31T12:00:00Z',
    '2017-01-02T00:00:00Z', '2017-01-31T00:00:00Z']) d;
CREATE TEMP TABLE edge_counts AS
SELECT r.req, (crux_baseline.get_orders(r.req || jsonb_build_object('org_uuids', jsonb_build_array(md5('org-1')::uuid))) -> 'total_results') AS expected,
       NULL::jsonb AS tenant_answer
  FROM (SELECT jsonb_strip_nulls(jsonb_build_object('start_date', a, 'end_date', b,
                                                    'line_item_status', s, 'limit', 1)) AS req
          FROM (SELECT a.d AS a, b.d AS b FROM month_edges a JOIN month_edges b ON a.d < b.d
                UNION ALL SELECT NULL, d FROM month_edges
                UNION ALL SELECT d, NULL FROM month_edges) e,
               (VALUES (NULL), ('rejected')) s(s)) r;
GRANT SELECT, UPDATE ON edge_counts TO t_deep;
SET LOCAL ROLE t_deep;
UPDATE edge_counts SET tenant_answer = crux_get_orders(req) -> 'total_results';
RESET ROLE;
SELECT is((SELECT count(*) FROM edge_counts
            WHERE crux_get_orders(req || jsonb_build_object('org_uuids', jsonb_build_array(md5('org-1')::uuid)))
                      -> 'total_results' IS DISTINCT FROM expected
               OR tenant_answer IS DISTINCT FROM expected),
          0::bigint, 'total_results per retailer over ranges ending on every kind of day of a month (238 ranges)');

SELECT * FROM finish();
ROLLBACK;
