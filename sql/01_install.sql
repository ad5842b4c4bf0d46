-- CREATE EXTENSION (done by pg_regress --load-extension) creates schema crux with
-- the contract's tables and columns, registers them for pg_dump, and creates the
-- API function in the extension's schema.
SELECT table_name, column_name, format_type(a.atttypid, a.atttypmod) AS type,
       is_nullable, column_default, is_generated
  FROM information_schema.columns c
  JOIN pg_attribute a ON a.attrelid = format('crux.%I', c.table_name)::regclass
                     AND a.attname = c.column_name
 WHERE table_schema = 'crux'
 ORDER BY table_name, ordinal_position;

SELECT enum_range(NULL::crux.line_item_status);

-- every table is dumped with its rows
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) cfg JOIN pg_class c ON c.oid = cfg
 WHERE e.extname = 'crux_orders' ORDER BY 1;

-- row-level security is enabled and forced on every table, with these policies
SELECT relname, relrowsecurity, relforcerowsecurity
  FROM pg_class WHERE relnamespace = 'crux'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT tablename, policyname, roles, cmd, qual, with_check
  FROM pg_policies WHERE schemaname = 'crux' ORDER BY 1, 2;

-- the roles, and what they are granted; nothing is granted to PUBLIC
SELECT grantee, table_name, string_agg(privilege_type, ', ' ORDER BY privilege_type)
  FROM information_schema.role_table_grants
 WHERE table_schema = 'crux' AND grantee <> current_user
 GROUP BY 1, 2 ORDER BY 1, 2;

-- the API: one unnamed jsonb parameter (PostgREST passes the whole body), STABLE
-- (crux_export_orders VOLATILE: it writes), not
-- STRICT (SQL NULL means every default), not SECURITY DEFINER, pinned search_path
SELECT p.oid::regprocedure, p.proargnames, p.provolatile, p.proisstrict, p.prosecdef,
       p.proconfig, n.nspname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proname LIKE 'crux\_%'
 ORDER BY 1::text;

-- an empty database answers with zero orders
SELECT crux_get_orders('{}');
SELECT crux_get_orders(NULL);

-- the page cap setting exists (once the module is loaded) with its default, and
-- only a superuser may change it
SHOW crux_orders.max_page_size;
SELECT context FROM pg_settings WHERE name = 'crux_orders.max_page_size';
