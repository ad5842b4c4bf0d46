-- crux_orders 1.19: the whole schema of this version, for a fresh install.
-- (A database at an older version gets here through the upgrade scripts
-- crux_orders--A--B.sql; test/upgrade/ checks that both ways end with the same
-- objects, definitions and grants.)
--
-- Sections: roles; the schema and its types; the tables (the order data, who acts
-- for which organization, the summaries and counts the triggers keep, the export
-- jobs); the functions (triggers, counts, tenancy, exports, then the API in the
-- schema CREATE EXTENSION names); indexes; triggers; row-level security; grants.
--
-- Every object is schema-qualified, and the function bodies spell operators
-- OPERATOR(pg_catalog.x) and run with search_path = pg_catalog, pg_temp, so objects
-- a user creates in another schema of the search_path can neither capture nor
-- break anything here.

\echo Use "CREATE EXTENSION crux_orders" to load this file. \quit

-- Roles, created once per cluster (roles are not extension members, so they stay
-- when the extension is dropped):
--   crux_reader  may read the crux tables (rows still filtered per organization);
--                grant it to application roles, PostgREST roles and tenants
--   crux_admin   sees every organization and maintains crux.role_organizations
-- Superusers and BYPASSRLS roles see everything, as PostgreSQL always lets them.
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
GRANT crux_reader TO crux_admin;

-- ---------------------------------------------------------------------------
-- The schema and its types
-- ---------------------------------------------------------------------------

CREATE SCHEMA crux;
COMMENT ON SCHEMA crux IS 'crux_orders: retailer orders, line items and tracking numbers';

CREATE TYPE crux.export_csv_chunk AS (
	rows integer,
	csv text
);

CREATE TYPE crux.export_csv_order AS (
	sort_value text,
	order_uuid uuid,
	rows integer,
	csv text
);

CREATE TYPE crux.line_item_status AS ENUM (
    'unallocated',
    'allocated',
    'rejected',
    'has_tracking',
    'backordered',
    'delivered',
    'cancelled'
);

CREATE TYPE crux.export_row AS (
	order_uuid uuid,
	order_status text,
	is_allocated boolean,
	purchase_order_id text,
	created_date timestamp with time zone,
	notes text,
	estimated_shipping_cost numeric,
	drop_ship_fee numeric,
	order_fee numeric,
	retailer_name text,
	retailer_uuid uuid,
	user_name text,
	user_email text,
	address_name text,
	address_business_name text,
	address_address1 text,
	address_address2 text,
	address_city text,
	address_state text,
	address_postal_code text,
	address_phone_number text,
	shipping_carrier text,
	shipping_method text,
	line_item_uuid uuid,
	line_item_status crux.line_item_status,
	item_uuid uuid,
	item_name text,
	sku_uuid uuid,
	sku_id text,
	sku_name text,
	cost numeric,
	supplier_uuid uuid,
	supplier_name text,
	quantity_ordered integer,
	quantity_allocated integer,
	quantity_backordered integer,
	quantity_rejected integer,
	backorder_date date,
	tracking_numbers text
);

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

-- The order data, as the contract describes it. Retailers and suppliers.
CREATE TABLE crux.organizations (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL
);

ALTER TABLE ONLY crux.organizations FORCE ROW LEVEL SECURITY;

-- The people who place orders for a retailer.
CREATE TABLE crux.users (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    organization_uuid uuid NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    email text
);

ALTER TABLE ONLY crux.users FORCE ROW LEVEL SECURITY;

-- One order of a retailer; status is the order's own (free text).
CREATE TABLE crux.orders (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    retailer_uuid uuid NOT NULL,
    user_uuid uuid,
    status text DEFAULT 'New'::text NOT NULL,
    purchase_order_id text NOT NULL,
    created_date timestamp with time zone DEFAULT now() NOT NULL,
    notes text,
    estimated_shipping_cost numeric(12,2) DEFAULT 0 NOT NULL,
    drop_ship_fee numeric(12,2) DEFAULT 0 NOT NULL,
    order_fee numeric(12,2) DEFAULT 0 NOT NULL,
    address_name text,
    address_business_name text,
    address_address1 text,
    address_address2 text,
    address_city text,
    address_state text,
    address_postal_code text,
    address_phone_number text,
    shipping_carrier text,
    shipping_method text
);

ALTER TABLE ONLY crux.orders FORCE ROW LEVEL SECURITY;

-- A product line of an order, with its supplier status and allocation.
CREATE TABLE crux.line_items (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    order_uuid uuid NOT NULL,
    "position" integer DEFAULT 0 NOT NULL,
    item_uuid uuid,
    item_name text,
    sku_uuid uuid,
    sku_id text,
    sku_name text,
    cost numeric(12,2) DEFAULT 0 NOT NULL,
    supplier_uuid uuid,
    supplier_name text,
    status crux.line_item_status DEFAULT 'unallocated'::crux.line_item_status NOT NULL,
    quantity_ordered integer NOT NULL,
    quantity_allocated integer DEFAULT 0 NOT NULL,
    quantity_backordered integer DEFAULT 0 NOT NULL,
    quantity_rejected integer DEFAULT 0 NOT NULL,
    backorder_date date,
    CONSTRAINT line_items_quantity_allocated_check CHECK ((quantity_allocated >= 0)),
    CONSTRAINT line_items_quantity_backordered_check CHECK ((quantity_backordered >= 0)),
    CONSTRAINT line_items_quantity_ordered_check CHECK ((quantity_ordered > 0)),
    CONSTRAINT line_items_quantity_rejected_check CHECK ((quantity_rejected >= 0))
);

ALTER TABLE ONLY crux.line_items FORCE ROW LEVEL SECURITY;

-- The shipments of a line item.
CREATE TABLE crux.tracking_numbers (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    line_item_uuid uuid NOT NULL,
    tracking_number text NOT NULL,
    shipping_carrier text,
    shipping_method text,
    shipping_weight text,
    shipping_cost numeric(12,2),
    shipping_date timestamp with time zone,
    quantity integer
);

ALTER TABLE ONLY crux.tracking_numbers FORCE ROW LEVEL SECURITY;

