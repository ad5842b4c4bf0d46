-- crux_orders_proxy 1.0 -> 1.1; the shards need crux_orders 1.9.
--
-- An admin's export across shards: queued on shard 0 with the admin's user and
-- email and the number of shards, for a crux-export-worker that serves every shard
-- to merge into one file (the role of cluster crux_shards_admin must be in the
-- shards' crux.claim_roles). An admin's page: the shards' keys merged, then only
-- the page's orders fetched. The API functions' comments name every request key.

\echo Use "ALTER EXTENSION crux_orders_proxy UPDATE TO '1.1'" to load this file. \quit

-- an admin's page: the shards' keys merged, then the page's orders
DROP FUNCTION crux_proxy.merge_parts(jsonb[]);
DROP FUNCTION crux_proxy.get_orders_for_merge(jsonb);
-- An admin request's keys from every shard (its orders from position 0 to the
-- page's end, as sort value and uuid), and then the merged page's orders from
-- every shard (each renders those it holds), run there as the admin role the
-- shards know (cluster crux_shards_admin: the same shards, another user mapping).
CREATE FUNCTION crux_proxy.get_order_keys_everywhere(request jsonb)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards_admin';
    RUN ON ALL;
    SELECT crux.get_order_keys_for_merge(request);
$$;
CREATE FUNCTION crux_proxy.get_orders_by_uuid_everywhere(uuids uuid[])
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards_admin';
    RUN ON ALL;
    SELECT crux.get_orders_by_uuid(uuids);
$$;

-- The shards' keys merged as one server sorts (the value compared bytewise, a
-- missing value larger than any, ties on the uuid in the same direction):
-- total_results is the sum of theirs, page the uuids at positions [start, limit).
-- Each shard gave its keys from position 0 to limit, so the page holds every
-- order it must.
CREATE FUNCTION crux_proxy.merge_keys(parts jsonb[], OUT total_results bigint, OUT page uuid[])
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH part AS (
        SELECT p FROM unnest(parts) p
    ), bounds AS (
        SELECT (p ->> 'start')::bigint AS first, (p ->> 'limit')::bigint AS stop,
               (p ->> 'ascending')::boolean AS asc
          FROM part LIMIT 1
    ), ranked AS (
        SELECT k.id, row_number() OVER (ORDER BY
                   CASE WHEN b.asc THEN k.value END ASC NULLS LAST,
                   CASE WHEN b.asc THEN k.id END ASC,
                   CASE WHEN NOT b.asc THEN k.value END DESC NULLS FIRST,
                   CASE WHEN NOT b.asc THEN k.id END DESC) AS n
          FROM bounds b,
               (SELECT (e ->> 0) COLLATE "C" AS value, (e ->> 1)::uuid AS id
                  FROM part, jsonb_array_elements(part.p -> 'keys') e) k
    )
    SELECT (SELECT coalesce(sum((p ->> 'total_results')::bigint), 0)::bigint FROM part),
           (SELECT coalesce(array_agg(r.id ORDER BY r.n), '{}')
              FROM ranked r, bounds b WHERE r.n > b.first AND r.n <= b.stop)
$$;

-- The page's orders, gathered from the shards' answers, in the page's order.
CREATE FUNCTION crux_proxy.page_orders(page uuid[], parts jsonb[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_agg(x.o ORDER BY p.n), '[]')
      FROM unnest(page) WITH ORDINALITY p(id, n)
      JOIN (SELECT o FROM unnest(parts) part, jsonb_array_elements(part -> 'orders') o) x
        ON (x.o ->> 'uuid')::uuid = p.id
$$;

-- crux_get_orders at the proxy: a tenant's request on its retailer's shard, an
-- admin's on every shard: the shards' keys merged into the page, then just the
-- page's orders. The caller's identity decides which; the request is validated by
-- the shards, so a bad one gets the same error as on one server (SQLSTATE 22023).
CREATE OR REPLACE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total bigint;
    page uuid[];
BEGIN
    IF NOT crux_proxy.caller_is_admin() THEN
        RETURN crux_proxy.get_orders_on(crux_proxy.callers_shard(), $1,
                                        crux_proxy.acting_organization());
    END IF;
    SELECT m.total_results, m.page INTO total, page
      FROM crux_proxy.merge_keys(ARRAY(SELECT crux_proxy.get_order_keys_everywhere($1))) m;
    RETURN jsonb_build_object('total_results', total, 'orders',
               CASE WHEN cardinality(page) = 0 THEN '[]'::jsonb
                    ELSE crux_proxy.page_orders(page,
                             ARRAY(SELECT crux_proxy.get_orders_by_uuid_everywhere(page))) END);
END
$$;
REVOKE ALL ON FUNCTION crux_proxy.get_order_keys_everywhere(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.get_orders_by_uuid_everywhere(uuid[]) FROM PUBLIC;

-- An admin's export across shards: the number of shards (partitions of cluster
-- crux_shards_admin), and the claims it is queued with on shard 0: the admin's
-- user and email, and how many shards it spans, for the worker that merges them.
CREATE FUNCTION crux_proxy.shard_count() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*)::integer
      FROM pg_catalog.pg_foreign_server s, pg_catalog.pg_options_to_table(s.srvoptions) o
     WHERE s.srvname = 'crux_shards_admin' AND o.option_name ~ '^p[0-9]+$'
