-- crux_orders_proxy 1.1: the crux_orders API in a proxy database, in front of
-- shards that each hold some retailers' orders (crux_orders 1.8 on each).
--
-- Callers connect to the proxy as they would to one server. A tenant's request
-- runs on the shard that holds its retailer, through PL/Proxy's cluster
-- crux_shards (a SQL/MED server the DBA creates, one partition per shard, with a
-- user mapping to the role the shards trust); an admin's runs on every shard,
-- through crux_shards_admin (the same shards, mapped to a crux_admin role there),
-- and the parts are merged here. The caller's identity is decided
-- here, with the same rules as crux_orders (claims for claim-carrying roles, a
-- mapping for other roles), and reaches the shard as the claims of that one
-- trusted role, which no client knows the password of.

\echo Use "CREATE EXTENSION crux_orders_proxy" to load this file. \quit

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'crux_reader') THEN
        CREATE ROLE crux_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'crux_admin') THEN
        CREATE ROLE crux_admin NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA crux_proxy;

-- The shard map: which shard (partition number of cluster crux_shards, from 0)
-- holds each retailer. Loaders ask crux_proxy.shard_of.
CREATE TABLE crux_proxy.retailer_shards (
    retailer_uuid uuid PRIMARY KEY,
    shard integer NOT NULL CHECK (shard OPERATOR(pg_catalog.>=) 0)
);

-- Who acts for which organization at the proxy, as crux.claim_roles and
-- crux.role_organizations do on one server.
CREATE TABLE crux_proxy.claim_roles (
    role_name name PRIMARY KEY
);
CREATE TABLE crux_proxy.role_organizations (
    role_name name PRIMARY KEY,
    organization_uuid uuid NOT NULL,
    user_uuid uuid                      -- the user its exports are for (their email)
);
SELECT pg_catalog.pg_extension_config_dump('crux_proxy.retailer_shards', '');
SELECT pg_catalog.pg_extension_config_dump('crux_proxy.claim_roles', '');
SELECT pg_catalog.pg_extension_config_dump('crux_proxy.role_organizations', '');

-- The shard that holds a retailer; an error for a retailer the map lacks.
CREATE FUNCTION crux_proxy.shard_of(retailer uuid) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_shard integer;
BEGIN
    SELECT s.shard INTO found_shard FROM crux_proxy.retailer_shards s
     WHERE s.retailer_uuid = retailer;
    IF found_shard IS NULL THEN
        RAISE EXCEPTION 'retailer % is on no shard', retailer
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add it to crux_proxy.retailer_shards first.';
    END IF;
    RETURN found_shard;
END
$$;

-- The caller: the role it connected or SET ROLE as, also inside a SECURITY
-- DEFINER function (whose current_user is its owner).
CREATE FUNCTION crux_proxy.caller() RETURNS name
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(nullif(current_setting('role'), 'none'), session_user)
$$;

-- The organization the caller acts for, or NULL: its claims when it is
-- claim-carrying, else its mapping.
CREATE FUNCTION crux_proxy.acting_organization() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller name := crux_proxy.caller();
    org uuid;
BEGIN
    IF EXISTS (SELECT FROM crux_proxy.claim_roles c WHERE c.role_name = caller) THEN
        BEGIN
            org := (current_setting('request.jwt.claims', true)::jsonb ->> 'org_uuid')::uuid;
        EXCEPTION WHEN data_exception THEN
            org := NULL;
        END;
        RETURN org;
    END IF;
    SELECT r.organization_uuid INTO org
      FROM crux_proxy.role_organizations r WHERE r.role_name = caller;
    RETURN org;
END
$$;

-- The caller's identity as the claims the shards' trusted role passes on: the
-- organization, and for exports the user and email (a claim-carrying caller's own
-- claims, or a mapped role's user). '{}' for a caller that acts for no one.
CREATE FUNCTION crux_proxy.caller_claims() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller name := crux_proxy.caller();
    org uuid := crux_proxy.acting_organization();
    claims jsonb;
BEGIN
    IF org IS NULL THEN
        RETURN '{}';
    END IF;
    IF EXISTS (SELECT FROM crux_proxy.claim_roles c WHERE c.role_name = caller) THEN
        claims := current_setting('request.jwt.claims', true)::jsonb;
        RETURN jsonb_strip_nulls(jsonb_build_object('org_uuid', org, 'user_uuid', claims -> 'user_uuid',
                                                    'email', claims -> 'email'));
    END IF;
    RETURN jsonb_strip_nulls((SELECT jsonb_build_object('org_uuid', org, 'user_uuid', r.user_uuid)
                                FROM crux_proxy.role_organizations r WHERE r.role_name = caller));
END
$$;

-- The shard of the caller's retailer; 0 for a caller that acts for no one (shard
-- 0 then validates the request and, with claims for no organization, finds
-- nothing).
CREATE FUNCTION crux_proxy.callers_shard() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT s.shard FROM crux_proxy.retailer_shards s
                      WHERE s.retailer_uuid = crux_proxy.acting_organization()), 0)