-- Who acts for which organization: roles whose request.jwt.claims are trusted
-- (PostgREST's), and the organization (and user) of every other mapped role.
CREATE TABLE crux.claim_roles (
    role_name name NOT NULL
);

ALTER TABLE ONLY crux.claim_roles FORCE ROW LEVEL SECURITY;

CREATE TABLE crux.role_organizations (
    role_name name NOT NULL,
    organization_uuid uuid NOT NULL,
    user_uuid uuid
);

ALTER TABLE ONLY crux.role_organizations FORCE ROW LEVEL SECURITY;

-- Kept by the line-item triggers: one row per order with its status counts,
-- status mask and smallest sku_id, and its retailer, day, created_date and
-- status (kept by the orders' triggers), which the filters, sorts and pages read.
CREATE TABLE crux.order_summaries (
    order_uuid uuid NOT NULL,
    retailer_uuid uuid NOT NULL,
    created_day date NOT NULL,
    n_unallocated integer DEFAULT 0 NOT NULL,
    n_allocated integer DEFAULT 0 NOT NULL,
    n_rejected integer DEFAULT 0 NOT NULL,
    n_has_tracking integer DEFAULT 0 NOT NULL,
    n_backordered integer DEFAULT 0 NOT NULL,
    n_delivered integer DEFAULT 0 NOT NULL,
    n_cancelled integer DEFAULT 0 NOT NULL,
    min_sku_id text COLLATE pg_catalog."C",
    status_mask smallint GENERATED ALWAYS AS ((((((((
CASE
    WHEN (n_unallocated > 0) THEN 1
    ELSE 0
END +
CASE
    WHEN (n_allocated > 0) THEN 2
    ELSE 0
END) +
CASE
    WHEN (n_rejected > 0) THEN 4
    ELSE 0
END) +
CASE
    WHEN (n_has_tracking > 0) THEN 8
    ELSE 0
END) +
CASE
    WHEN (n_backordered > 0) THEN 16
    ELSE 0
END) +
CASE
    WHEN (n_delivered > 0) THEN 32
    ELSE 0
END) +
CASE
    WHEN (n_cancelled > 0) THEN 64
    ELSE 0
END))::smallint) STORED,
    created_date timestamp with time zone NOT NULL,
    status text COLLATE pg_catalog."C" NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_insert_scale_factor='0.02');

ALTER TABLE ONLY crux.order_summaries FORCE ROW LEVEL SECURITY;

-- Kept by the same triggers: how many orders each status mask has, per
-- retailer and month (order_counts) and over all retailers per day and month
-- (order_counts_all); total_results sums them.
CREATE TABLE crux.order_counts (
    retailer_uuid uuid NOT NULL,
    period date NOT NULL,
    counts bigint[] NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_insert_scale_factor='0.02');

ALTER TABLE ONLY crux.order_counts FORCE ROW LEVEL SECURITY;

CREATE TABLE crux.order_counts_all (
    period_kind "char" NOT NULL,
    period date NOT NULL,
    counts bigint[] NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_insert_scale_factor='0.02');

ALTER TABLE ONLY crux.order_counts_all FORCE ROW LEVEL SECURITY;

-- Kept by the line-item and order triggers for the SKUs of crux.tracked_skus:
-- each order once per tracked SKU its line items carry, with its retailer,
-- created_date and status mask (its summary's), which a term reads.
CREATE TABLE crux.sku_orders (
    sku_id text COLLATE pg_catalog."C" NOT NULL,
    retailer_uuid uuid NOT NULL,
    created_date timestamp with time zone NOT NULL,
    order_uuid uuid NOT NULL,
    status_mask smallint NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_insert_scale_factor='0.02');

ALTER TABLE ONLY crux.sku_orders FORCE ROW LEVEL SECURITY;

-- The SKUs crux.sku_orders holds: those crux.track_skus() found held by many
-- line items, or that a superuser added. Its triggers add a new SKU's rows to
-- crux.sku_orders and remove an untracked one's; pg_dump keeps it, so a restore
-- tracks the same SKUs.
CREATE TABLE crux.tracked_skus (
    sku_id text COLLATE pg_catalog."C" NOT NULL
);

ALTER TABLE ONLY crux.tracked_skus FORCE ROW LEVEL SECURITY;

-- One row per statement whose new orders' summaries wait in memory for their
-- line items (src/pending_summaries.c): its deferred trigger writes those still
-- waiting when the transaction commits, and deletes the row.
CREATE TABLE crux.pending_summaries (
);

ALTER TABLE ONLY crux.pending_summaries FORCE ROW LEVEL SECURITY;

-- The export jobs crux_export_orders queues and crux-export-worker runs.
CREATE TABLE crux.export_jobs (
    uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    request jsonb NOT NULL,
    fields text[],
    requested_by name NOT NULL,
    claims jsonb,
    organization_uuid uuid,
    user_uuid uuid,
    email text,
    status text DEFAULT 'queued'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    lease_until timestamp with time zone,
    worker text,
    row_count bigint,
    bytes bigint,
    file_path text,
    error text,
    CONSTRAINT export_jobs_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'done'::text, 'failed'::text, 'cancelled'::text, 'expired'::text])))
);

ALTER TABLE ONLY crux.export_jobs FORCE ROW LEVEL SECURITY;

ALTER TABLE ONLY crux.claim_roles
    ADD CONSTRAINT claim_roles_pkey PRIMARY KEY (role_name);
ALTER TABLE ONLY crux.export_jobs
    ADD CONSTRAINT export_jobs_pkey PRIMARY KEY (uuid);
ALTER TABLE ONLY crux.line_items
    ADD CONSTRAINT line_items_pkey PRIMARY KEY (uuid);
ALTER TABLE ONLY crux.order_summaries
    ADD CONSTRAINT order_summaries_pkey PRIMARY KEY (order_uuid);
ALTER TABLE ONLY crux.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (uuid);
ALTER TABLE ONLY crux.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (uuid);
ALTER TABLE ONLY crux.role_organizations
    ADD CONSTRAINT role_organizations_pkey PRIMARY KEY (role_name);
ALTER TABLE ONLY crux.sku_orders
    ADD CONSTRAINT sku_orders_pkey PRIMARY KEY (sku_id, retailer_uuid, created_date, order_uuid) INCLUDE (status_mask);
ALTER TABLE ONLY crux.tracking_numbers
    ADD CONSTRAINT tracking_numbers_pkey PRIMARY KEY (uuid);
ALTER TABLE ONLY crux.tracked_skus
    ADD CONSTRAINT tracked_skus_pkey PRIMARY KEY (sku_id);
ALTER TABLE ONLY crux.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (uuid);

ALTER TABLE ONLY crux.line_items
    ADD CONSTRAINT line_items_order_uuid_fkey FOREIGN KEY (order_uuid) REFERENCES crux.orders(uuid) ON DELETE CASCADE;
ALTER TABLE ONLY crux.orders
    ADD CONSTRAINT orders_retailer_uuid_fkey FOREIGN KEY (retailer_uuid) REFERENCES crux.organizations(uuid);
ALTER TABLE ONLY crux.orders
    ADD CONSTRAINT orders_user_uuid_fkey FOREIGN KEY (user_uuid) REFERENCES crux.users(uuid);
ALTER TABLE ONLY crux.role_organizations
    ADD CONSTRAINT role_organizations_organization_uuid_fkey FOREIGN KEY (organization_uuid) REFERENCES crux.organizations(uuid) ON DELETE CASCADE;
ALTER TABLE ONLY crux.role_organizations
    ADD CONSTRAINT role_organizations_user_uuid_fkey FOREIGN KEY (user_uuid) REFERENCES crux.users(uuid) ON DELETE SET NULL;
ALTER TABLE ONLY crux.tracking_numbers
    ADD CONSTRAINT tracking_numbers_line_item_uuid_fkey FOREIGN KEY (line_item_uuid) REFERENCES crux.line_items(uuid) ON DELETE CASCADE;
ALTER TABLE ONLY crux.users
    ADD CONSTRAINT users_organization_uuid_fkey FOREIGN KEY (organization_uuid) REFERENCES crux.organizations(uuid);