$$;
CREATE FUNCTION crux_proxy.admin_claims() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller name := crux_proxy.caller();
    claims jsonb;
BEGIN
    IF EXISTS (SELECT FROM crux_proxy.claim_roles c WHERE c.role_name = caller) THEN
        claims := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
        claims := jsonb_build_object('user_uuid', claims -> 'user_uuid', 'email', claims -> 'email');
    ELSE
        claims := (SELECT jsonb_build_object('user_uuid', r.user_uuid)
                     FROM crux_proxy.role_organizations r WHERE r.role_name = caller);
    END IF;
    RETURN jsonb_strip_nulls(coalesce(claims, '{}'))
           || jsonb_build_object('shards', crux_proxy.shard_count());
END
$$;
-- Queued on shard 0, whose workers serve every shard; NULL when shard 0 cannot
-- keep the claims (crux_orders before 1.9, or the admin role not claim-carrying).
CREATE FUNCTION crux_proxy.export_across_shards(request jsonb, claims jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards_admin';
    RUN ON 0;
    SELECT CASE WHEN to_regprocedure('crux.export_csv_orders(jsonb,boolean)') IS NOT NULL
                     AND EXISTS (SELECT FROM crux.claim_roles c WHERE c.role_name = current_user)
                THEN crux.export_orders_for(request, claims) END;
$$;

-- crux_export_orders at the proxy: a tenant's export is queued on its retailer's
-- shard, where a crux-export-worker for that shard runs it; an admin's on shard
-- 0, for a worker that serves every shard to merge into one file.
CREATE OR REPLACE FUNCTION @extschema@.crux_export_orders(jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    queued jsonb;
BEGIN
    IF NOT crux_proxy.caller_is_admin() THEN
        RETURN crux_proxy.export_orders_on(crux_proxy.callers_shard(), $1,
                                           crux_proxy.caller_claims());
    END IF;
    queued := crux_proxy.export_across_shards($1, crux_proxy.admin_claims());
    IF queued IS NULL THEN
        RAISE EXCEPTION 'shard 0 cannot queue an admin''s export across shards'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It needs crux_orders 1.9 or later, and the role of cluster crux_shards_admin in crux.claim_roles.',
                  HINT = 'Run ALTER EXTENSION crux_orders UPDATE on every shard, and add that role to crux.claim_roles on each.';
    END IF;
    RETURN queued;
END
$$;

REVOKE ALL ON FUNCTION crux_proxy.admin_claims() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.export_across_shards(jsonb, jsonb) FROM PUBLIC;

-- The API functions described for PostgREST's OpenAPI, as crux_orders describes
-- them: every request key
COMMENT ON FUNCTION @extschema@.crux_get_orders(jsonb) IS 'Get Orders: filter, sort and page orders.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), at most crux_orders.max_page_size), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids).
Response: {"total_results": every matching order, "orders": [the page]}.';
COMMENT ON FUNCTION @extschema@.crux_export_orders(jsonb) IS 'Queue an export of the selection as a CSV file emailed to the requester.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), no cap), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids), fields (the CSV columns, in order).
Response: {"uuid": the export}; crux_get_export(uuid) follows it.';
COMMENT ON FUNCTION @extschema@.crux_get_export(uuid) IS 'An export you may see, by its uuid (export_uuid).
Response: {"uuid", "status": queued | running | done | failed | cancelled | expired, "created_at", "started_at", "finished_at", "row_count", "error"}, or null.';
COMMENT ON FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) IS 'Cancel a queued or running export, by its uuid (export_uuid).
Response: the export as crux_get_export(uuid) returns it.';

-- PostgREST reloads its schema cache (the functions and their comments)
NOTIFY pgrst, 'reload schema';
