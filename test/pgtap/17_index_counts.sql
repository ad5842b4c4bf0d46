-- total_results per retailer: the days and the parts of days that the month buckets
-- leave are counted without the executor (src/index_count.c), leaf page by leaf
-- page, from crux.orders' index by retailer and date, or with a status filter from
-- the summaries' by retailer and day, each entry's row checked in the snapshot.
-- Against plain counts of the orders and their line items' statuses: ranges that
-- end anywhere, without a status filter and with each conjunction, for a tenant
-- (row-level security) and an administrator's org_uuids; orders and line items
-- inserted, deleted, updated (a second index entry) and rolled back in this
-- transaction; callers who see none of them; and an extra policy on crux.orders,
-- which the count then follows by reading through row-level security (and the
-- pages of the summaries' walks, by leaving out the orders it hides).
BEGIN;

-- 20,000 orders of one retailer, one every 83 minutes from 2016 on (three years
-- over about 100 leaf pages of the index), 3,000 of another over the same years
INSERT INTO crux.organizations (uuid, name)
VALUES (md5('org-counted')::uuid, 'Counted'), (md5('org-beside')::uuid, 'Beside');
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-counted')::uuid, 'COUNTED-' || g, timestamptz '2016-01-01 00:10:00Z' + g * interval '83 minutes'
  FROM generate_series(1, 20000) g;
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-beside')::uuid, 'BESIDE-' || g, timestamptz '2016-01-01 00:20:00Z' + g * interval '553 minutes'
  FROM generate_series(1, 3000) g;
-- a line item each, in one of five statuses; every third order a cancelled one too
INSERT INTO crux.line_items (order_uuid, position, quantity_ordered, status)
SELECT o.uuid, 1, 1, (ARRAY['allocated', 'backordered', 'rejected', 'has_tracking', 'delivered'])
                     [1 + (hashtext(o.purchase_order_id) & 1023) % 5]::crux.line_item_status
  FROM crux.orders o WHERE o.retailer_uuid IN (md5('org-counted')::uuid, md5('org-beside')::uuid);
INSERT INTO crux.line_items (order_uuid, position, quantity_ordered, status)
SELECT o.uuid, 2, 1, 'cancelled'
  FROM crux.orders o WHERE o.retailer_uuid IN (md5('org-counted')::uuid, md5('org-beside')::uuid)
   AND (hashtext(o.purchase_order_id) & 1023) % 3 = 0;
ANALYZE crux.orders, crux.line_items, crux.order_summaries;

CREATE ROLE t_counted NOLOGIN;
GRANT crux_reader TO t_counted;
INSERT INTO crux.role_organizations (role_name, organization_uuid)
VALUES ('t_counted', md5('org-counted')::uuid);
CREATE ROLE t_unmapped NOLOGIN;
GRANT crux_reader TO t_unmapped;
CREATE ROLE a_counted NOLOGIN;
GRANT crux_admin TO a_counted;

-- 120 ranges: both ends inside a day, whole days, within a month, across months
-- and years, open at either end
CREATE TEMP TABLE ranges AS
SELECT g, CASE WHEN g % 10 = 1 THEN NULL ELSE s END AS sd,
          CASE WHEN g % 10 = 2 THEN NULL ELSE s + len END AS ed
  FROM (SELECT g, timestamptz '2015-12-20 00:00:00Z' + ((g * 7919) % 1150) * interval '1 day'
                  + CASE WHEN g % 3 = 0 THEN interval '0' ELSE ((g * 104729) % 86400) * interval '1 second' END AS s,
               CASE g % 5 WHEN 0 THEN interval '5 hours' WHEN 1 THEN interval '1 day'
                          WHEN 2 THEN ((g * 31) % 28 + 1) * interval '1 day' + interval '7 hours'
                          WHEN 3 THEN ((g * 17) % 90 + 20) * interval '1 day' + interval '3 hours 5 minutes'
                          ELSE ((g * 13) % 500 + 200) * interval '1 day' END AS len
          FROM generate_series(1, 120) g) r;
-- no status filter, and one of each conjunction
CREATE TEMP TABLE filters (f int, filter jsonb, statuses text[], conjunction text);
INSERT INTO filters VALUES
    (0, '{}', NULL, NULL),
    (1, '{"line_item_status": ["rejected", "cancelled"], "status_conjunction": "or"}', '{rejected,cancelled}', 'or'),
    (2, '{"line_item_status": ["backordered", "cancelled"], "status_conjunction": "and"}', '{backordered,cancelled}', 'and'),
    (3, '{"line_item_status": ["delivered"], "status_conjunction": "only"}', '{delivered}', 'only');
CREATE FUNCTION pg_temp.range_request(r ranges, filter jsonb, orgs jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT filter || jsonb_strip_nulls(jsonb_build_object('start_date', r.sd, 'end_date', r.ed,
                                                          'org_uuids', orgs, 'start', 5, 'limit', 6))
$$;
GRANT SELECT ON ranges, filters TO t_counted, t_unmapped, a_counted;

-- each order's line items' statuses, read again after each change
CREATE TEMP TABLE plain_orders (retailer_uuid uuid, created_date timestamptz, statuses text[]);
CREATE INDEX ON plain_orders (retailer_uuid, created_date);
CREATE FUNCTION pg_temp.read_plain_orders() RETURNS void LANGUAGE sql AS $$
    DELETE FROM plain_orders;
    INSERT INTO plain_orders
    SELECT o.retailer_uuid, o.created_date,
           (SELECT array_agg(DISTINCT li.status::text) FROM crux.line_items li WHERE li.order_uuid = o.uuid)
      FROM crux.orders o WHERE o.retailer_uuid IN (md5('org-counted')::uuid, md5('org-beside')::uuid);
    ANALYZE plain_orders;
$$;
SELECT pg_temp.read_plain_orders();
CREATE FUNCTION pg_temp.plain_count(r ranges, fl filters, retailers uuid[],
                                     but_sundays boolean DEFAULT false) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM plain_orders o
     WHERE o.retailer_uuid = ANY (retailers)
       AND o.created_date >= coalesce(r.sd, '-infinity') AND o.created_date < coalesce(r.ed, 'infinity')
       AND NOT (but_sundays AND extract(isodow FROM o.created_date AT TIME ZONE 'UTC') = 7)
       AND CASE fl.conjunction
               WHEN 'or' THEN o.statuses && fl.statuses
               WHEN 'and' THEN o.statuses @> fl.statuses
               WHEN 'only' THEN o.statuses @> fl.statuses AND o.statuses <@ fl.statuses
               ELSE true END
$$;

-- the totals as each caller gets them, and the ranges and filters whose totals
-- differ from a plain count of the retailers' orders
CREATE TEMP TABLE totals (caller text, g int, f int, total bigint);
GRANT INSERT ON totals TO t_counted, t_unmapped, a_counted;
CREATE FUNCTION pg_temp.count_as(caller text, orgs jsonb DEFAULT NULL,
                                  fs int[] DEFAULT '{0, 1, 2, 3}') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM totals t WHERE t.caller = count_as.caller;
    EXECUTE format('SET LOCAL ROLE %I', caller);
    INSERT INTO totals
    SELECT count_as.caller, r.g, f.f,
           (crux_get_orders(pg_temp.range_request(r, f.filter, orgs)) ->> 'total_results')::bigint
      FROM ranges r, filters f WHERE f.f = ANY (fs);
    RESET ROLE;
END
$$;
CREATE FUNCTION pg_temp.wrong_totals(caller text, retailers uuid[], but_sundays boolean DEFAULT false)
RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s %s..%s: %s, not %s', fl.filter, r.sd, r.ed, t.total, p.n), '; ')
      FROM totals t JOIN ranges r USING (g) JOIN filters fl USING (f),
           LATERAL (SELECT pg_temp.plain_count(r, fl, retailers, but_sundays) AS n) p
     WHERE t.caller = wrong_totals.caller AND t.total <> p.n
       AND (NOT but_sundays OR r.ed - r.sd < interval '14 days')
$$;

SELECT plan(18);

SELECT pg_temp.count_as('t_counted');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid]), NULL,
          'a tenant''s totals of 120 date ranges, without and with status filters: the plain counts of its orders');