-- The tables that hold the user's rows go into pg_dump's output; the derived ones
-- are rebuilt by the triggers as those rows are restored.
SELECT pg_catalog.pg_extension_config_dump('crux.claim_roles', '');
SELECT pg_catalog.pg_extension_config_dump('crux.export_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('crux.line_items', '');
SELECT pg_catalog.pg_extension_config_dump('crux.orders', '');
SELECT pg_catalog.pg_extension_config_dump('crux.organizations', '');
SELECT pg_catalog.pg_extension_config_dump('crux.role_organizations', '');
SELECT pg_catalog.pg_extension_config_dump('crux.tracked_skus', '');
SELECT pg_catalog.pg_extension_config_dump('crux.tracking_numbers', '');
SELECT pg_catalog.pg_extension_config_dump('crux.users', '');

-- ---------------------------------------------------------------------------
-- Functions: the triggers that keep the summaries and counts, the counts'
-- arithmetic, tenancy, exports; then the API, in the schema CREATE EXTENSION names
-- ---------------------------------------------------------------------------

CREATE FUNCTION crux.acting_organization() RETURNS uuid
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'crux_acting_organization';

CREATE FUNCTION crux.add_order_counts(r uuid[], d date[], m smallint[], n bigint[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- Under REPEATABLE READ and SERIALIZABLE, locking a bucket row that another
        -- transaction folded would raise a serialization failure: only add.
        INSERT INTO crux.order_counts
        SELECT k.retailer_uuid, k.period, k.counts
          FROM (SELECT t.r AS retailer_uuid, date_trunc('month', t.d)::date AS period,
                       crux.mask_counts(t.m, t.n) AS counts
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)
                 GROUP BY 1, 2) k
         WHERE k.counts IS NOT NULL;
        INSERT INTO crux.order_counts_all
        SELECT k.period_kind, k.period, k.counts
          FROM (SELECT x.kind AS period_kind, x.p AS period, crux.mask_counts(x.m, x.n) AS counts
                  FROM (SELECT 'd'::"char" AS kind, t.d AS p, t.m, t.n
                          FROM unnest(d, m, n) AS t(d, m, n)
                        UNION ALL
                        SELECT 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                          FROM unnest(d, m, n) AS t(d, m, n)) x
                 GROUP BY 1, 2) k
         WHERE k.counts IS NOT NULL;
        RETURN;
    END IF;

    WITH k AS (
        SELECT g.retailer_uuid, g.period, g.counts
          FROM (SELECT t.r AS retailer_uuid, date_trunc('month', t.d)::date AS period,
                       crux.mask_counts(t.m, t.n) AS counts
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)
                 GROUP BY 1, 2) g
         WHERE g.counts IS NOT NULL
    ), folded AS (
        DELETE FROM crux.order_counts c
         WHERE c.ctid = ANY (ARRAY(
                   SELECT c2.ctid
                     FROM crux.order_counts c2
                     JOIN k ON (c2.retailer_uuid, c2.period) = (k.retailer_uuid, k.period)
                      FOR UPDATE OF c2 SKIP LOCKED))
        RETURNING c.retailer_uuid, c.period, c.counts
    )
    INSERT INTO crux.order_counts
    SELECT z.retailer_uuid, z.period, z.counts
      FROM (SELECT y.retailer_uuid, y.period, crux.mask_counts(y.counts) AS counts
              FROM (SELECT * FROM k UNION ALL SELECT * FROM folded) y
             GROUP BY 1, 2) z
     WHERE z.counts IS NOT NULL;

    WITH k AS (
        SELECT g.period_kind, g.period, g.counts
          FROM (SELECT x.kind AS period_kind, x.p AS period, crux.mask_counts(x.m, x.n) AS counts
                  FROM (SELECT 'd'::"char" AS kind, t.d AS p, t.m, t.n
                          FROM unnest(d, m, n) AS t(d, m, n)
                        UNION ALL
                        SELECT 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                          FROM unnest(d, m, n) AS t(d, m, n)) x
                 GROUP BY 1, 2) g
         WHERE g.counts IS NOT NULL
    ), folded AS (
        DELETE FROM crux.order_counts_all c
         WHERE c.ctid = ANY (ARRAY(
                   SELECT c2.ctid
                     FROM crux.order_counts_all c2
                     JOIN k ON (c2.period_kind, c2.period) = (k.period_kind, k.period)
                      FOR UPDATE OF c2 SKIP LOCKED))
        RETURNING c.period_kind, c.period, c.counts
    )
    INSERT INTO crux.order_counts_all
    SELECT z.period_kind, z.period, z.counts
      FROM (SELECT y.period_kind, y.period, crux.mask_counts(y.counts) AS counts
              FROM (SELECT * FROM k UNION ALL SELECT * FROM folded) y
             GROUP BY 1, 2) z
     WHERE z.counts IS NOT NULL;
END
$$;

CREATE FUNCTION crux.count_matching(bigint[], smallint, smallint) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_count_matching';

CREATE FUNCTION crux.export_csv(request jsonb, first bigint, count bigint, header boolean, formula_safe boolean DEFAULT true) RETURNS SETOF crux.export_csv_chunk
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_csv_1_8';

CREATE FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean DEFAULT true) RETURNS SETOF crux.export_csv_order
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_csv_orders_1_9';

CREATE FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) RETURNS record
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_export_merge_bounds_1_9';

CREATE FUNCTION crux.export_jobs_cancel_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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

CREATE FUNCTION crux.export_jobs_requester() RETURNS trigger
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

CREATE FUNCTION crux.export_order_count(jsonb) RETURNS bigint
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_order_count_1_8';

CREATE FUNCTION crux.export_order_uuids(jsonb) RETURNS SETOF uuid
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_order_uuids_1_8';

CREATE FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) RETURNS SETOF uuid
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_export_order_uuids_slice_1_8';

CREATE FUNCTION crux.export_rows(jsonb, bigint, bigint) RETURNS SETOF crux.export_row
    LANGUAGE sql STABLE
    AS $_$
    SELECT o.uuid, o.status,
           -- is_allocated (line items, none unallocated) from the order's own rows:
           -- no probe of its summary
           (pg_catalog.count(li.uuid) OVER w OPERATOR(pg_catalog.>) 0
            AND NOT pg_catalog.bool_or(li.status OPERATOR(pg_catalog.=) 'unallocated') OVER w),
           o.purchase_order_id, o.created_date, o.notes, o.estimated_shipping_cost,
           o.drop_ship_fee, o.order_fee, r.name, o.retailer_uuid, u.name, u.email,
           o.address_name, o.address_business_name, o.address_address1,
           o.address_address2, o.address_city, o.address_state, o.address_postal_code,
           o.address_phone_number, o.shipping_carrier, o.shipping_method,
           li.uuid, li.status, li.item_uuid, li.item_name, li.sku_uuid, li.sku_id,
           li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,
           li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,
           li.quantity_rejected, li.backorder_date,
           -- a slice of $3 orders asks for at least $3 line items' tracking numbers
           crux.line_item_tracking(li.uuid, $3)
      FROM crux.export_order_uuids($1, $2, $3) WITH ORDINALITY AS p(uuid, n)
      JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
    WINDOW w AS (PARTITION BY p.n)
     ORDER BY p.n, li.position, li.uuid
$_$;

CREATE FUNCTION crux.line_item_in_page(uuid) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_line_item_in_page';

CREATE FUNCTION crux.tracked_skus_now() RETURNS text[]
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crux_tracked_skus_now';

CREATE FUNCTION crux.line_item_tracking(line_item uuid, expected_calls bigint DEFAULT NULL::bigint) RETURNS text
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'crux_line_item_tracking';

