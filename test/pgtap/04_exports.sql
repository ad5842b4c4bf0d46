-- Exports, the database side: crux_export_orders validates like crux_get_orders
-- (plus "fields", without the page cap), records the job with its requester inside
-- the caller's transaction, and returns its uuid; crux_export_rows is the same
-- selection as flat rows; crux_get_export and the job table obey tenancy.
BEGIN;
SELECT plan(31);

SELECT volatility_is('crux_export_orders', ARRAY['jsonb'], 'volatile');
SELECT volatility_is('crux_export_rows', ARRAY['jsonb'], 'stable');
SELECT isnt_definer('crux_export_orders', ARRAY['jsonb']);
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'crux_export_orders'), NULL,
          'one unnamed parameter, for PostgREST');

-- the answer and the job
CREATE TEMP TABLE t_export AS
SELECT crux_export_orders('{"line_item_status": "delivered", "fields": ["purchase_order_id", "sku_id"]}') AS answer;
SELECT ok((SELECT answer ? 'uuid' AND (answer ->> 'uuid')::uuid IS NOT NULL FROM t_export), 'the answer holds the export uuid');
SELECT is((SELECT array[status, requested_by::text, array_to_string(fields, ',')] FROM crux.export_jobs
            WHERE uuid = (SELECT (answer ->> 'uuid')::uuid FROM t_export)),
          ARRAY['queued', current_user::text, 'purchase_order_id,sku_id'], 'the job is queued with its request');
SELECT is(crux_get_export((SELECT (answer ->> 'uuid')::uuid FROM t_export)) ->> 'status', 'queued',
          'crux_get_export reports it');
SELECT is(crux_get_export('00000000-0000-0000-0000-000000000000'), NULL, 'an unknown export is NULL');

-- the same validation as crux_get_orders, plus fields; no page cap
SELECT throws_ok($$SELECT crux_export_orders('{"status_conjunction": "xor"}')$$, '22023',
                 'invalid "status_conjunction": "xor"', 'the same errors as crux_get_orders');
SELECT throws_ok($$SELECT crux_export_orders('{"fields": ["purchase_order_id", "price"]}')$$, '22023',
                 'invalid "fields[1]": "price"', 'an unknown field');
SELECT throws_ok($$SELECT crux_export_orders('{"fields": ["sku_id", "sku_id"]}')$$, '22023',
                 'invalid "fields[1]": "sku_id"', 'a field named twice');
SELECT throws_ok($$SELECT crux_export_orders('{"fields": []}')$$, '22023',
                 'invalid "fields": []', 'no fields at all');
SELECT throws_ok($$SELECT crux_export_orders('{"fields": "sku_id"}')$$, '22023',
                 'invalid "fields": "sku_id"', 'fields as a string');
SELECT throws_ok($$SELECT crux_get_orders('{"fields": ["sku_id"]}')$$, '22023',
                 'unrecognized request key "fields"', 'crux_get_orders has no fields');
SELECT lives_ok($$SELECT crux_export_orders('{"limit": 100000}')$$, 'an export has no page cap');
SELECT lives_ok($$SELECT crux_export_orders(NULL)$$, 'SQL NULL exports everything');

-- a rolled back export leaves no job
SAVEPOINT before_export;
SELECT crux_export_orders('{"term": "rolled back"}');
ROLLBACK TO before_export;
SELECT is((SELECT count(*) FROM crux.export_jobs WHERE request ->> 'term' = 'rolled back'), 0::bigint,
          'rollback: no job');

-- crux_export_rows: the orders of crux_get_orders, in its order, one row per line item
SELECT is((SELECT array_agg(array[r.order_uuid::text, coalesce(r.line_item_uuid::text, '-')] ORDER BY r.ordinality)
             FROM crux_export_rows('{"line_item_status": "backordered", "sort": {"key": "sku_id"}}')
                  WITH ORDINALITY AS r),
          (SELECT array_agg(array[o ->> 'uuid', coalesce(li ->> 'uuid', '-')] ORDER BY on_, ln)
             FROM jsonb_array_elements(crux_get_orders('{"line_item_status": "backordered", "sort": {"key": "sku_id"}, "limit": 1000}') -> 'orders')
                  WITH ORDINALITY AS x(o, on_)
             LEFT JOIN LATERAL jsonb_array_elements(o -> 'line_items') WITH ORDINALITY AS y(li, ln) ON true),
          'crux_export_rows flattens exactly what crux_get_orders selects');