SELECT cmp_ok((SELECT min(n) FROM (SELECT count(DISTINCT total) AS n FROM totals
                                    WHERE caller = 't_counted' GROUP BY f) c), '>', 50::bigint,
              'those ranges hold different numbers of orders under each filter');

SELECT pg_temp.count_as('a_counted', jsonb_build_array(md5('org-counted')::uuid, md5('org-beside')::uuid));
SELECT is(pg_temp.wrong_totals('a_counted', ARRAY[md5('org-counted')::uuid, md5('org-beside')::uuid]), NULL,
          'an administrator''s totals over two organizations: the plain counts of their orders');

-- the days of a range are not read through the executor, with a status filter
-- neither: March 16 to May 16 counts 15 days at each end (about 520 orders) by day
SET LOCAL ROLE t_counted;
CREATE TEMP TABLE counted_reads AS
SELECT crux_test.index_reads_by_call('{"start_date": "2017-03-16T10:00:00Z", "end_date": "2017-05-16T11:00:00Z", "limit": 1}',
                                     'crux.orders') AS orders,
       crux_test.index_reads_by_call('{"start_date": "2017-03-16T10:00:00Z", "end_date": "2017-05-16T11:00:00Z", "limit": 1,
                                       "line_item_status": "delivered", "status_conjunction": "only"}',
                                     'crux.order_summaries') AS summaries;