CREATE FUNCTION crux.line_items_summarize() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    touched uuid[];
    old_uuid uuid[];
    old_mask smallint[];
    r uuid[];
    d date[];
    m smallint[];
    n bigint[];
    bulk boolean;
    nestloop text;
    tracked text[];
    n_orders bigint;
    taken uuid[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Dynamic SQL, planned for each statement's size: a bulk insert (many
        -- orders) updates their summaries through a hash join, in page order,
        -- instead of one index probe per order in random order.
        bulk := (SELECT count(*) > 10000 FROM (SELECT FROM new_rows LIMIT 10001) b);
        IF bulk THEN
            nestloop := current_setting('enable_nestloop');
            PERFORM set_config('enable_nestloop', 'off', true);
        END IF;
        -- the orders whose summaries this transaction holds back get them now,
        -- written once with these line items' counts, and are counted with their
        -- masks (src/pending_summaries.c); the line items are read once
        IF crux.pending_summaries_held() THEN
            EXECUTE $sql$
            WITH li AS MATERIALIZED (
                SELECT x.order_uuid,
                       count(*) FILTER (WHERE x.status = 'unallocated')::int AS n_unallocated,
                       count(*) FILTER (WHERE x.status = 'allocated')::int AS n_allocated,
                       count(*) FILTER (WHERE x.status = 'rejected')::int AS n_rejected,
                       count(*) FILTER (WHERE x.status = 'has_tracking')::int AS n_has_tracking,
                       count(*) FILTER (WHERE x.status = 'backordered')::int AS n_backordered,
                       count(*) FILTER (WHERE x.status = 'delivered')::int AS n_delivered,
                       count(*) FILTER (WHERE x.status = 'cancelled')::int AS n_cancelled,
                       min(x.sku_id COLLATE "C") AS min_sku_id
                  FROM new_rows x
                 GROUP BY x.order_uuid
            ), taken AS MATERIALIZED (
                SELECT t.order_uuid, t.retailer_uuid, t.created_date, t.status
                  FROM crux.take_pending_summaries(ARRAY(SELECT l.order_uuid FROM li l)) t
            ), added AS (
                INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_date,
                                                  created_day, n_unallocated, n_allocated,
                                                  n_rejected, n_has_tracking, n_backordered,
                                                  n_delivered, n_cancelled, min_sku_id, status)
                SELECT t.order_uuid, t.retailer_uuid, t.created_date,
                       (t.created_date AT TIME ZONE 'UTC')::date,
                       l.n_unallocated, l.n_allocated, l.n_rejected, l.n_has_tracking,
                       l.n_backordered, l.n_delivered, l.n_cancelled, l.min_sku_id, t.status
                  FROM taken t JOIN li l ON l.order_uuid = t.order_uuid
                 ORDER BY t.order_uuid
                RETURNING retailer_uuid, created_day, status_mask
            ), moves AS (
                SELECT a.retailer_uuid, a.created_day, a.status_mask AS mask, count(*) AS n
                  FROM added a GROUP BY 1, 2, 3
            )
            SELECT array_agg(v.retailer_uuid), array_agg(v.created_day), array_agg(v.mask),
                   array_agg(v.n), (SELECT array_agg(t.order_uuid) FROM taken t),
                   (SELECT count(*) FROM li)
              FROM moves v
            $sql$ INTO r, d, m, n, taken, n_orders;
            taken := coalesce(taken, '{}');
            IF r IS NOT NULL THEN
                PERFORM crux.add_order_counts(r, d, m, n);
            END IF;
        END IF;
        -- the others' summaries are updated
        IF n_orders IS NULL OR cardinality(taken) < n_orders THEN
            EXECUTE $sql$
            WITH delta AS (
                SELECT x.order_uuid,
                       count(*) FILTER (WHERE x.status = 'unallocated')::int AS n_unallocated,
                       count(*) FILTER (WHERE x.status = 'allocated')::int AS n_allocated,
                       count(*) FILTER (WHERE x.status = 'rejected')::int AS n_rejected,
                       count(*) FILTER (WHERE x.status = 'has_tracking')::int AS n_has_tracking,
                       count(*) FILTER (WHERE x.status = 'backordered')::int AS n_backordered,
                       count(*) FILTER (WHERE x.status = 'delivered')::int AS n_delivered,
                       count(*) FILTER (WHERE x.status = 'cancelled')::int AS n_cancelled,
                       min(x.sku_id COLLATE "C") AS min_sku_id
                  FROM new_rows x
                 WHERE x.order_uuid <> ALL ($1)
                 GROUP BY x.order_uuid
            ), changed AS (
                UPDATE crux.order_summaries s
                   SET n_unallocated = s.n_unallocated + delta.n_unallocated,
                       n_allocated = s.n_allocated + delta.n_allocated,
                       n_rejected = s.n_rejected + delta.n_rejected,
                       n_has_tracking = s.n_has_tracking + delta.n_has_tracking,
                       n_backordered = s.n_backordered + delta.n_backordered,
                       n_delivered = s.n_delivered + delta.n_delivered,
                       n_cancelled = s.n_cancelled + delta.n_cancelled,
                       min_sku_id = CASE WHEN s.min_sku_id IS NULL THEN delta.min_sku_id
                                         WHEN delta.min_sku_id IS NULL THEN s.min_sku_id
                                         ELSE least(s.min_sku_id, delta.min_sku_id) END
                  FROM delta
                 WHERE s.order_uuid = delta.order_uuid
                RETURNING s.retailer_uuid, s.created_day, s.status_mask AS new_mask,
                          crux.status_mask_of(
                              s.n_unallocated - delta.n_unallocated,
                              s.n_allocated - delta.n_allocated,
                              s.n_rejected - delta.n_rejected,
                              s.n_has_tracking - delta.n_has_tracking,
                              s.n_backordered - delta.n_backordered,
                              s.n_delivered - delta.n_delivered,
                              s.n_cancelled - delta.n_cancelled) AS old_mask
            ), moves AS (
                SELECT c.retailer_uuid, c.created_day, c.new_mask AS mask, count(*) AS n
                  FROM changed c WHERE c.new_mask <> c.old_mask GROUP BY 1, 2, 3
                UNION ALL
                SELECT c.retailer_uuid, c.created_day, c.old_mask, -count(*)
                  FROM changed c WHERE c.new_mask <> c.old_mask GROUP BY 1, 2, 3
            )
            SELECT array_agg(v.retailer_uuid), array_agg(v.created_day), array_agg(v.mask),
                   array_agg(v.n)
              FROM moves v
            $sql$ INTO r, d, m, n USING taken;
            IF r IS NOT NULL THEN
                PERFORM crux.add_order_counts(r, d, m, n);
            END IF;
        END IF;
        IF bulk THEN
            PERFORM set_config('enable_nestloop', nestloop, true);
        END IF;
        -- the tracked SKUs' orders (crux.tracked_skus_now: see src/skus.c)
        tracked := crux.tracked_skus_now();
        IF cardinality(tracked) > 0 THEN
            UPDATE crux.sku_orders k SET status_mask = s.status_mask
              FROM (SELECT DISTINCT x.order_uuid FROM new_rows x) g
              JOIN crux.order_summaries s ON s.order_uuid = g.order_uuid
             WHERE k.order_uuid = g.order_uuid AND k.status_mask <> s.status_mask;
            INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                         status_mask)
            SELECT x.sku_id, s.retailer_uuid, s.created_date, x.order_uuid, s.status_mask
              FROM new_rows x
              JOIN unnest(tracked) t(sku_id) ON t.sku_id = x.sku_id
              JOIN crux.order_summaries s ON s.order_uuid = x.order_uuid
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        touched := ARRAY(SELECT order_uuid FROM old_rows
                         UNION SELECT order_uuid FROM new_rows);
    ELSE
        touched := ARRAY(SELECT DISTINCT order_uuid FROM old_rows);
    END IF;
    -- those of their summaries this transaction holds back come first (a line item
    -- moved to such an order; src/pending_summaries.c)
    PERFORM crux.write_pending_summaries(touched);

    -- lock the touched summaries in uuid order, and note their masks before
    SELECT array_agg(l.order_uuid), array_agg(l.status_mask) INTO old_uuid, old_mask
      FROM (SELECT s.order_uuid, s.status_mask FROM crux.order_summaries s
             WHERE s.order_uuid = ANY (touched)
             ORDER BY s.order_uuid
               FOR NO KEY UPDATE) l;

    WITH changed AS (
        UPDATE crux.order_summaries s
           SET (n_unallocated, n_allocated, n_rejected, n_has_tracking,
                n_backordered, n_delivered, n_cancelled, min_sku_id) =
               (SELECT count(*) FILTER (WHERE li.status = 'unallocated'),
                       count(*) FILTER (WHERE li.status = 'allocated'),
                       count(*) FILTER (WHERE li.status = 'rejected'),
                       count(*) FILTER (WHERE li.status = 'has_tracking'),
                       count(*) FILTER (WHERE li.status = 'backordered'),
                       count(*) FILTER (WHERE li.status = 'delivered'),
                       count(*) FILTER (WHERE li.status = 'cancelled'),
                       min(li.sku_id COLLATE "C")
                  FROM crux.line_items li
                 WHERE li.order_uuid = s.order_uuid)
         WHERE s.order_uuid = ANY (old_uuid)
        RETURNING s.order_uuid, s.retailer_uuid, s.created_day, s.status_mask AS new_mask
    ), moves AS (
        SELECT c.retailer_uuid, c.created_day, v.mask, sum(v.n)::bigint AS n
          FROM changed c
          JOIN unnest(old_uuid, old_mask) AS b(uuid, mask) ON b.uuid = c.order_uuid,
               LATERAL (VALUES (c.new_mask, 1), (b.mask, -1)) AS v(mask, n)
         WHERE c.new_mask <> b.mask
         GROUP BY 1, 2, 3
    )
    SELECT array_agg(v.retailer_uuid), array_agg(v.created_day), array_agg(v.mask),
           array_agg(v.n)
      INTO r, d, m, n
      FROM moves v WHERE v.n <> 0;
    IF r IS NOT NULL THEN
        PERFORM crux.add_order_counts(r, d, m, n);
    END IF;

    -- the tracked SKUs' orders: their status masks follow the summaries; the pairs
    -- of order and SKU that no line item holds any more go, new pairs come (a change
    -- of status alone changes no pair)
    tracked := crux.tracked_skus_now();
    IF cardinality(tracked) = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE crux.sku_orders k SET status_mask = s.status_mask
      FROM crux.order_summaries s
     WHERE s.order_uuid = ANY (old_uuid) AND k.order_uuid = s.order_uuid
       AND k.status_mask <> s.status_mask;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                     status_mask)
        SELECT g.sku_id, s.retailer_uuid, s.created_date, g.order_uuid, s.status_mask
          FROM (SELECT y.order_uuid, y.sku_id FROM new_rows y
                EXCEPT SELECT x.order_uuid, x.sku_id FROM old_rows x) g
          JOIN unnest(tracked) t(sku_id) ON t.sku_id = g.sku_id
          JOIN crux.order_summaries s ON s.order_uuid = g.order_uuid
        ON CONFLICT DO NOTHING;
        DELETE FROM crux.sku_orders k
         USING (SELECT x.order_uuid, x.sku_id FROM old_rows x
                EXCEPT SELECT y.order_uuid, y.sku_id FROM new_rows y) g
         WHERE k.order_uuid = g.order_uuid AND k.sku_id = g.sku_id
           AND NOT EXISTS (SELECT FROM crux.line_items li
                            WHERE li.order_uuid = g.order_uuid AND li.sku_id = g.sku_id);
        RETURN NULL;
    END IF;
    -- found by their order: an order deleted with its line items has lost its
    -- summary already (the cascade's statement triggers fire after the order's)
    DELETE FROM crux.sku_orders k
     USING (SELECT DISTINCT x.order_uuid, x.sku_id FROM old_rows x) g
     WHERE k.order_uuid = g.order_uuid AND k.sku_id = g.sku_id
       AND NOT EXISTS (SELECT FROM crux.line_items li
                        WHERE li.order_uuid = g.order_uuid AND li.sku_id = g.sku_id);
    RETURN NULL;
