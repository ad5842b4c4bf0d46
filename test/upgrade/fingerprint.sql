-- Every object of the extension, one line each with its full definition, sorted:
-- two databases whose extension was reached by different paths (fresh install,
-- or an older version then ALTER EXTENSION UPDATE) must print the same lines.
-- psql variables extension and schema name another extension and its schema
-- (default: crux_orders, crux).
\if :{?extension}
\else
\set extension crux_orders
\endif
\if :{?schema}
\else
\set schema crux
\endif
SELECT line FROM (
    -- membership
    SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid) AS line
      FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
     WHERE e.extname = :'extension' AND d.deptype = 'e'
    UNION ALL
    SELECT 'version ' || extversion || ' config ' ||
           coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                       FROM unnest(extconfig) c), '')
      FROM pg_extension WHERE extname = :'extension'
    -- tables: columns, options, row-level security, grants
    UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s generated=%s collation=%s',
                  a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated,
                  (SELECT collname FROM pg_collation WHERE oid = a.attcollation))
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE c.relnamespace = :'schema'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('relation %s kind=%s rls=%s force=%s options=%s acl=%s', c.oid::regclass,
                  c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relacl)
      FROM pg_class c WHERE c.relnamespace = :'schema'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE c.relnamespace = :'schema'::regnamespace
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE connamespace = :'schema'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = :'schema'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s roles=%s using=%s check=%s', schemaname, tablename,
                  policyname, roles, qual, with_check)
      FROM pg_policies WHERE schemaname = :'schema'
    -- functions (with their settings and grants) and types
    UNION ALL
    SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '')
           || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc p
     WHERE p.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
                      WHERE e.extname = :'extension' AND d.classid = 'pg_proc'::regclass)
       AND p.prokind <> 'a'
    UNION ALL
    SELECT format('aggregate %s sfunc=%s stype=%s final=%s combine=%s initcond=%s acl=%s',
                  p.oid::regprocedure, a.aggtransfn::regprocedure, a.aggtranstype::regtype,
                  a.aggfinalfn::regprocedure, a.aggcombinefn, a.agginitval, p.proacl)
      FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
     WHERE p.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
                      WHERE e.extname = :'extension' AND d.classid = 'pg_proc'::regclass)
    UNION ALL
    SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
      FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
     WHERE t.typnamespace = :'schema'::regnamespace
) x
ORDER BY line;
