-- crux_orders_proxy 1.0 -> 1.1: an admin's export across shards. It is queued on
-- shard 0 with the admin's user and email and the number of shards, and a
-- crux-export-worker that serves every shard merges it into one file; the shards
-- need crux_orders 1.9 and the role of cluster crux_shards_admin in their
-- crux.claim_roles.

\echo Use "ALTER EXTENSION crux_orders_proxy UPDATE TO '1.1'" to load this file. \quit

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