END
$_$;

CREATE FUNCTION crux.line_items_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    UPDATE crux.order_summaries
       SET n_unallocated = 0, n_allocated = 0, n_rejected = 0, n_has_tracking = 0,
           n_backordered = 0, n_delivered = 0, n_cancelled = 0, min_sku_id = NULL
     WHERE status_mask <> 0 OR min_sku_id IS NOT NULL;
    TRUNCATE crux.sku_orders;
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;

CREATE FUNCTION crux.mask_counts_add(internal, smallint, bigint) RETURNS internal
    LANGUAGE c PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_mask_counts_add';

CREATE FUNCTION crux.mask_counts_final(internal) RETURNS bigint[]
    LANGUAGE c PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_mask_counts_final';

CREATE FUNCTION crux.mask_counts_merge(internal, bigint[]) RETURNS internal
    LANGUAGE c PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_mask_counts_merge';

CREATE AGGREGATE crux.mask_counts(bigint[]) (
    SFUNC = crux.mask_counts_merge,
    STYPE = internal,
    FINALFUNC = crux.mask_counts_final
);

CREATE AGGREGATE crux.mask_counts(smallint, bigint) (
    SFUNC = crux.mask_counts_add,
    STYPE = internal,
    FINALFUNC = crux.mask_counts_final
);

CREATE FUNCTION crux.orders_hold_summaries() RETURNS trigger
    LANGUAGE c SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_orders_hold_summaries_1_15';

CREATE FUNCTION crux.order_in_page(uuid) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_order_in_page';

-- Statement trigger: the summaries of the orders whose status the statement
-- changed take it, locked in uuid order as the line-item triggers lock them (an
-- order moved to another uuid is followed by crux.orders_count, with its status).
CREATE FUNCTION crux.orders_copy_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    changed uuid[];
BEGIN
    changed := ARRAY(SELECT n.uuid FROM new_rows n JOIN old_rows o ON o.uuid = n.uuid
                      WHERE n.status IS DISTINCT FROM o.status ORDER BY n.uuid);
    IF cardinality(changed) = 0 THEN
        RETURN NULL;
    END IF;
    -- those this transaction holds back first (src/pending_summaries.c)
    PERFORM crux.write_pending_summaries(changed);
    PERFORM FROM crux.order_summaries s WHERE s.order_uuid = ANY (changed)
     ORDER BY s.order_uuid FOR NO KEY UPDATE;
    UPDATE crux.order_summaries s SET status = n.status
      FROM new_rows n
     WHERE n.uuid = s.order_uuid AND s.order_uuid = ANY (changed);
    RETURN NULL;
END
$$;

CREATE FUNCTION crux.orders_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    r uuid[];
    d date[];
    m smallint[];
    n bigint[];
    mask smallint;
BEGIN
    IF TG_LEVEL = 'ROW' THEN            -- UPDATE OF uuid, retailer_uuid, created_date
        -- its summary, if this transaction holds it back, first (src/pending_summaries.c)
        PERFORM crux.write_pending_summaries(ARRAY[OLD.uuid]);
        -- the summary row lock orders this with the line-item triggers
        UPDATE crux.order_summaries s
           SET order_uuid = NEW.uuid, retailer_uuid = NEW.retailer_uuid,
               created_date = NEW.created_date,
               created_day = (NEW.created_date AT TIME ZONE 'UTC')::date,
               status = NEW.status
         WHERE s.order_uuid = OLD.uuid
        RETURNING s.status_mask INTO mask;
        -- the order's rows of the tracked SKUs follow it (tracked_skus_now: a
        -- REPEATABLE READ mover that cannot see them fails, see src/skus.c)
        PERFORM crux.tracked_skus_now();
        UPDATE crux.sku_orders k
           SET retailer_uuid = NEW.retailer_uuid, created_date = NEW.created_date,
               order_uuid = NEW.uuid
         WHERE k.order_uuid = OLD.uuid;
        PERFORM crux.add_order_counts(
            ARRAY[OLD.retailer_uuid, NEW.retailer_uuid],
            ARRAY[(OLD.created_date AT TIME ZONE 'UTC')::date,
                  (NEW.created_date AT TIME ZONE 'UTC')::date],
            ARRAY[mask, mask],
            ARRAY[-1, 1]::bigint[]);    -- the same mask, another bucket
        RETURN NULL;
    END IF;
    -- DELETE (new orders are counted by crux.orders_hold_summaries, when their
    -- summaries are written): the masks as they are now (the line items' cascaded
    -- deletes may have emptied them already), those this transaction holds back
    -- written first
    IF TG_OP <> 'DELETE' THEN
        RAISE EXCEPTION 'function crux.orders_count() called in a context it was not declared for'
            USING ERRCODE = 'trigger_protocol_violated',
                  DETAIL = 'It runs for a moved order and for deleted orders.';
    END IF;
    PERFORM crux.write_pending_summaries(ARRAY(SELECT x.uuid FROM old_rows x));
    WITH gone AS (
        DELETE FROM crux.order_summaries s
         USING old_rows x
         WHERE s.order_uuid = x.uuid
        RETURNING s.retailer_uuid, s.created_day, s.status_mask
    )
    SELECT array_agg(g.retailer_uuid), array_agg(g.created_day),
           array_agg(g.status_mask), array_agg(g.n)
      INTO r, d, m, n
      FROM (SELECT x.retailer_uuid, x.created_day, x.status_mask, -count(*) AS n
              FROM gone x GROUP BY 1, 2, 3) g;
    IF r IS NOT NULL THEN
        PERFORM crux.add_order_counts(r, d, m, n);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION crux.orders_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM crux.write_pending_summaries();     -- then truncated with the rest
    TRUNCATE crux.order_summaries, crux.sku_orders;
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;

CREATE FUNCTION crux.pending_summaries_at_commit() RETURNS trigger
    LANGUAGE c SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_pending_summaries_at_commit';

CREATE FUNCTION crux.pending_summaries_held() RETURNS boolean
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crux_pending_summaries_held';

CREATE FUNCTION crux.recount_order_counts() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    wrong bigint;
    wrong_all bigint;
