-- crux_orders 1.7 -> 1.8: exports that can be trusted with customer data.
--
-- A job can be cancelled (crux_cancel_export) and, once its file is removed by
-- the worker's retention, expired: two more statuses. A tenant (or an admin) may
-- change one thing of a job it sees: its status, from queued or running to
-- cancelled; the worker, a superuser or a role that bypasses row-level security,
-- changes the rest. crux.export_csv gains formula_safe and writes the values as
-- the JSON API writes them, whatever the session's settings.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.8'" to load this file. \quit

ALTER TABLE crux.export_jobs DROP CONSTRAINT export_jobs_status_check;
ALTER TABLE crux.export_jobs ADD CONSTRAINT export_jobs_status_check
    CHECK (status OPERATOR(pg_catalog.=) ANY
           (ARRAY['queued', 'running', 'done', 'failed', 'cancelled', 'expired']));

-- Updates by anyone but the worker: only a queued or running job's status, only
-- to cancelled; finished_at is then set and the lease ended, nothing else changes.
CREATE FUNCTION crux.export_jobs_cancel_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('is_superuser') = 'on'
       OR (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM 'cancelled' THEN
        RAISE EXCEPTION 'an export''s status can only be changed to cancelled'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Call crux_cancel_export(uuid).';
    END IF;
    IF OLD.status NOT IN ('queued', 'running', 'cancelled') THEN
        RAISE EXCEPTION 'export % is already %', OLD.uuid, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only a queued or running export can be cancelled.';
    END IF;
    IF OLD.status = 'cancelled' THEN
        RETURN OLD;
    END IF;
    NEW := OLD;
    NEW.status := 'cancelled';
    NEW.finished_at := now();
    NEW.lease_until := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER export_jobs_cancel_only BEFORE UPDATE ON crux.export_jobs
    FOR EACH ROW EXECUTE FUNCTION crux.export_jobs_cancel_only();
GRANT UPDATE (status) ON crux.export_jobs TO crux_reader;

-- A job as the requester sees it (row-level security applies); NULL if it does not
-- exist or is not visible. PL/pgSQL rather than SQL: a SQL function called from
-- another function keeps its plan for the rest of the transaction, planned with
-- the row-level security of the role that called it first, even after SET ROLE.
CREATE OR REPLACE FUNCTION @extschema@.crux_get_export(uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'uuid', j.uuid, 'status', j.status,
               'created_at', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'started_at', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'finished_at', to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'row_count', j.row_count, 'error', j.error)
      FROM crux.export_jobs j WHERE j.uuid = $1);
END
$$;

-- Cancels a job the caller sees (row-level security: a tenant its organization's,
-- an admin any) that is queued or running; a running job's worker stops within
-- seconds, keeps no file and sends nothing. Returns the job as crux_get_export
-- reports it. Cancelling a cancelled job again is not an error.
CREATE FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF export_uuid IS NULL THEN
        RAISE EXCEPTION 'the export''s uuid must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE crux.export_jobs SET status = 'cancelled' WHERE uuid = export_uuid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'export % does not exist', export_uuid
            USING ERRCODE = 'undefined_object',
                  HINT = 'crux_get_export(uuid) reports the exports you can see.';
    END IF;
    RETURN @extschema@.crux_get_export(export_uuid);
END
$$;
COMMENT ON FUNCTION @extschema@.crux_cancel_export(uuid) IS
    'Cancel a queued or running export; returns it as crux_get_export does';
GRANT EXECUTE ON FUNCTION @extschema@.crux_cancel_export(uuid) TO crux_reader;
REVOKE EXECUTE ON FUNCTION @extschema@.crux_cancel_export(uuid) FROM PUBLIC;

-- The worker's CSV: values as the API writes them; formula_safe (the default)
-- puts an apostrophe before a text cell a spreadsheet would read as a formula.
DROP FUNCTION crux.export_csv(jsonb, bigint, bigint, boolean);
CREATE FUNCTION crux.export_csv(request jsonb, first bigint, count bigint, header boolean,
                                formula_safe boolean DEFAULT true)
RETURNS SETOF crux.export_csv_chunk
AS 'MODULE_PATHNAME', 'crux_export_csv_1_8'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
REVOKE EXECUTE ON FUNCTION crux.export_csv(jsonb, bigint, bigint, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.export_csv(jsonb, bigint, bigint, boolean, boolean) TO crux_reader;

-- The library serves this version only: new entry points; a database at an older
-- version binds the old ones, which answer with the error that asks for this update.
CREATE OR REPLACE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_1_8'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_1_8'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_slice_1_8'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_count(jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'crux_export_order_count_1_8'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;

-- A shard's answer for the proxy (crux_orders_proxy): crux_get_orders with the
-- organization as the caller's claims. The claims count only for a claim-carrying
-- role, which could set them itself; for any other role they are ignored, so this
-- gives no one more than crux_get_orders does.
CREATE FUNCTION crux.get_orders_for(request jsonb, organization uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('request.jwt.claims',
                       jsonb_build_object('org_uuid', organization)::text, true);
    RETURN @extschema@.crux_get_orders(request);
END
$$;
REVOKE EXECUTE ON FUNCTION crux.get_orders_for(jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.get_orders_for(jsonb, uuid) TO crux_reader;

-- A shard's part of an admin request at the proxy (crux_orders_proxy): the request
-- checked as crux_get_orders checks it, answered from position 0 to its end, with
-- the page's bounds and sort, so that the proxy merges the shards' answers.
CREATE FUNCTION crux.get_orders_for_merge(request jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_for_merge'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
REVOKE EXECUTE ON FUNCTION crux.get_orders_for_merge(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.get_orders_for_merge(jsonb) TO crux_reader;

-- A shard's export functions for the proxy: crux_export_orders, crux_get_export
-- and crux_cancel_export with the caller's claims (organization, user, email),
-- which the proxy passes. Like crux.get_orders_for, the claims count only for a
-- claim-carrying role.
CREATE FUNCTION crux.export_orders_for(request jsonb, claims jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('request.jwt.claims', claims::text, true);
    RETURN @extschema@.crux_export_orders(request);
END
$$;
CREATE FUNCTION crux.get_export_for(export_uuid uuid, claims jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('request.jwt.claims', claims::text, true);
    RETURN @extschema@.crux_get_export(export_uuid);
END
$$;
CREATE FUNCTION crux.cancel_export_for(export_uuid uuid, claims jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('request.jwt.claims', claims::text, true);
    RETURN @extschema@.crux_cancel_export(export_uuid);
END
$$;
REVOKE EXECUTE ON FUNCTION crux.export_orders_for(jsonb, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crux.get_export_for(uuid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crux.cancel_export_for(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.export_orders_for(jsonb, jsonb) TO crux_reader;
GRANT EXECUTE ON FUNCTION crux.get_export_for(uuid, jsonb) TO crux_reader;
GRANT EXECUTE ON FUNCTION crux.cancel_export_for(uuid, jsonb) TO crux_reader;
