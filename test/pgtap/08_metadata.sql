-- What PostgREST and operators read about the API: each function's comment
-- (PostgREST's OpenAPI description) is there and names every request key it takes;
-- crux_orders.statement_timeout bounds one call, 30s unless changed, by anyone.
BEGIN;
SELECT plan(8);

CREATE TEMP TABLE request_keys (key text) ON COMMIT DROP;
INSERT INTO request_keys VALUES ('start'), ('limit'), ('sort'), ('line_item_status'),
    ('line_item_statuses'), ('status_conjunction'), ('line_item_status_conjunction'),
    ('start_date'), ('end_date'), ('term'), ('org_uuids');

CREATE FUNCTION pg_temp.missing_keys(f regprocedure, extra text[] DEFAULT '{}')
RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(k ORDER BY k), '{}')
      FROM (SELECT key FROM request_keys UNION ALL SELECT unnest(extra)) x(k)
     WHERE coalesce(obj_description(f, 'pg_proc'), '') NOT LIKE '%' || k || '%'
$$;

SELECT is(pg_temp.missing_keys('crux_get_orders(jsonb)'), '{}',
          'crux_get_orders: its comment names every request key');
SELECT is(pg_temp.missing_keys('crux_export_orders(jsonb)', '{fields}'), '{}',
          'crux_export_orders: its comment names every request key, fields too');
SELECT is(pg_temp.missing_keys('crux_export_rows(jsonb)', '{fields}'), '{}',
          'crux_export_rows: its comment names every request key, fields too');
SELECT ok(obj_description('crux_get_export(uuid)'::regprocedure, 'pg_proc') LIKE '%status%',
          'crux_get_export: its comment describes the answer');
SELECT ok(obj_description('crux_cancel_export(uuid)'::regprocedure, 'pg_proc') LIKE '%export_uuid%',
          'crux_cancel_export: its comment names its argument');
SELECT is(split_part(obj_description('crux_get_orders(jsonb)'::regprocedure, 'pg_proc'), E'\n', 1),
          'Get Orders: filter, sort and page orders.',
          'the first line is a summary (PostgREST''s OpenAPI summary)');

SELECT crux_get_orders('{"limit": 1}') IS NOT NULL;     -- the module is loaded
SELECT is(current_setting('crux_orders.statement_timeout'), '30s',
          'crux_orders.statement_timeout is 30s by default');
CREATE ROLE t_meta NOLOGIN;
GRANT crux_reader TO t_meta;
SET ROLE t_meta;
SET crux_orders.statement_timeout = '2min';
SELECT is(current_setting('crux_orders.statement_timeout'), '2min',
          'any role may change it for itself');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