BEGIN
    PERFORM crux.write_pending_summaries();
    LOCK TABLE crux.order_counts, crux.order_counts_all IN EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT o.retailer_uuid, date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date AS period,
               crux.mask_counts(coalesce(s.status_mask, 0::smallint), 1::bigint) AS counts
          FROM crux.orders o LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid
         GROUP BY 1, 2
    ), kept AS (
        SELECT c.retailer_uuid, c.period, crux.mask_counts(c.counts) AS counts
          FROM crux.order_counts c GROUP BY 1, 2
    )
    SELECT count(*) INTO wrong
      FROM fresh f FULL JOIN kept k
        ON (f.retailer_uuid, f.period) = (k.retailer_uuid, k.period)
     WHERE f.counts IS DISTINCT FROM k.counts;
    WITH fresh AS (
        SELECT k.kind AS period_kind, k.period,
               crux.mask_counts(coalesce(s.status_mask, 0::smallint), 1::bigint) AS counts
          FROM crux.orders o LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid,
               LATERAL (VALUES ('d'::"char", (o.created_date AT TIME ZONE 'UTC')::date),
                               ('m'::"char", date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date))
                   AS k(kind, period)
         GROUP BY 1, 2
    ), kept AS (
        SELECT c.period_kind, c.period, crux.mask_counts(c.counts) AS counts
          FROM crux.order_counts_all c GROUP BY 1, 2
    )
    SELECT count(*) INTO wrong_all
      FROM fresh f FULL JOIN kept k
        ON (f.period_kind, f.period) = (k.period_kind, k.period)
     WHERE f.counts IS DISTINCT FROM k.counts;

    DELETE FROM crux.order_counts;
    INSERT INTO crux.order_counts
    SELECT o.retailer_uuid, date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date,
           crux.mask_counts(coalesce(s.status_mask, 0::smallint), 1::bigint)
      FROM crux.orders o LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid
     GROUP BY 1, 2;
    DELETE FROM crux.order_counts_all;
    INSERT INTO crux.order_counts_all
    SELECT k.kind, k.period, crux.mask_counts(coalesce(s.status_mask, 0::smallint), 1::bigint)
      FROM crux.orders o LEFT JOIN crux.order_summaries s ON s.order_uuid = o.uuid,
           LATERAL (VALUES ('d'::"char", (o.created_date AT TIME ZONE 'UTC')::date),
                           ('m'::"char", date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date))
               AS k(kind, period)
     GROUP BY 1, 2;
    RETURN wrong + wrong_all;
END
$$;

CREATE FUNCTION crux.recount_summaries() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    wrong bigint;
BEGIN
    PERFORM crux.write_pending_summaries();
    LOCK TABLE crux.order_summaries IN SHARE ROW EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT o.uuid, o.retailer_uuid, o.created_date,
               (o.created_date AT TIME ZONE 'UTC')::date AS created_day, o.status,
               count(li.uuid) FILTER (WHERE li.status = 'unallocated')::int AS n_unallocated,
               count(li.uuid) FILTER (WHERE li.status = 'allocated')::int AS n_allocated,
               count(li.uuid) FILTER (WHERE li.status = 'rejected')::int AS n_rejected,
               count(li.uuid) FILTER (WHERE li.status = 'has_tracking')::int AS n_has_tracking,
               count(li.uuid) FILTER (WHERE li.status = 'backordered')::int AS n_backordered,
               count(li.uuid) FILTER (WHERE li.status = 'delivered')::int AS n_delivered,
               count(li.uuid) FILTER (WHERE li.status = 'cancelled')::int AS n_cancelled,
               min(li.sku_id COLLATE "C") AS min_sku_id
          FROM crux.orders o LEFT JOIN crux.line_items li ON li.order_uuid = o.uuid
         GROUP BY o.uuid
    ), fixed AS (
        UPDATE crux.order_summaries s
           SET retailer_uuid = f.retailer_uuid, created_date = f.created_date,
               created_day = f.created_day,
               n_unallocated = f.n_unallocated, n_allocated = f.n_allocated,
               n_rejected = f.n_rejected, n_has_tracking = f.n_has_tracking,
               n_backordered = f.n_backordered, n_delivered = f.n_delivered,
               n_cancelled = f.n_cancelled, min_sku_id = f.min_sku_id, status = f.status
          FROM fresh f
         WHERE s.order_uuid = f.uuid
           AND (s.retailer_uuid, s.created_date, s.created_day, s.n_unallocated, s.n_allocated,
                s.n_rejected, s.n_has_tracking, s.n_backordered, s.n_delivered,
                s.n_cancelled, s.min_sku_id, s.status)
               IS DISTINCT FROM
               (f.retailer_uuid, f.created_date, f.created_day, f.n_unallocated, f.n_allocated,
                f.n_rejected, f.n_has_tracking, f.n_backordered, f.n_delivered,
                f.n_cancelled, f.min_sku_id, f.status)
        RETURNING 1
    ), added AS (
        INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_date, created_day,
                                          n_unallocated, n_allocated, n_rejected,
                                          n_has_tracking, n_backordered, n_delivered,
                                          n_cancelled, min_sku_id, status)
        SELECT f.uuid, f.retailer_uuid, f.created_date, f.created_day, f.n_unallocated, f.n_allocated,
               f.n_rejected, f.n_has_tracking, f.n_backordered, f.n_delivered,
               f.n_cancelled, f.min_sku_id, f.status
          FROM fresh f
         WHERE NOT EXISTS (SELECT FROM crux.order_summaries s WHERE s.order_uuid = f.uuid)
        RETURNING 1
    ), removed AS (
        DELETE FROM crux.order_summaries s
         WHERE NOT EXISTS (SELECT FROM crux.orders o WHERE o.uuid = s.order_uuid)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM fixed) + (SELECT count(*) FROM added)
           + (SELECT count(*) FROM removed)
      INTO wrong;
    -- the tracked SKUs' orders: their rows, then their status masks
    LOCK TABLE crux.sku_orders IN SHARE ROW EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT DISTINCT t.sku_id, s.retailer_uuid, s.created_date, li.order_uuid, s.status_mask
          FROM crux.tracked_skus t
          JOIN crux.line_items li ON li.sku_id = t.sku_id
          JOIN crux.order_summaries s ON s.order_uuid = li.order_uuid
    ), removed AS (
        DELETE FROM crux.sku_orders k
         WHERE NOT EXISTS (SELECT FROM fresh f
                            WHERE (f.sku_id, f.retailer_uuid, f.created_date, f.order_uuid)
                                  = (k.sku_id, k.retailer_uuid, k.created_date, k.order_uuid))
        RETURNING 1
    ), added AS (
        INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                     status_mask)
        SELECT f.sku_id, f.retailer_uuid, f.created_date, f.order_uuid, f.status_mask
          FROM fresh f
         WHERE NOT EXISTS (SELECT FROM crux.sku_orders k
                            WHERE (k.sku_id, k.retailer_uuid, k.created_date, k.order_uuid)
                                  = (f.sku_id, f.retailer_uuid, f.created_date, f.order_uuid))
        RETURNING 1
    )
    SELECT wrong + (SELECT count(*) FROM removed) + (SELECT count(*) FROM added)
      INTO wrong;
    WITH fixed AS (
        UPDATE crux.sku_orders k SET status_mask = s.status_mask
          FROM crux.order_summaries s
         WHERE s.order_uuid = k.order_uuid AND k.status_mask <> s.status_mask
        RETURNING 1
    )
    SELECT wrong + count(*) INTO wrong FROM fixed;
    RETURN wrong + crux.recount_order_counts();
END
$$;

CREATE FUNCTION crux.track_skus(min_line_items bigint DEFAULT 500) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    added bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'crux.track_skus() must run in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'It reads the line items committed after it has locked them.',
                  HINT = 'Run it on its own, outside a REPEATABLE READ or SERIALIZABLE transaction.';
    END IF;
    IF min_line_items IS NULL OR min_line_items < 1 THEN
        RAISE EXCEPTION 'invalid min_line_items: %', min_line_items
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a number of line items of at least 1.';
    END IF;
    -- writers wait while the SKUs are counted and their orders added (by the
    -- trigger on crux.tracked_skus)
    PERFORM crux.lock_orders_and_line_items();
    WITH popular AS (
        INSERT INTO crux.tracked_skus (sku_id)
        SELECT li.sku_id FROM crux.line_items li
         WHERE li.sku_id IS NOT NULL
         GROUP BY li.sku_id
        HAVING count(*) >= min_line_items
        ON CONFLICT DO NOTHING
        RETURNING sku_id
    )
    SELECT count(*) INTO added FROM popular;
    RETURN added;
END
$$;

-- Blocks writes to orders and line items until the transaction ends: SHARE locks
-- on both, in attempts that wait at most a quarter of deadlock_timeout (250 ms at
-- most) for each lock, in a subtransaction. A writer that holds line items and
-- waits for orders deadlocks with an attempt; the attempt gives its locks back
-- before the writer looks for a deadlock (after deadlock_timeout, more than twice
-- as long as the attempt: a writer queued behind the attempt started waiting at
-- most one wait before it got the first lock), the writer goes on, and the next
-- attempt waits for it. It gives up after 200 attempts.
CREATE FUNCTION crux.lock_orders_and_line_items() RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    wait_ms bigint;
    previous text := current_setting('lock_timeout');