RESET ROLE;
SELECT cmp_ok((SELECT orders[7] FROM counted_reads), '<', 20::bigint,
              'the days a range holds in part of a month are counted without reading the orders one by one');
SELECT cmp_ok((SELECT summaries[7] FROM counted_reads), '<', 40::bigint,
              'with a status filter, without reading the matching summaries one by one (about a hundred)');

-- orders and line items written in this transaction, whose index entries and rows
-- nobody else sees yet (the new orders' summaries held until read): 700 new orders
-- with a line item, 2,140 deleted (old and new), 2,000 updated twice (a new index
-- entry for each version), line items changed, deleted and added, and 300 orders
-- inserted in a subtransaction rolled back
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-counted')::uuid, 'COUNTED-NEW-' || g, timestamptz '2016-06-03 07:00:00Z' + g * interval '97 minutes'
  FROM generate_series(1, 700) g;
INSERT INTO crux.line_items (order_uuid, position, quantity_ordered, status)
SELECT o.uuid, 1, 1, (ARRAY['rejected', 'delivered'])[1 + length(o.purchase_order_id) % 2]::crux.line_item_status
  FROM crux.orders o WHERE o.purchase_order_id LIKE 'COUNTED-NEW-%';
DELETE FROM crux.orders WHERE retailer_uuid = md5('org-counted')::uuid
   AND (purchase_order_id LIKE 'COUNTED-NEW-%3' OR purchase_order_id LIKE 'COUNTED-%7');
UPDATE crux.orders SET purchase_order_id = purchase_order_id || '-U'
 WHERE retailer_uuid = md5('org-counted')::uuid AND purchase_order_id LIKE 'COUNTED-%1';
UPDATE crux.orders SET purchase_order_id = purchase_order_id || 'U'
 WHERE retailer_uuid = md5('org-counted')::uuid AND purchase_order_id LIKE 'COUNTED-%-U';
UPDATE crux.line_items li SET status = 'delivered' FROM crux.orders o
 WHERE o.uuid = li.order_uuid AND o.purchase_order_id LIKE 'COUNTED-%9' AND li.position = 1;
DELETE FROM crux.line_items li USING crux.orders o
 WHERE o.uuid = li.order_uuid AND o.purchase_order_id LIKE 'COUNTED-%5' AND li.position = 2;
INSERT INTO crux.line_items (order_uuid, position, quantity_ordered, status)
SELECT o.uuid, 3, 1, 'cancelled' FROM crux.orders o WHERE o.purchase_order_id LIKE 'COUNTED-%8';
SAVEPOINT before_rolled_back;
INSERT INTO crux.orders (retailer_uuid, purchase_order_id, created_date)
SELECT md5('org-counted')::uuid, 'COUNTED-GONE-' || g, timestamptz '2016-05-01 07:00:00Z' + g * interval '3 hours'
  FROM generate_series(1, 300) g;
INSERT INTO crux.line_items (order_uuid, position, quantity_ordered, status)
SELECT o.uuid, 1, 1, 'delivered' FROM crux.orders o WHERE o.purchase_order_id LIKE 'COUNTED-GONE-%';
SELECT pg_temp.read_plain_orders();
SELECT pg_temp.count_as('t_counted');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid]), NULL,
          'orders inserted by the transaction, whose summaries it holds until they are read: the plain counts');
