-- Tenancy: row-level security per organization, through crux_get_orders, plain
-- SELECTs and PostgREST's request preamble; forged claims and settings; hostile
-- objects in the search_path. Runs on the 1,000 sample orders (retailer 1 holds
-- about a third of them, retailer 2 some of the rest).
BEGIN;
SELECT plan(74);

-- org A = md5('org-1'), org B = md5('org-2')
CREATE TEMP TABLE t_org AS
SELECT md5('org-1')::uuid AS a, md5('org-2')::uuid AS b,
       (SELECT count(*) FROM crux.orders WHERE retailer_uuid = md5('org-1')::uuid) AS a_orders,
       (SELECT count(*) FROM crux.orders WHERE retailer_uuid = md5('org-2')::uuid) AS b_orders,
       (SELECT count(*) FROM crux.orders) AS all_orders,
       (SELECT count(*) FROM crux.line_items) AS all_lines;
GRANT SELECT ON t_org TO PUBLIC;

CREATE ROLE t_web NOLOGIN;            -- PostgREST's role: claim-carrying
CREATE ROLE t_alice NOLOGIN;          -- a direct SQL user of org A
CREATE ROLE t_mallory NOLOGIN;        -- a direct SQL user of org B who tries things
CREATE ROLE t_nobody NOLOGIN;         -- can read, acts for no organization
CREATE ROLE t_boss NOLOGIN;           -- the administrative role
GRANT crux_reader TO t_web, t_alice, t_mallory, t_nobody;
GRANT crux_admin TO t_boss;
INSERT INTO crux.claim_roles VALUES ('t_web');
INSERT INTO crux.role_organizations (role_name, organization_uuid)
SELECT 't_alice', a FROM t_org UNION ALL SELECT 't_mallory', b FROM t_org;

-- what PostgREST sends for POST /rpc/crux_get_orders: search_path, role and claims
-- set local to the transaction, then the call
CREATE FUNCTION pg_temp.as_postgrest(role text, claims text, request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    answer jsonb;
BEGIN
    PERFORM set_config('search_path', 'public', true),
            set_config('role', role, true),
            set_config('request.jwt.claims', claims, true);
    answer := public.crux_get_orders(request);
    PERFORM set_config('role', 'none', true);   -- back to the session's own role
    RETURN answer;
END
$$;

-- PostgREST with org A's claims: exactly A's orders
SELECT is((pg_temp.as_postgrest('t_web', format('{"role": "t_web", "org_uuid": "%s"}', a), '{}') ->> 'total_results')::bigint,
          a_orders, 'claims of org A: all of A''s orders') FROM t_org;
SELECT is((SELECT count(*) FROM jsonb_array_elements(
              pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', a), '{"limit": 1000}') -> 'orders') o
            WHERE o #>> '{retailer,uuid}' <> a::text), 0::bigint, 'and none of anyone else''s') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', b), '{}') ->> 'total_results')::bigint,
          b_orders, 'claims of org B: B''s orders') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', a),
              jsonb_build_object('org_uuids', jsonb_build_array(b))) ->> 'total_results')::int,
          0, 'asking for B''s orders by org_uuids with A''s claims gives none') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', a),
              jsonb_build_object('term', (SELECT purchase_order_id FROM crux.orders WHERE retailer_uuid = b LIMIT 1)))
              ->> 'total_results')::int,
          0, 'nor by term') FROM t_org;