BEGIN
    SELECT greatest(1, least(250, s.setting::bigint / 4)) INTO wait_ms
      FROM pg_settings s WHERE s.name = 'deadlock_timeout';
    FOR attempt IN 1 .. 200 LOOP
        BEGIN
            PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
            LOCK TABLE crux.orders, crux.line_items IN SHARE MODE;
            PERFORM set_config('lock_timeout', previous, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            NULL;   -- the locks and the setting rolled back with the attempt
        END;
    END LOOP;
    RAISE EXCEPTION 'could not lock crux.orders and crux.line_items to change the tracked SKUs'
        USING ERRCODE = 'lock_not_available',
              DETAIL = format('Writers held them through 200 attempts of up to %s ms per lock.', wait_ms),
              HINT = 'Try again when fewer or shorter writes run.';
END
$$;

-- Keeps crux.sku_orders to crux.tracked_skus: an untracked SKU's rows go, a newly
-- tracked SKU's orders come from its line items. Writers of orders and line items
-- wait meanwhile (crux.lock_orders_and_line_items), and in READ COMMITTED only
-- each statement reads what they committed before.
CREATE FUNCTION crux.take_pending_summaries(orders uuid[], OUT order_uuid uuid, OUT retailer_uuid uuid, OUT created_date timestamp with time zone, OUT status text) RETURNS SETOF record
    LANGUAGE c ROWS 1000
    AS 'MODULE_PATHNAME', 'crux_take_pending_summaries';

CREATE FUNCTION crux.tracked_skus_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'cannot truncate crux.tracked_skus'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Truncating it would leave its SKUs'' rows in crux.sku_orders behind.',
                  HINT = 'Use DELETE FROM crux.tracked_skus to untrack SKUs.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT FROM old_rows) THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'crux.tracked_skus can only change in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'The orders of its SKUs are read from the line items once writers are locked out, which an older snapshot would not see.',
                  HINT = 'Change it on its own, outside a REPEATABLE READ or SERIALIZABLE transaction.';
    END IF;
    PERFORM crux.lock_orders_and_line_items();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM crux.sku_orders k USING old_rows o WHERE k.sku_id = o.sku_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        -- rows a SKU untracked by hand before 1.13 left behind go first
        DELETE FROM crux.sku_orders k USING new_rows t WHERE k.sku_id = t.sku_id;
        INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                     status_mask)
        SELECT DISTINCT t.sku_id, s.retailer_uuid, s.created_date, li.order_uuid, s.status_mask
          FROM new_rows t
          JOIN crux.line_items li ON li.sku_id = t.sku_id
          JOIN crux.order_summaries s ON s.order_uuid = li.order_uuid;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION crux.write_pending_summaries() RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_write_pending_summaries';

CREATE FUNCTION crux.write_pending_summaries(orders uuid[]) RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_write_pending_summaries';

CREATE FUNCTION crux.status_mask_of(integer, integer, integer, integer, integer, integer, integer) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    SELECT (CASE WHEN $1 OPERATOR(pg_catalog.>) 0 THEN 1 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $2 OPERATOR(pg_catalog.>) 0 THEN 2 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $3 OPERATOR(pg_catalog.>) 0 THEN 4 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $4 OPERATOR(pg_catalog.>) 0 THEN 8 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $5 OPERATOR(pg_catalog.>) 0 THEN 16 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $6 OPERATOR(pg_catalog.>) 0 THEN 32 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $7 OPERATOR(pg_catalog.>) 0 THEN 64 ELSE 0 END
           )::smallint
$_$;

CREATE FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
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
COMMENT ON FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) IS 'Cancel a queued or running export, by its uuid (export_uuid).
Response: the export as crux_get_export(uuid) returns it.';

CREATE FUNCTION @extschema@.crux_export_orders(jsonb) RETURNS jsonb
    LANGUAGE c
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS 'MODULE_PATHNAME', 'crux_export_orders';
COMMENT ON FUNCTION @extschema@.crux_export_orders(jsonb) IS 'Queue an export of the selection as a CSV file emailed to the requester.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), no cap), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids), fields (the CSV columns, in order).
Response: {"uuid": the export}; crux_get_export(uuid) follows it.';

CREATE FUNCTION @extschema@.crux_export_rows(jsonb) RETURNS SETOF crux.export_row
    LANGUAGE sql STABLE
    AS $_$
    SELECT * FROM crux.export_rows($1, 0, NULL)
$_$;
COMMENT ON FUNCTION @extschema@.crux_export_rows(jsonb) IS 'The rows an export of this request holds, one per line item (for \copy).
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), no cap), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids), fields (the CSV columns, in order).';

CREATE FUNCTION @extschema@.crux_get_export(uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'uuid', j.uuid, 'status', j.status,
               'created_at', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'started_at', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'finished_at', to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'row_count', j.row_count, 'error', j.error)
      FROM crux.export_jobs j WHERE j.uuid = $1);
END
$_$;
COMMENT ON FUNCTION @extschema@.crux_get_export(uuid) IS 'An export you may see, by its uuid (export_uuid).
Response: {"uuid", "status": queued | running | done | failed | cancelled | expired, "created_at", "started_at", "finished_at", "row_count", "error"}, or null.';

CREATE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
    LANGUAGE c STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS 'MODULE_PATHNAME', 'crux_get_orders_1_8';
COMMENT ON FUNCTION @extschema@.crux_get_orders(jsonb) IS 'Get Orders: filter, sort and page orders.
Request keys, all optional: start, limit (the page is the sorted orders [start, limit), at most crux_orders.max_page_size), sort ({"key": date | status | sku_id | uuid, "dir": asc | desc}), line_item_status (alias line_item_statuses: unallocated, allocated, rejected, has_tracking, backordered, delivered, cancelled), status_conjunction (alias line_item_status_conjunction: or | and | only), start_date, end_date (ISO 8601; created_date in [start_date, end_date)), term (an order uuid, a purchase_order_id or a sku_id), org_uuids (organization uuids).
Response: {"total_results": every matching order, "orders": [the page]}.';

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

-- ---------------------------------------------------------------------------
-- Indexes: the keys, and the walks of the pages and counts (README: Indexes for
-- the pages)
-- ---------------------------------------------------------------------------