ROLLBACK TO SAVEPOINT before_rolled_back;
SELECT pg_temp.read_plain_orders();
SELECT is((SELECT count(*) FROM crux.orders WHERE retailer_uuid = md5('org-counted')::uuid), 18560::bigint,
          'the retailer holds 18,560 orders after those writes');
SELECT pg_temp.count_as('t_counted');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid]), NULL,
          'after orders and line items inserted, deleted, updated and rolled back in the transaction: the plain counts');
SELECT pg_temp.count_as('a_counted', jsonb_build_array(md5('org-counted')::uuid));
SELECT is(pg_temp.wrong_totals('a_counted', ARRAY[md5('org-counted')::uuid]), NULL,
          'the same for an administrator naming the retailer');

-- callers who see none of them
SELECT pg_temp.count_as('t_counted', jsonb_build_array(md5('org-beside')::uuid));
SELECT is((SELECT max(total) FROM totals WHERE caller = 't_counted'), 0::bigint,
          'a tenant naming another organization in org_uuids counts none of its orders');
SELECT pg_temp.count_as('t_unmapped');
SELECT is((SELECT max(total) FROM totals WHERE caller = 't_unmapped'), 0::bigint,
          'a role that acts for no organization counts no orders');
SELECT pg_temp.count_as('t_unmapped', jsonb_build_array(md5('org-counted')::uuid));
SELECT is((SELECT max(total) FROM totals WHERE caller = 't_unmapped'), 0::bigint,
          'nor when it names an organization');

-- a policy of the database's own on crux.orders, which hides the orders of
-- Sundays from the tenant: the days are counted through row-level security again
-- (the month buckets know only the extension's policies: ranges shorter than 14
-- days, whose days are counted, not a month's bucket less the days outside them;
-- without a status filter, whose pages read the orders: the pages of a status
-- filter walk the summaries, which the policy does not hide)
CREATE POLICY no_sundays ON crux.orders AS RESTRICTIVE TO t_counted
 USING (extract(isodow FROM created_date AT TIME ZONE 'UTC') <> 7);
SELECT pg_temp.count_as('t_counted', NULL, '{0}');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid], true), NULL,
          'with another policy on crux.orders, the totals of ranges of a few days follow it');
SELECT cmp_ok((SELECT count(*) FROM ranges WHERE ed - sd < interval '14 days'), '>=', 40::bigint,
              'of 40 ranges or more');
-- the pages of a status filter walk the summaries, which that policy does not
-- hide: they leave out the orders it hides
SET LOCAL ROLE t_counted;
CREATE TEMP TABLE policy_pages AS
SELECT crux_get_orders(pg_temp.range_request(r, f.filter, NULL) || '{"start": 0, "limit": 50}') AS answer
  FROM ranges r, filters f WHERE f.f > 0 AND r.g <= 40;
RESET ROLE;
SELECT is((SELECT count(*) FROM policy_pages, jsonb_array_elements(answer -> 'orders') o
            WHERE extract(isodow FROM (o ->> 'created_date')::timestamptz AT TIME ZONE 'UTC') = 7),
          0::bigint, 'with that policy, the pages of a status filter leave out the orders it hides');
SELECT cmp_ok((SELECT count(*) FROM policy_pages, jsonb_array_elements(answer -> 'orders') o), '>', 1000::bigint,
              'of more than 1,000 orders shown');
DROP POLICY no_sundays ON crux.orders;
-- the same on crux.order_summaries, with a status filter
CREATE POLICY no_sundays ON crux.order_summaries AS RESTRICTIVE TO t_counted
 USING (extract(isodow FROM created_date AT TIME ZONE 'UTC') <> 7);
SELECT pg_temp.count_as('t_counted', NULL, '{1, 2, 3}');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid], true), NULL,
          'with another policy on crux.order_summaries, the totals of ranges of a few days follow it');
DROP POLICY no_sundays ON crux.order_summaries;
SELECT pg_temp.count_as('t_counted');
SELECT is(pg_temp.wrong_totals('t_counted', ARRAY[md5('org-counted')::uuid]), NULL,
          'and without them again, the plain counts');

SELECT * FROM finish();
ROLLBACK;