-- empty, missing, malformed claims: nothing, never everything
SELECT is((pg_temp.as_postgrest('t_web', '', '{}') ->> 'total_results')::int, 0, 'empty claims see nothing');
SELECT is((pg_temp.as_postgrest('t_web', '{}', '{}') ->> 'total_results')::int, 0, 'claims without org_uuid see nothing');
SELECT is((pg_temp.as_postgrest('t_web', '{"org_uuid": "not-a-uuid"}', '{}') ->> 'total_results')::int, 0, 'a malformed org_uuid sees nothing');
SELECT is((pg_temp.as_postgrest('t_web', '{"org_uuid": 42}', '{}') ->> 'total_results')::int, 0, 'a number as org_uuid sees nothing');
SELECT is((pg_temp.as_postgrest('t_web', '{"org_uuid": null}', '{}') ->> 'total_results')::int, 0, 'a null org_uuid sees nothing');
SELECT is((pg_temp.as_postgrest('t_web', 'not json at all', '{}') ->> 'total_results')::int, 0, 'claims that are not JSON see nothing');
SELECT is((pg_temp.as_postgrest('t_web', '["org_uuid"]', '{}') ->> 'total_results')::int, 0, 'claims that are not an object see nothing');
-- the claims read as jsonb reads them: the last of duplicate keys counts, only the
-- top level's, only a string that is a uuid
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s", "org_uuid": "%s"}', b, a), '{}') ->> 'total_results')::bigint,
          a_orders, 'of duplicate "org_uuid" keys the last counts') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s", "org_uuid": 7}', a), '{}') ->> 'total_results')::int,
          0, 'a last "org_uuid" that is not a string sees nothing') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"user": {"org_uuid": "%s"}, "list": ["%s"]}', a, a), '{}') ->> 'total_results')::int,
          0, 'an "org_uuid" below the top level sees nothing') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "{%s}"}', upper(a::text)), '{}') ->> 'total_results')::bigint,
          a_orders, 'a uuid in braces and capitals, as uuid input takes it') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s", "name": "\u0000"}', a), '{}') ->> 'total_results')::int,
          0, 'claims that jsonb refuses (\u0000) see nothing') FROM t_org;