SELECT is((SELECT count(*) FROM crux_export_rows(NULL)),
          (SELECT count(*) FROM crux.line_items) + (SELECT count(*) FROM crux.orders o
                                                     WHERE NOT EXISTS (SELECT FROM crux.line_items WHERE order_uuid = o.uuid)),
          'without filters: every line item, and every order without one');
SELECT is((SELECT count(*) FROM crux_export_rows('{"start": 10, "limit": 12}')),
          (SELECT sum(jsonb_array_length(o -> 'line_items'))::bigint
             FROM jsonb_array_elements(crux_get_orders('{"start": 10, "limit": 12}') -> 'orders') o),
          'start and limit select the same orders');

-- tenancy: PostgREST tenant A, tenant B, a SQL role forging a job
CREATE ROLE t_web NOLOGIN;
CREATE ROLE t_bob NOLOGIN;
GRANT crux_reader TO t_web, t_bob;
INSERT INTO crux.claim_roles VALUES ('t_web');
INSERT INTO crux.role_organizations (role_name, organization_uuid, user_uuid)
VALUES ('t_bob', md5('org-2')::uuid, md5('user-4')::uuid);
SELECT set_config('request.jwt.claims',
                  format('{"org_uuid": "%s", "user_uuid": "%s", "email": "a@example.com"}',
                         md5('org-1')::uuid, md5('user-1')::uuid), true);
SET LOCAL ROLE t_web;
CREATE TEMP TABLE t_a AS SELECT (crux_export_orders('{}') ->> 'uuid')::uuid AS job;
SELECT is((SELECT count(*) FROM crux_export_rows(NULL) WHERE retailer_uuid <> md5('org-1')::uuid), 0::bigint,
          'tenant A exports only A''s orders');
SELECT is((SELECT count(DISTINCT order_uuid) FROM crux_export_rows(NULL)),
          (SELECT count(*) FROM crux.orders), 'and all of them');
SELECT is(crux_get_export((SELECT job FROM t_a)) ->> 'status', 'queued', 'A sees its export');
RESET ROLE;
GRANT SELECT ON t_a TO PUBLIC;
SELECT is((SELECT array[organization_uuid::text, user_uuid::text, email, claims ->> 'org_uuid']
             FROM crux.export_jobs WHERE uuid = (SELECT job FROM t_a)),
          ARRAY[md5('org-1')::uuid::text, md5('user-1')::uuid::text, 'a@example.com', md5('org-1')::uuid::text],
          'the job records A''s organization, user, email and claims');

SET LOCAL ROLE t_bob;
SELECT is(crux_get_export((SELECT job FROM t_a)), NULL, 'B cannot see A''s export');
SELECT is((SELECT count(*) FROM crux.export_jobs WHERE organization_uuid = md5('org-1')::uuid), 0::bigint,
          'nor list it');
-- bob tries to forge a job for A's organization with A's claims: the trigger writes
-- who really asks
INSERT INTO crux.export_jobs (request, requested_by, claims, organization_uuid, status)
VALUES ('{"term": "forged"}', 't_web', format('{"org_uuid": "%s"}', md5('org-1')::uuid)::jsonb,
        md5('org-1')::uuid, 'done');
SELECT is((SELECT count(*) FROM crux.export_jobs WHERE request ->> 'term' = 'forged'), 1::bigint,
          'B sees the job it inserted');
RESET ROLE;
SELECT is((SELECT array[requested_by::text, organization_uuid::text, coalesce(claims::text, '-'), status, email]
             FROM crux.export_jobs WHERE request ->> 'term' = 'forged'),
          ARRAY['t_bob', md5('org-2')::uuid::text, '-', 'queued',
                (SELECT email FROM crux.users WHERE uuid = md5('user-4')::uuid)],
          'but it is recorded as B''s, with B''s organization and email, queued');
SELECT throws_ok($$SET LOCAL ROLE t_bob; UPDATE crux.export_jobs SET status = 'done'$$, '42501', NULL,
                 'a tenant cannot change jobs');
RESET ROLE;
SELECT cmp_ok((SELECT count(DISTINCT organization_uuid) FROM crux.export_jobs)::int, '>=', 2,
              'a superuser lists every organization''s exports');
SELECT is((SELECT count(*) FROM information_schema.role_table_grants
            WHERE table_schema = 'crux' AND table_name = 'export_jobs' AND grantee = 'PUBLIC'), 0::bigint,
          'no grants to PUBLIC on jobs');

SELECT * FROM finish();
ROLLBACK;