$$;

-- One shard's answer for an organization (NULL: none), run there as the role the
-- shards trust with the organization as its claims (crux.get_orders_for).
CREATE FUNCTION crux_proxy.get_orders_on(shard integer, request jsonb, organization uuid)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards';
    RUN ON shard;
    SELECT crux.get_orders_for(request, organization);
$$;

-- Exports on one shard, with the caller's claims (crux.export_orders_for and its
-- siblings there); and, for admins, a job looked up or cancelled on every shard.
CREATE FUNCTION crux_proxy.export_orders_on(shard integer, request jsonb, claims jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards';
    RUN ON shard;
    SELECT crux.export_orders_for(request, claims);
$$;
CREATE FUNCTION crux_proxy.get_export_on(shard integer, export_uuid uuid, claims jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards';
    RUN ON shard;
    SELECT crux.get_export_for(export_uuid, claims);
$$;
CREATE FUNCTION crux_proxy.cancel_export_on(shard integer, export_uuid uuid, claims jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards';
    RUN ON shard;
    SELECT crux.cancel_export_for(export_uuid, claims);
$$;
CREATE FUNCTION crux_proxy.get_export_everywhere(export_uuid uuid)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards_admin';
    RUN ON ALL;
    SELECT crux.get_export_for(export_uuid, '{}');
$$;
CREATE FUNCTION crux_proxy.cancel_export_everywhere(export_uuid uuid)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'crux_shards_admin';
    RUN ON ALL;
    SELECT j FROM (SELECT crux.cancel_export_for(export_uuid, '{}') AS j
                    WHERE crux.get_export_for(export_uuid, '{}') IS NOT NULL) x;
$$;

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
CREATE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
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

-- The caller may use the API at all (crux_reader), and is an admin or not.
CREATE FUNCTION crux_proxy.caller_is_admin() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller name := crux_proxy.caller();
BEGIN
    IF pg_catalog.pg_has_role(caller, 'crux_admin', 'MEMBER') THEN
        RETURN true;
    END IF;
    IF NOT pg_catalog.pg_has_role(caller, 'crux_reader', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied for the crux_orders API'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Grant crux_reader to the role.';
    END IF;
    RETURN false;
END
$$;

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
CREATE FUNCTION @extschema@.crux_export_orders(jsonb) RETURNS jsonb
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

-- crux_get_export and crux_cancel_export at the proxy: a tenant's job on its
-- shard; an admin's wherever it is.
CREATE FUNCTION @extschema@.crux_get_export(uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF crux_proxy.caller_is_admin() THEN
        RETURN (SELECT j FROM crux_proxy.get_export_everywhere($1) j WHERE j IS NOT NULL LIMIT 1);
    END IF;
    RETURN crux_proxy.get_export_on(crux_proxy.callers_shard(), $1, crux_proxy.caller_claims());
END
$$;
CREATE FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    answer jsonb;
BEGIN
    IF crux_proxy.caller_is_admin() THEN
        SELECT j INTO answer FROM crux_proxy.cancel_export_everywhere(export_uuid) j
         WHERE j IS NOT NULL LIMIT 1;
        IF answer IS NULL THEN
            RAISE EXCEPTION 'export % does not exist', export_uuid
                USING ERRCODE = 'undefined_object';
        END IF;
        RETURN answer;
    END IF;
    RETURN crux_proxy.cancel_export_on(crux_proxy.callers_shard(), export_uuid,
                                       crux_proxy.caller_claims());
END
$$;

REVOKE ALL ON FUNCTION crux_proxy.get_orders_on(integer, jsonb, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.get_order_keys_everywhere(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.get_orders_by_uuid_everywhere(uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.export_orders_on(integer, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.get_export_on(integer, uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.cancel_export_on(integer, uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.get_export_everywhere(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.cancel_export_everywhere(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.caller_claims() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.admin_claims() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.export_across_shards(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.crux_export_orders(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.crux_get_export(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.crux_cancel_export(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.crux_export_orders(jsonb) TO crux_reader;
GRANT EXECUTE ON FUNCTION @extschema@.crux_get_export(uuid) TO crux_reader;
GRANT EXECUTE ON FUNCTION @extschema@.crux_cancel_export(uuid) TO crux_reader;
REVOKE ALL ON FUNCTION crux_proxy.acting_organization() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux_proxy.caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.crux_get_orders(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.crux_get_orders(jsonb) TO crux_reader;
GRANT USAGE ON SCHEMA crux_proxy TO crux_reader;
GRANT EXECUTE ON FUNCTION crux_proxy.shard_of(uuid) TO crux_reader;
GRANT SELECT ON crux_proxy.retailer_shards TO crux_reader;

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