-- the claims as a transaction leaves them ('' once set_config(..., true) ends)
SELECT set_config('request.jwt.claims', format('{"org_uuid": "%s"}', a), true) FROM t_org;
SET LOCAL ROLE t_web;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT a_orders FROM t_org), 'claims set in this transaction count');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true);
SET LOCAL ROLE t_web;
SELECT is((crux_get_orders('{}') ->> 'total_results')::int, 0, 'claims left as '''' give zero');
SELECT is((SELECT count(*) FROM crux.orders), 0::bigint, 'and so does a direct SELECT');
RESET ROLE;

-- a mapped SQL role sees its organization, through the API and plain SELECTs
SET LOCAL ROLE t_alice;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT a_orders FROM t_org), 'a mapped role sees its organization');
SELECT is((SELECT count(*) FROM crux.orders), (SELECT a_orders FROM t_org), 'SELECT on crux.orders agrees');
SELECT is((SELECT count(DISTINCT retailer_uuid) FROM crux.orders), 1::bigint, 'one retailer only');
SELECT is((SELECT count(*) FROM crux.line_items li JOIN crux.orders o ON o.uuid = li.order_uuid),
          (SELECT count(*) FROM crux.line_items), 'every visible line item belongs to a visible order');
SELECT is((SELECT count(*) FROM crux.organizations), 1::bigint, 'it sees its own organization only');
SELECT is((SELECT array_agg(role_name) FROM crux.role_organizations), ARRAY['t_alice']::name[], 'and only its own mapping');
SELECT is((SELECT count(*) FROM crux.claim_roles), 0::bigint, 'and no claim roles');
RESET ROLE;

-- an API call reads its role's mapping once; the next call reads it again
UPDATE crux.role_organizations SET organization_uuid = (SELECT b FROM t_org) WHERE role_name = 't_alice';
SET LOCAL ROLE t_alice;
SELECT is((SELECT (r ->> 'total_results')::bigint
                  + count(*) FILTER (WHERE o #>> '{retailer,uuid}' <> (SELECT b::text FROM t_org))
             FROM crux_get_orders('{"limit": 1000}') r, jsonb_array_elements(r -> 'orders') o
            GROUP BY r), (SELECT b_orders FROM t_org),
          'remapped in the same transaction, the next call sees the new organization''s orders only');
RESET ROLE;
INSERT INTO crux.claim_roles VALUES ('t_alice');
SELECT set_config('request.jwt.claims', format('{"org_uuid": "%s"}', a), true) FROM t_org;
SET LOCAL ROLE t_alice;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT a_orders FROM t_org),
          'made claim-carrying, the next call follows its claims');
RESET ROLE;
DELETE FROM crux.claim_roles WHERE role_name = 't_alice';
SELECT set_config('request.jwt.claims', '', true);
UPDATE crux.role_organizations SET organization_uuid = (SELECT a FROM t_org) WHERE role_name = 't_alice';

-- the same role with forged claims, settings and roles gets nothing extra
SET LOCAL ROLE t_mallory;
SELECT set_config('request.jwt.claims', format('{"org_uuid": "%s"}', a), true) FROM t_org;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT b_orders FROM t_org),
          'a role not declared claim-carrying cannot forge claims');
SELECT is((SELECT count(*) FROM crux.orders WHERE retailer_uuid = (SELECT a FROM t_org)), 0::bigint,
          'not in a direct SELECT either');
SELECT throws_ok($$INSERT INTO crux.claim_roles VALUES ('t_mallory')$$, '42501', NULL,
                 'it cannot declare itself claim-carrying');
SELECT throws_ok($$UPDATE crux.role_organizations SET organization_uuid = organization_uuid$$, '42501', NULL,
                 'nor change its mapping');
SELECT throws_ok($$SET crux_orders.max_page_size = 100000$$, '42501', NULL,
                 'nor raise the page cap');
SET LOCAL row_security = off;
SELECT throws_ok($$SELECT crux_get_orders('{}')$$, '42501', NULL,
                 'row_security = off makes queries fail, not leak');
RESET row_security;
RESET ROLE;

-- no identity: zero, not an error
SET LOCAL ROLE t_nobody;
SELECT is(crux_get_orders('{}'), '{"orders": [], "total_results": 0}'::jsonb, 'a role with no identity sees zero orders');
SELECT is((SELECT count(*) FROM crux.line_items), 0::bigint, 'and zero line items');
RESET ROLE;

-- the administrative role sees every organization
SET LOCAL ROLE t_boss;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT all_orders FROM t_org), 'crux_admin sees all');
SELECT is((SELECT count(*) FROM crux.orders), (SELECT all_orders FROM t_org), 'in SELECTs too');
RESET ROLE;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT all_orders FROM t_org), 'a superuser sees all');
CREATE ROLE t_bypass NOLOGIN BYPASSRLS;
GRANT crux_reader TO t_bypass;
SET LOCAL ROLE t_bypass;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT all_orders FROM t_org), 'a BYPASSRLS role sees all');
SELECT is((SELECT count(*) FROM crux.line_items), (SELECT all_lines FROM t_org), 'in SELECTs too');
RESET ROLE;

-- total_results comes from the order counts (1.1): for a tenant (row-level
-- security on crux.order_counts), crux_admin, a BYPASSRLS role and a superuser it
-- equals the plain-SQL baseline's count run as the same role, for date ranges with
-- partial days and whole months, ranges that cover most of a month at either end or
-- inside one month (counted as the month's bucket less its other days), status
-- filters (also over parts of one or two days) and org_uuids (own, other, both)
CREATE TEMP TABLE t_requests AS
SELECT r::jsonb AS r FROM unnest(ARRAY[
    '{}',
    '{"line_item_status": ["backordered", "rejected"]}',
    '{"line_item_status": ["allocated", "delivered"], "status_conjunction": "and"}',
    '{"line_item_status": ["delivered"], "status_conjunction": "only"}',
    '{"start_date": "2016-03-15T10:00:00Z", "end_date": "2017-07-04T08:30:00.5Z"}',
    '{"start_date": "2017-03-01T00:00:00Z", "end_date": "2017-04-01T00:00:00Z", "line_item_status": "has_tracking"}',
    '{"start_date": "2017-05-05T01:00:00Z", "end_date": "2017-05-05T23:00:00Z"}',
    '{"start_date": "2016-12-31T23:59:59.999999Z"}',
    '{"end_date": "2017-02-28T12:00:00+05:00", "line_item_status": "unallocated"}',
    '{"start_date": "2017-06-01T00:00:00Z", "end_date": "2017-01-01T00:00:00Z"}',
    '{"start_date": "2017-03-04T10:00:00Z", "end_date": "2017-04-28T07:42:38Z"}',
    '{"start_date": "2017-03-04T10:00:00Z", "end_date": "2017-04-28T07:42:38Z", "line_item_status": "delivered", "status_conjunction": "only"}',
    '{"start_date": "2016-05-02T00:00:00Z", "end_date": "2016-05-30T20:00:00Z", "line_item_status": ["backordered", "rejected"]}',
    '{"start_date": "2016-05-02T00:00:00Z", "end_date": "2016-05-30T20:00:00Z"}',
    '{"start_date": "2016-04-03T05:00:00Z", "end_date": "2016-09-27T13:00:00Z", "line_item_status": ["allocated", "delivered"], "status_conjunction": "and"}',
    '{"start_date": "2016-04-28T05:00:00Z", "end_date": "2016-09-02T13:00:00Z", "line_item_status": "allocated"}',
    '{"start_date": "2016-11-02T00:00:00Z", "line_item_status": "cancelled"}',
    '{"end_date": "2017-01-30T00:00:00Z"}'
]) r
UNION ALL
-- a status filter (the first line item's status, each conjunction) over parts of
-- one or two days around an order of org A (two) and of org B (one): 4 hours
-- either side of it, and from noon the day before to just after it
SELECT jsonb_build_object('start_date', to_char(r.sd AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                          'end_date', to_char(r.ed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                          'line_item_status', o.status, 'status_conjunction', c)
  FROM (SELECT * FROM (SELECT o.created_date, li.status::text AS status
                         FROM crux.orders o JOIN crux.line_items li ON li.order_uuid = o.uuid AND li.position = 1, t_org
                        WHERE o.retailer_uuid = t_org.a ORDER BY o.uuid LIMIT 2) x
        UNION ALL
        SELECT * FROM (SELECT o.created_date, li.status::text
                         FROM crux.orders o JOIN crux.line_items li ON li.order_uuid = o.uuid AND li.position = 1, t_org
                        WHERE o.retailer_uuid = t_org.b ORDER BY o.uuid LIMIT 1) y) o,
       LATERAL (VALUES (o.created_date - interval '4 hours', o.created_date + interval '4 hours'),
                       (date_trunc('day', o.created_date AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '12 hours',
                        o.created_date + interval '1 microsecond')) r(sd, ed),
       (VALUES ('or'), ('and'), ('only')) c(c)
UNION ALL
SELECT jsonb_strip_nulls(jsonb_build_object('org_uuids', o, 'start_date', sd, 'end_date', ed,
                                            'line_item_status', 'delivered'))
  FROM t_org, LATERAL (VALUES (jsonb_build_array(a)), (jsonb_build_array(b)),
                              (jsonb_build_array(a, b))) v(o),
       (VALUES ('2016-06-10T12:00:00Z', NULL), ('2017-03-04T10:00:00Z', '2017-04-28T07:42:38Z'),
               ('2016-05-02T00:00:00Z', '2016-05-30T20:00:00Z')) d(sd, ed);
GRANT SELECT ON t_requests TO PUBLIC;
GRANT USAGE ON SCHEMA crux_baseline TO PUBLIC;
CREATE FUNCTION pg_temp.count_mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM t_requests
     WHERE (crux_get_orders(r) -> 'total_results')
           IS DISTINCT FROM (crux_baseline.get_orders(r) -> 'total_results')
$$;
SET LOCAL ROLE t_alice;
SELECT is(pg_temp.count_mismatches(), 0::bigint, 'a tenant''s totals from the counts equal its own count of orders (45 requests)');
RESET ROLE;
SET LOCAL ROLE t_boss;
SELECT is(pg_temp.count_mismatches(), 0::bigint, 'crux_admin''s totals equal the count of every order');
RESET ROLE;
SET LOCAL ROLE t_bypass;
SELECT is(pg_temp.count_mismatches(), 0::bigint, 'a BYPASSRLS role''s totals too');
RESET ROLE;
SELECT is(pg_temp.count_mismatches(), 0::bigint, 'a superuser''s totals too');

-- a tenant's whole answers (through row-level security, on the indexes that lead
-- with the retailer) equal the baseline's as the same role: every sort key both
-- ways, first and later pages, a status filter, org_uuids naming its own and
-- another organization, and a term
CREATE TEMP TABLE t_pages AS
SELECT jsonb_strip_nulls(jsonb_build_object(
           'sort', jsonb_build_object('key', k, 'dir', d), 'start', p, 'limit', p + 12,
           'line_item_status', s, 'org_uuids', o, 'term', t)) AS r
  FROM t_org,
       (VALUES ('date'), ('status'), ('sku_id'), ('uuid')) k(k),
       (VALUES ('asc'), ('desc')) d(d),
       (VALUES (0), (30)) p(p),
       LATERAL (VALUES (NULL, NULL::jsonb, NULL), ('rejected', NULL, NULL),
                       (NULL, jsonb_build_array(a), NULL), (NULL, jsonb_build_array(b, a), NULL),
                       (NULL, NULL, 'SKU000123')) v(s, o, t);
GRANT SELECT ON t_pages TO PUBLIC;
SET LOCAL ROLE t_alice;
SELECT is((SELECT count(*) FROM t_pages WHERE crux_get_orders(r) IS DISTINCT FROM crux_baseline.get_orders(r)),
          0::bigint, 'a tenant''s pages equal the baseline''s for every sort, filter and org_uuids (80 requests)');
RESET ROLE;

-- hostile objects in the caller's search_path change nothing: an "=" on uuids that
-- is always true, tables named like ours, functions shadowing built-ins
CREATE SCHEMA t_hostile;
CREATE FUNCTION t_hostile.always(uuid, uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR t_hostile.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = t_hostile.always);
CREATE FUNCTION t_hostile.int2and(smallint, smallint) RETURNS smallint LANGUAGE sql AS 'SELECT 127::smallint';
CREATE OPERATOR t_hostile.& (LEFTARG = smallint, RIGHTARG = smallint, FUNCTION = t_hostile.int2and);
CREATE TABLE t_hostile.orders (uuid uuid);
CREATE FUNCTION t_hostile.count(uuid) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE FUNCTION t_hostile.acting_organization() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';
GRANT USAGE ON SCHEMA t_hostile TO PUBLIC;
CREATE TEMP TABLE t_reference AS
SELECT r, crux_get_orders(r) AS answer
  FROM (VALUES ('{}'::jsonb), ('{"line_item_status": "delivered", "limit": 3}'),
               ('{"term": "PO-00000042"}'), ('{"line_item_status": ["allocated", "rejected"], "status_conjunction": "and"}')) v(r);
GRANT SELECT ON t_reference TO PUBLIC;
CREATE TEMP TABLE t_export_reference AS
SELECT md5(string_agg(x::text, ',' ORDER BY x.ordinality)) AS digest
  FROM crux_export_rows('{"line_item_status": "delivered"}') WITH ORDINALITY AS x;
SET LOCAL search_path = t_hostile, public, pg_catalog;
SELECT is((SELECT md5(string_agg(x::text, ',' ORDER BY x.ordinality))
             FROM crux_export_rows('{"line_item_status": "delivered"}') WITH ORDINALITY AS x),
          (SELECT digest FROM t_export_reference),
          'crux_export_rows (inlined into the caller''s query) gives the same rows');
SELECT is((SELECT count(*) FROM t_reference WHERE crux_get_orders(r) IS DISTINCT FROM answer), 0::bigint,
          'hostile objects first in the search_path: same answers for a superuser');
SET LOCAL ROLE t_alice;
SELECT is((crux_get_orders('{}') ->> 'total_results')::bigint, (SELECT a_orders FROM t_org),
          'and for a tenant');
RESET ROLE;
RESET search_path;

-- writes through the policies: a tenant cannot place an order for someone else
GRANT INSERT ON crux.orders TO t_alice;
SET LOCAL ROLE t_alice;
SELECT throws_ok(format($$INSERT INTO crux.orders (retailer_uuid, purchase_order_id) VALUES ('%s', 'x')$$,
                        (SELECT b FROM t_org)), '42501', NULL, 'a tenant cannot write into another organization');
SELECT lives_ok(format($$INSERT INTO crux.orders (retailer_uuid, purchase_order_id) VALUES ('%s', 'x')$$,
                       (SELECT a FROM t_org)), 'but may into its own, given the grant');
RESET ROLE;

-- the line items' policy spares the probe of the order only while crux_get_orders
-- reads the details of the orders it has just read, for those orders and the role
-- that read them: a restrictive policy of this test notes, for each line item it
-- is asked about, what crux.order_in_page says of its order to the caller and to
-- another role, and of an order of another organization and one of the caller's
-- own outside the page; it raises when told to, in the middle of a page
CREATE SCHEMA t_probe;
GRANT USAGE ON SCHEMA t_probe TO PUBLIC;
CREATE FUNCTION t_probe.as_mallory(o uuid) RETURNS boolean LANGUAGE sql SECURITY DEFINER
AS 'SELECT crux.order_in_page(o)';
ALTER FUNCTION t_probe.as_mallory(uuid) OWNER TO t_mallory;
SELECT set_config('t_probe.other_org', (SELECT uuid FROM crux.orders, t_org WHERE retailer_uuid = b
                                         ORDER BY created_date DESC LIMIT 1)::text, false),
       set_config('t_probe.off_page', (SELECT uuid FROM crux.orders, t_org WHERE retailer_uuid = a
                                        ORDER BY created_date LIMIT 1)::text, false),
       set_config('t_probe.fail', 'off', false);
CREATE FUNCTION t_probe.note(o uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('t_probe.fail') = 'on' THEN
        RAISE EXCEPTION 'the test''s policy fails';
    END IF;
    PERFORM set_config('t_probe.seen', current_setting('t_probe.seen') ||
                       crux.order_in_page(o)::text || '/' || t_probe.as_mallory(o)::text || '/' ||
                       crux.order_in_page(current_setting('t_probe.other_org')::uuid)::text || '/' ||
                       crux.order_in_page(current_setting('t_probe.off_page')::uuid)::text || ' ', false);
    RETURN true;
END
$$;
CREATE POLICY t_probe ON crux.line_items AS RESTRICTIVE TO t_alice USING (t_probe.note(order_uuid));
SELECT count(*) AS page_line_items FROM crux.line_items
 WHERE order_uuid IN (SELECT uuid FROM crux.orders, t_org WHERE retailer_uuid = a
                       ORDER BY created_date DESC, uuid DESC LIMIT 5) \gset
SET LOCAL ROLE t_alice;
SELECT set_config('t_probe.seen', '', false);
SELECT is((SELECT count(*) FROM jsonb_array_elements(crux_get_orders('{"limit": 5}') -> 'orders') o,
                                jsonb_array_elements(o -> 'line_items') li), :page_line_items::bigint,
          'a tenant''s page shows every line item of its orders');
SELECT is(regexp_replace(current_setting('t_probe.seen'), '^(true/false/false/false )+$', 'ok'), 'ok',
          'while their details are read, crux.order_in_page is true for the page''s orders alone, for the caller alone');
SELECT set_config('t_probe.seen', '', false);
SELECT is((SELECT count(*) FROM crux.line_items) > 0, true, 'the tenant reads line items directly');
SELECT is(current_setting('t_probe.seen') ~ '^(false/false/false/false )+$', true,
          'and crux.order_in_page is false for every one of them');
SELECT set_config('t_probe.fail', 'on', false);
SELECT throws_ok($$SELECT crux_get_orders('{"limit": 5}')$$, 'P0001', 'the test''s policy fails',
                 'a page whose details fail raises the error');
SELECT set_config('t_probe.fail', 'off', false);
SELECT is((SELECT count(*) FROM crux.orders WHERE crux.order_in_page(uuid)), 0::bigint,
          'afterwards, and outside a page''s details, false for every order');
RESET ROLE;
DROP POLICY t_probe ON crux.line_items;

-- the same for the tracking numbers' policy, which spares the probe of the line
-- item only while crux_get_orders reads the tracking numbers of the line items it
-- has just read: what crux.line_item_in_page says of a tracking number's line item
-- to the caller and to another role, and of a line item of another organization
-- and one of the caller's own outside the page
CREATE FUNCTION t_probe.li_as_mallory(l uuid) RETURNS boolean LANGUAGE sql SECURITY DEFINER
AS 'SELECT crux.line_item_in_page(l)';
ALTER FUNCTION t_probe.li_as_mallory(uuid) OWNER TO t_mallory;
SELECT set_config('t_probe.other_li', (SELECT li.uuid FROM crux.line_items li
                                          JOIN crux.orders o ON o.uuid = li.order_uuid, t_org
                                         WHERE o.retailer_uuid = b LIMIT 1)::text, false),
       set_config('t_probe.off_page_li', (SELECT li.uuid FROM crux.line_items li
                                             JOIN crux.orders o ON o.uuid = li.order_uuid, t_org
                                            WHERE o.retailer_uuid = a
                                            ORDER BY o.created_date LIMIT 1)::text, false);
CREATE FUNCTION t_probe.note_tracking(l uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('t_probe.seen', current_setting('t_probe.seen') ||
                       crux.line_item_in_page(l)::text || '/' || t_probe.li_as_mallory(l)::text || '/' ||
                       crux.line_item_in_page(current_setting('t_probe.other_li')::uuid)::text || '/' ||
                       crux.line_item_in_page(current_setting('t_probe.off_page_li')::uuid)::text || ' ', false);
    RETURN true;
END
$$;
CREATE POLICY t_probe ON crux.tracking_numbers AS RESTRICTIVE TO t_alice USING (t_probe.note_tracking(line_item_uuid));
SELECT count(*) AS page_tracking_numbers FROM crux.tracking_numbers t JOIN crux.line_items li ON li.uuid = t.line_item_uuid
 WHERE li.order_uuid IN (SELECT uuid FROM crux.orders, t_org WHERE retailer_uuid = a
                          ORDER BY created_date DESC, uuid DESC LIMIT 40) \gset
SET LOCAL ROLE t_alice;
SELECT set_config('t_probe.seen', '', false);
SELECT is((SELECT count(*) FROM jsonb_array_elements(crux_get_orders('{"limit": 40}') -> 'orders') o,
                                jsonb_array_elements(o -> 'line_items') li,
                                jsonb_array_elements(li -> 'tracking_numbers') t), :page_tracking_numbers::bigint,
          'a tenant''s page shows every tracking number of its orders');
SELECT ok(:page_tracking_numbers > 0, 'and the page has tracking numbers');
SELECT is(regexp_replace(current_setting('t_probe.seen'), '^(true/false/false/false )+$', 'ok'), 'ok',
          'while they are read, crux.line_item_in_page is true for the page''s line items alone, for the caller alone');
SELECT set_config('t_probe.seen', '', false);
SELECT is((SELECT count(*) FROM crux.tracking_numbers) > 0, true, 'the tenant reads tracking numbers directly');
SELECT is(current_setting('t_probe.seen') ~ '^(false/false/false/false )+$', true,
          'and crux.line_item_in_page is false for every one of them');
SELECT is((SELECT count(*) FROM crux.line_items WHERE crux.line_item_in_page(uuid)), 0::bigint,
          'afterwards, and outside a page''s details, false for every line item');
RESET ROLE;
DROP POLICY t_probe ON crux.tracking_numbers;

-- a term naming another organization's order uuid finds nothing for a tenant, nor
-- through PostgREST's claims
SET LOCAL ROLE t_alice;
SELECT is((crux_get_orders(jsonb_build_object('term', current_setting('t_probe.other_org'))) ->> 'total_results')::int,
          0, 'a tenant''s term naming another organization''s order uuid finds nothing');
RESET ROLE;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', a),
                                jsonb_build_object('term', current_setting('t_probe.other_org'))) ->> 'total_results')::int,
          0, 'nor through PostgREST''s claims') FROM t_org;
SELECT is((pg_temp.as_postgrest('t_web', format('{"org_uuid": "%s"}', b),
                                jsonb_build_object('term', current_setting('t_probe.other_org'))) ->> 'total_results')::int,
          1, 'which find it for its own organization') FROM t_org;

-- the names of retailers and users: an order of A whose user belongs to B shows that
-- user to an administrator and two nulls to A; an organization whose uuid is also a
-- user's keeps its own name (names are looked up by kind, not by uuid alone)
UPDATE crux.orders SET user_uuid = md5('user-4')::uuid      -- a user of org B
 WHERE uuid = (SELECT min(uuid::text)::uuid FROM crux.orders WHERE retailer_uuid = md5('org-1')::uuid);
SELECT set_config('t_names.po', purchase_order_id, true)
  FROM crux.orders WHERE user_uuid = md5('user-4')::uuid AND retailer_uuid = md5('org-1')::uuid;
SET LOCAL ROLE t_alice;
SELECT is(crux_get_orders(jsonb_build_object('term', current_setting('t_names.po'))) #> '{orders,0,retailer}',
          jsonb_build_object('name', 'Retailer 1', 'uuid', md5('org-1')::uuid, 'user',
                             '{"name": null, "email": null}'::jsonb),
          'a tenant sees its own retailer''s name, and nulls for another organization''s user');
RESET ROLE;
SET LOCAL ROLE t_boss;
SELECT is(crux_get_orders(jsonb_build_object('term', current_setting('t_names.po'))) #> '{orders,0,retailer,user}',
          '{"name": "User 4", "email": "user4@retailer2.example"}'::jsonb,
          'an administrator sees that user');
RESET ROLE;
INSERT INTO crux.organizations (uuid, name) VALUES (md5('user-1')::uuid, 'Twin of User 1');
INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, purchase_order_id, created_date)
VALUES (md5('t_names-twin')::uuid, md5('user-1')::uuid, md5('user-1')::uuid, 'T-NAMES-TWIN', '2017-03-01');
INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, purchase_order_id, created_date)
VALUES (md5('t_names-twin-2')::uuid, md5('org-1')::uuid, md5('user-1')::uuid, 'T-NAMES-TWIN', '2017-03-01');
SET LOCAL ROLE t_boss;
SELECT is((SELECT jsonb_agg(o #> '{retailer}' ORDER BY o ->> 'uuid')
             FROM jsonb_array_elements(crux_get_orders('{"term": "T-NAMES-TWIN"}') -> 'orders') o),
          jsonb_build_array(
              jsonb_build_object('name', 'Retailer 1', 'uuid', md5('org-1')::uuid, 'user',
                                 '{"name": "User 1", "email": "user1@retailer1.example"}'::jsonb),
              jsonb_build_object('name', 'Twin of User 1', 'uuid', md5('user-1')::uuid, 'user',
                                 '{"name": "User 1", "email": "user1@retailer1.example"}'::jsonb)),
          'an organization and a user of the same uuid keep their own names');
-- every order of a page of 1,000: its retailer's and user's names, as the caller may
-- read them (orders on the page, and those whose names differ)
CREATE FUNCTION pg_temp.names_on_a_page() RETURNS text LANGUAGE sql AS $$
    SELECT format('%s orders, %s with other names', count(*),
                  count(*) FILTER (WHERE x.uuid IS NULL
                                      OR o #>> '{retailer,name}' IS DISTINCT FROM r.name
                                      OR o #>> '{retailer,user,name}' IS DISTINCT FROM u.name
                                      OR o #>> '{retailer,user,email}' IS DISTINCT FROM u.email))
      FROM jsonb_array_elements(public.crux_get_orders('{"limit": 1000}') -> 'orders') o
      LEFT JOIN crux.orders x ON x.uuid = (o ->> 'uuid')::uuid
      LEFT JOIN crux.organizations r ON r.uuid = x.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid = x.user_uuid
$$;
SELECT is(pg_temp.names_on_a_page(), '1000 orders, 0 with other names',
          'an administrator''s page of 1,000: each order has its own retailer''s and user''s names');
SELECT cmp_ok((SELECT count(DISTINCT o #>> '{retailer,user,name}')
                 FROM jsonb_array_elements(crux_get_orders('{"limit": 1000}') -> 'orders') o), '>', 10::bigint,
              'which are many different ones');
RESET ROLE;
SELECT set_config('t_names.a_orders', count(*)::text, true)
  FROM crux.orders WHERE retailer_uuid = md5('org-1')::uuid;
SET LOCAL ROLE t_alice;
SELECT is(pg_temp.names_on_a_page(), format('%s orders, 0 with other names', current_setting('t_names.a_orders')),
          'a tenant''s page: each of its orders has its retailer''s name and its own users'' names');
RESET ROLE;

-- nothing in crux is granted to PUBLIC
SELECT is((SELECT count(*) FROM information_schema.role_table_grants
            WHERE table_schema = 'crux' AND grantee = 'PUBLIC'), 0::bigint, 'no table grants to PUBLIC');

SELECT * FROM finish();
ROLLBACK;