CREATE INDEX export_jobs_organization_idx ON crux.export_jobs USING btree (organization_uuid, created_at);
CREATE INDEX export_jobs_queued_idx ON crux.export_jobs USING btree (created_at) WHERE (status = ANY (ARRAY['queued'::text, 'running'::text]));
CREATE INDEX line_items_order_idx ON crux.line_items USING btree (order_uuid, "position", uuid);
CREATE INDEX line_items_sku_id_idx ON crux.line_items USING btree (sku_id) INCLUDE (order_uuid);
CREATE INDEX order_counts_all_bucket_idx ON crux.order_counts_all USING btree (period_kind, period);
CREATE INDEX order_counts_bucket_idx ON crux.order_counts USING btree (retailer_uuid, period);
CREATE INDEX order_summaries_day_idx ON crux.order_summaries USING btree (created_day, status_mask) INCLUDE (order_uuid, created_date) WHERE (status_mask <> 0);
CREATE INDEX order_summaries_min_sku_id_idx ON crux.order_summaries USING btree (min_sku_id, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX order_summaries_retailer_day_idx ON crux.order_summaries USING btree (retailer_uuid, created_day, status_mask) INCLUDE (order_uuid, created_date) WHERE (status_mask <> 0);
CREATE INDEX order_summaries_retailer_min_sku_id_idx ON crux.order_summaries USING btree (retailer_uuid, min_sku_id, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX order_summaries_retailer_order_uuid_idx ON crux.order_summaries USING btree (retailer_uuid, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX order_summaries_retailer_status_idx ON crux.order_summaries USING btree (retailer_uuid, status, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX order_summaries_status_idx ON crux.order_summaries USING btree (status, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX orders_date_idx ON crux.orders USING btree (created_date, uuid);
CREATE INDEX orders_purchase_order_id_idx ON crux.orders USING btree (purchase_order_id);
CREATE INDEX orders_retailer_date_idx ON crux.orders USING btree (retailer_uuid, created_date, uuid);
CREATE INDEX orders_retailer_uuid_idx ON crux.orders USING btree (retailer_uuid, uuid) INCLUDE (created_date);
CREATE INDEX sku_orders_order_idx ON crux.sku_orders USING btree (order_uuid);
CREATE INDEX tracking_numbers_line_item_idx ON crux.tracking_numbers USING hash (line_item_uuid);
CREATE INDEX users_organization_uuid_idx ON crux.users USING btree (organization_uuid);

-- ---------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------

CREATE TRIGGER export_jobs_cancel_only BEFORE UPDATE ON crux.export_jobs FOR EACH ROW EXECUTE FUNCTION crux.export_jobs_cancel_only();
CREATE TRIGGER export_jobs_requester BEFORE INSERT ON crux.export_jobs FOR EACH ROW EXECUTE FUNCTION crux.export_jobs_requester();
CREATE TRIGGER line_items_summarize_delete AFTER DELETE ON crux.line_items REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();
CREATE TRIGGER line_items_summarize_insert AFTER INSERT ON crux.line_items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();
CREATE TRIGGER line_items_summarize_truncate AFTER TRUNCATE ON crux.line_items FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_truncated();
CREATE TRIGGER line_items_summarize_update AFTER UPDATE ON crux.line_items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();
CREATE TRIGGER orders_count_delete AFTER DELETE ON crux.orders REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_count();
CREATE TRIGGER orders_copy_status AFTER UPDATE ON crux.orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_copy_status();
CREATE TRIGGER orders_count_move AFTER UPDATE OF uuid, retailer_uuid, created_date ON crux.orders FOR EACH ROW WHEN (((old.uuid IS DISTINCT FROM new.uuid) OR (old.retailer_uuid IS DISTINCT FROM new.retailer_uuid) OR (old.created_date IS DISTINCT FROM new.created_date))) EXECUTE FUNCTION crux.orders_count();
CREATE TRIGGER orders_count_truncate AFTER TRUNCATE ON crux.orders FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_truncated();
CREATE TRIGGER orders_hold_summaries AFTER INSERT ON crux.orders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_hold_summaries();
CREATE CONSTRAINT TRIGGER pending_summaries_at_commit AFTER INSERT ON crux.pending_summaries DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crux.pending_summaries_at_commit();
CREATE TRIGGER tracked_skus_delete AFTER DELETE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_insert AFTER INSERT ON crux.tracked_skus REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_truncate BEFORE TRUNCATE ON crux.tracked_skus FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_update AFTER UPDATE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();

-- ---------------------------------------------------------------------------
-- Row-level security: a tenant sees its organization's rows, crux_admin all
-- ---------------------------------------------------------------------------

ALTER TABLE crux.claim_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.export_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.line_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_counts_all ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.pending_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.role_organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.sku_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.tracked_skus ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.tracking_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.users ENABLE ROW LEVEL SECURITY;

CREATE POLICY admin ON crux.export_jobs TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.line_items TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.order_counts TO crux_admin USING (true);
CREATE POLICY admin ON crux.order_counts_all TO crux_admin USING (true);
CREATE POLICY admin ON crux.order_summaries TO crux_admin USING (true);
CREATE POLICY admin ON crux.orders TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.organizations TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.role_organizations TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.sku_orders TO crux_admin USING (true);
CREATE POLICY admin ON crux.tracking_numbers TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.users TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY organization ON crux.export_jobs USING ((organization_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.line_items USING ((crux.order_in_page(order_uuid) OR (EXISTS ( SELECT
   FROM crux.orders o
  WHERE (o.uuid = line_items.order_uuid)
 OFFSET 0)))) WITH CHECK ((EXISTS ( SELECT
   FROM crux.orders o
  WHERE (o.uuid = line_items.order_uuid)
 OFFSET 0)));
CREATE POLICY organization ON crux.order_counts USING ((retailer_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.order_summaries USING ((retailer_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.orders USING ((retailer_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.organizations USING ((uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.sku_orders USING ((retailer_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY organization ON crux.tracking_numbers USING ((crux.line_item_in_page(line_item_uuid) OR (EXISTS ( SELECT
   FROM crux.line_items li
  WHERE (li.uuid = tracking_numbers.line_item_uuid)
 OFFSET 0)))) WITH CHECK ((EXISTS ( SELECT
   FROM crux.line_items li
  WHERE (li.uuid = tracking_numbers.line_item_uuid)
 OFFSET 0)));
CREATE POLICY organization ON crux.users USING ((organization_uuid = ( SELECT crux.acting_organization() AS acting_organization)));
CREATE POLICY own_row ON crux.claim_roles FOR SELECT USING ((role_name = CURRENT_USER));
CREATE POLICY own_row ON crux.role_organizations FOR SELECT USING ((role_name = CURRENT_USER));

-- ---------------------------------------------------------------------------
-- Grants: crux_reader reads, through the policies; nothing else to PUBLIC
-- ---------------------------------------------------------------------------

GRANT USAGE ON SCHEMA crux TO crux_reader;
REVOKE ALL ON FUNCTION crux.acting_organization() FROM PUBLIC;
GRANT ALL ON FUNCTION crux.acting_organization() TO crux_reader;
REVOKE ALL ON FUNCTION crux.add_order_counts(r uuid[], d date[], m smallint[], n bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.order_in_page(uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.order_in_page(uuid) TO crux_reader;
REVOKE ALL ON FUNCTION crux.line_item_in_page(uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.line_item_in_page(uuid) TO crux_reader;
REVOKE ALL ON FUNCTION crux.tracked_skus_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.count_matching(bigint[], smallint, smallint) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.count_matching(bigint[], smallint, smallint) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_csv(request jsonb, first bigint, count bigint, header boolean, formula_safe boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_csv(request jsonb, first bigint, count bigint, header boolean, formula_safe boolean) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_csv_orders(request jsonb, formula_safe boolean) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_merge_bounds(request jsonb, OUT start bigint, OUT "limit" bigint, OUT ascending boolean) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_order_count(jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_order_count(jsonb) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_order_uuids(jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_order_uuids(jsonb) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) TO crux_reader;
REVOKE ALL ON FUNCTION crux.export_rows(jsonb, bigint, bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.export_rows(jsonb, bigint, bigint) TO crux_reader;
REVOKE ALL ON FUNCTION crux.line_item_tracking(line_item uuid, expected_calls bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.line_item_tracking(line_item uuid, expected_calls bigint) TO crux_reader;
REVOKE ALL ON FUNCTION crux.mask_counts_add(internal, smallint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.mask_counts_final(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.mask_counts_merge(internal, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.recount_order_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.recount_summaries() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.track_skus(min_line_items bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.lock_orders_and_line_items() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.orders_hold_summaries() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.pending_summaries_at_commit() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.pending_summaries_held() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.take_pending_summaries(orders uuid[], OUT order_uuid uuid, OUT retailer_uuid uuid, OUT created_date timestamp with time zone, OUT status text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.write_pending_summaries() FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.write_pending_summaries(orders uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION @extschema@.crux_cancel_export(export_uuid uuid) TO crux_reader;
REVOKE ALL ON FUNCTION crux.mask_counts(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION crux.mask_counts(smallint, bigint) FROM PUBLIC;
GRANT SELECT ON TABLE crux.claim_roles TO crux_reader;
GRANT SELECT,INSERT ON TABLE crux.export_jobs TO crux_reader;
GRANT UPDATE(status) ON TABLE crux.export_jobs TO crux_reader;
GRANT SELECT ON TABLE crux.line_items TO crux_reader;
GRANT SELECT ON TABLE crux.order_counts TO crux_reader;
GRANT SELECT ON TABLE crux.order_counts_all TO crux_reader;
GRANT SELECT ON TABLE crux.order_summaries TO crux_reader;
GRANT SELECT ON TABLE crux.orders TO crux_reader;
GRANT SELECT ON TABLE crux.organizations TO crux_reader;
GRANT SELECT ON TABLE crux.role_organizations TO crux_reader;
GRANT INSERT,DELETE,UPDATE ON TABLE crux.role_organizations TO crux_admin;
GRANT SELECT ON TABLE crux.sku_orders TO crux_reader;
GRANT SELECT ON TABLE crux.tracking_numbers TO crux_reader;
GRANT SELECT ON TABLE crux.users TO crux_reader;

-- PostgREST reloads its schema cache (the functions and their comments)
NOTIFY pgrst, 'reload schema';
