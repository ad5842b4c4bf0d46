-- crux_orders 1.8 -> 1.9: an admin's exports and pages across shards; PostgREST's
-- descriptions.
--
-- crux.export_csv_orders writes a selection's orders one by one, each with its CSV
-- records and its sort value, so that crux-export-worker can merge the shards'
-- parts of an admin's export (queued through crux_orders_proxy) into the one file
-- a single database would give. An export job keeps the number of shards it spans
-- (claim "shards" of an admin's claim-carrying role). An admin's page merges the
-- shards' keys (crux.get_order_keys_for_merge), then renders only the page's
-- orders (crux.get_orders_by_uuid). The API functions' comments name every request
-- key, and PostgREST is told to reload its schema.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.9'" to load this file. \quit

CREATE TYPE crux.export_csv_order AS (
	sort_value text,
	order_uuid uuid,
	rows integer,
	csv text
);

CREATE FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean DEFAULT true) RETURNS SETOF crux.export_csv_order
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_csv_orders_1_9';

CREATE FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) RETURNS record
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_export_merge_bounds_1_9';
REVOKE ALL ON FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) TO crux_reader;

CREATE OR REPLACE FUNCTION crux.export_jobs_requester() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    claims jsonb;
BEGIN
    -- a superuser writing a complete row (pg_restore reloading the export history)
    -- is taken at its word
    IF NEW.requested_by IS NOT NULL AND current_setting('is_superuser') = 'on' THEN
        RETURN NEW;
    END IF;
    NEW.requested_by := current_user;
    NEW.organization_uuid := crux.acting_organization();
    NEW.status := 'queued';
    NEW.created_at := now();
    NEW.started_at := NULL; NEW.finished_at := NULL; NEW.attempts := 0;
    NEW.lease_until := NULL; NEW.worker := NULL; NEW.row_count := NULL;
    NEW.bytes := NULL; NEW.file_path := NULL; NEW.error := NULL;
    NEW.claims := NULL; NEW.user_uuid := NULL; NEW.email := NULL;
    IF EXISTS (SELECT FROM crux.claim_roles WHERE role_name = current_user) THEN
        BEGIN
            claims := current_setting('request.jwt.claims', true)::jsonb;
            NEW.claims := jsonb_build_object('org_uuid', claims -> 'org_uuid',
                                             'user_uuid', claims -> 'user_uuid',
                                             'email', claims -> 'email');
            NEW.user_uuid := (claims ->> 'user_uuid')::uuid;
            NEW.email := claims ->> 'email';
            -- an admin's export across the shards of crux_orders_proxy: how many
            IF claims ? 'shards' AND pg_has_role(current_user, 'crux_admin', 'MEMBER') THEN
                NEW.claims := NEW.claims || jsonb_build_object('shards', (claims ->> 'shards')::integer);
            END IF;
        EXCEPTION WHEN data_exception THEN
            NULL;           -- malformed claims: no user, no email
        END;
    ELSE
        SELECT r.user_uuid INTO NEW.user_uuid
          FROM crux.role_organizations r WHERE r.role_name = current_user;
    END IF;
    IF NEW.email IS NULL AND NEW.user_uuid IS NOT NULL THEN
        SELECT u.email INTO NEW.email FROM crux.users u WHERE u.uuid = NEW.user_uuid;
    END IF;
    RETURN NEW;
END
$$;

-- An admin's page across shards for the proxy (crux_orders_proxy 1.1): the
-- request checked as crux_get_orders checks it, its total, bounds, direction and
-- the keys (sort value, uuid) of its orders from position 0 to its end; then the
-- orders of the merged page that this database holds, rendered as crux_get_orders
-- renders them. Both run as the caller: row-level security applies.
CREATE FUNCTION crux.get_order_keys_for_merge(request jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_order_keys_for_merge_1_9'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE FUNCTION crux.get_orders_by_uuid(uuids uuid[]) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_by_uuid_1_9'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off;
REVOKE EXECUTE ON FUNCTION crux.get_order_keys_for_merge(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.get_order_keys_for_merge(jsonb) TO crux_reader;
REVOKE EXECUTE ON FUNCTION crux.get_orders_by_uuid(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.get_orders_by_uuid(uuid[]) TO crux_reader;

-- The API functions described for PostgREST's OpenAPI: every request key
COMMENT ON FUNCTION @extschema@.crux_get_orders(jsonb) IS 'Get Orders: filter, sort and page orders.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), at most crux_orders.max_page_size), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids).
Response: {"total_results": every matching order, "orders": [the page]}.';
COMMENT ON FUNCTION @extschema@.crux_export_orders(jsonb) IS 'Queue an export of the selection as a CSV file emailed to the requester.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), no cap), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids), fields (the CSV columns, in order).
Response: {"uuid": the export}; crux_get_export(uuid) follows it.';
COMMENT ON FUNCTION @extschema@.crux_export_rows(jsonb) IS 'The rows an export of this request holds, one per line item (for \copy).
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), no cap), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids), fields (the CSV columns, in order).';
COMMENT ON FUNCTION @extschema@.crux_get_export(uuid) IS 'An export you may see, by its uuid (export_uuid).
Response: {"uuid", "status": queued | running | done | failed | cancelled | expired, "created_at", "started_at", "finished_at", "row_count", "error"}, or null.';
COMMENT ON FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) IS 'Cancel a queued or running export, by its uuid (export_uuid).
Response: the export as crux_get_export(uuid) returns it.';

-- PostgREST reloads its schema cache (the functions and their comments)
NOTIFY pgrst, 'reload schema';
