-- crux_orders 1.0: the order tables (schema crux), the summaries the extension keeps
-- on each order, and the API functions (in the schema CREATE EXTENSION names).
--
-- Every object is schema-qualified and every operator in an expression that runs
-- later is spelled OPERATOR(pg_catalog.x), so objects a user creates in another
-- schema of the search_path can neither capture nor break anything here.

\echo Use "CREATE EXTENSION crux_orders" to load this file. \quit

CREATE SCHEMA crux;
COMMENT ON SCHEMA crux IS 'crux_orders: retailer orders, line items and tracking numbers';

CREATE TABLE crux.organizations (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name text NOT NULL
);

CREATE TABLE crux.users (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    organization_uuid uuid NOT NULL REFERENCES crux.organizations (uuid),
    name text NOT NULL DEFAULT '',
    email text
);
CREATE INDEX users_organization_uuid_idx ON crux.users (organization_uuid);

CREATE TYPE crux.line_item_status AS ENUM
    ('unallocated', 'allocated', 'rejected', 'has_tracking',
     'backordered', 'delivered', 'cancelled');

-- The columns after shipping_method are derived: the extension keeps them exact
-- through the triggers on crux.line_items. Loaders never write them.
--   n_<status>   how many of the order's line items have that status
--   min_sku_id   the smallest sku_id among its line items (byte-wise), for sorting
--   status_mask  bit i set when some line item has the i-th status of the enum,
--                so that or / and / only are single integer tests
CREATE TABLE crux.orders (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    retailer_uuid uuid NOT NULL REFERENCES crux.organizations (uuid),
    user_uuid uuid REFERENCES crux.users (uuid),
    status text NOT NULL DEFAULT 'New',
    purchase_order_id text NOT NULL,
    created_date timestamptz NOT NULL DEFAULT pg_catalog.now(),
    notes text,
    estimated_shipping_cost numeric(12,2) NOT NULL DEFAULT 0,
    drop_ship_fee numeric(12,2) NOT NULL DEFAULT 0,
    order_fee numeric(12,2) NOT NULL DEFAULT 0,
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
    n_unallocated integer NOT NULL DEFAULT 0,
    n_allocated integer NOT NULL DEFAULT 0,
    n_rejected integer NOT NULL DEFAULT 0,
    n_has_tracking integer NOT NULL DEFAULT 0,
    n_backordered integer NOT NULL DEFAULT 0,
    n_delivered integer NOT NULL DEFAULT 0,
    n_cancelled integer NOT NULL DEFAULT 0,
    min_sku_id text COLLATE "C",
    status_mask smallint GENERATED ALWAYS AS (
        (CASE WHEN n_unallocated OPERATOR(pg_catalog.>) 0 THEN 1 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_allocated OPERATOR(pg_catalog.>) 0 THEN 2 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_rejected OPERATOR(pg_catalog.>) 0 THEN 4 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_has_tracking OPERATOR(pg_catalog.>) 0 THEN 8 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_backordered OPERATOR(pg_catalog.>) 0 THEN 16 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_delivered OPERATOR(pg_catalog.>) 0 THEN 32 ELSE 0 END
         OPERATOR(pg_catalog.+) CASE WHEN n_cancelled OPERATOR(pg_catalog.>) 0 THEN 64 ELSE 0 END
        )::smallint) STORED
);
CREATE INDEX orders_retailer_date_idx ON crux.orders (retailer_uuid, created_date, uuid);
CREATE INDEX orders_date_idx ON crux.orders (created_date, uuid);
CREATE INDEX orders_purchase_order_id_idx ON crux.orders (purchase_order_id);

CREATE TABLE crux.line_items (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    order_uuid uuid NOT NULL REFERENCES crux.orders (uuid) ON DELETE CASCADE,
    position integer NOT NULL DEFAULT 0,
    item_uuid uuid,
    item_name text,
    sku_uuid uuid,
    sku_id text,
    sku_name text,
    cost numeric(12,2) NOT NULL DEFAULT 0,
    supplier_uuid uuid,
    supplier_name text,
    status crux.line_item_status NOT NULL DEFAULT 'unallocated',
    quantity_ordered integer NOT NULL CHECK (quantity_ordered OPERATOR(pg_catalog.>) 0),
    quantity_allocated integer NOT NULL DEFAULT 0 CHECK (quantity_allocated OPERATOR(pg_catalog.>=) 0),
    quantity_backordered integer NOT NULL DEFAULT 0 CHECK (quantity_backordered OPERATOR(pg_catalog.>=) 0),
    quantity_rejected integer NOT NULL DEFAULT 0 CHECK (quantity_rejected OPERATOR(pg_catalog.>=) 0),
    backorder_date date
);
CREATE INDEX line_items_order_idx ON crux.line_items (order_uuid, position, uuid);
CREATE INDEX line_items_sku_id_idx ON crux.line_items (sku_id);

CREATE TABLE crux.tracking_numbers (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    line_item_uuid uuid NOT NULL REFERENCES crux.line_items (uuid) ON DELETE CASCADE,
    tracking_number text NOT NULL,
    shipping_carrier text,
    shipping_method text,
    shipping_weight text,
    shipping_cost numeric(12,2),
    shipping_date timestamptz,
    quantity integer
);
CREATE INDEX tracking_numbers_line_item_idx ON crux.tracking_numbers (line_item_uuid);

SELECT pg_catalog.pg_extension_config_dump('crux.organizations', '');
SELECT pg_catalog.pg_extension_config_dump('crux.users', '');
SELECT pg_catalog.pg_extension_config_dump('crux.orders', '');
SELECT pg_catalog.pg_extension_config_dump('crux.line_items', '');
SELECT pg_catalog.pg_extension_config_dump('crux.tracking_numbers', '');

-- Status summaries. One statement-level trigger per event, with transition tables,
-- so a bulk INSERT costs one grouped UPDATE of the orders it touched.
--
-- Exactness under concurrent writers (READ COMMITTED):
--  * inserts add their counts with "n = n + d": the UPDATE waits for any other
--    writer of the order row and then re-applies the increment to the newest
--    version, so increments commute;
--  * updates and deletes first lock the orders they touch (in uuid order, so two
--    such statements never deadlock), then recount those orders from
--    crux.line_items in a new statement, whose fresh snapshot sees every
--    committed change to them. A concurrent insert either committed before the
--    lock was granted (and is counted) or adds its own increment afterwards.
-- Under REPEATABLE READ or SERIALIZABLE the lock raises a serialization failure
-- instead of letting a stale count through.
-- SECURITY DEFINER so that row-level security on crux.orders never hides an order
-- from its own summary maintenance.
CREATE FUNCTION crux.line_items_summarize() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    touched uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE crux.orders o
           SET n_unallocated = o.n_unallocated + d.n_unallocated,
               n_allocated = o.n_allocated + d.n_allocated,
               n_rejected = o.n_rejected + d.n_rejected,
               n_has_tracking = o.n_has_tracking + d.n_has_tracking,
               n_backordered = o.n_backordered + d.n_backordered,
               n_delivered = o.n_delivered + d.n_delivered,
               n_cancelled = o.n_cancelled + d.n_cancelled,
               min_sku_id = CASE WHEN o.min_sku_id IS NULL THEN d.min_sku_id
                                 WHEN d.min_sku_id IS NULL THEN o.min_sku_id
                                 ELSE least(o.min_sku_id, d.min_sku_id) END
          FROM (SELECT n.order_uuid,
                       count(*) FILTER (WHERE n.status = 'unallocated') AS n_unallocated,
                       count(*) FILTER (WHERE n.status = 'allocated') AS n_allocated,
                       count(*) FILTER (WHERE n.status = 'rejected') AS n_rejected,
                       count(*) FILTER (WHERE n.status = 'has_tracking') AS n_has_tracking,
                       count(*) FILTER (WHERE n.status = 'backordered') AS n_backordered,
                       count(*) FILTER (WHERE n.status = 'delivered') AS n_delivered,
                       count(*) FILTER (WHERE n.status = 'cancelled') AS n_cancelled,
                       min(n.sku_id COLLATE "C") AS min_sku_id
                  FROM new_rows n
                 GROUP BY n.order_uuid) d
         WHERE o.uuid = d.order_uuid;
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        touched := ARRAY(SELECT order_uuid FROM old_rows
                         UNION SELECT order_uuid FROM new_rows);
    ELSE
        touched := ARRAY(SELECT DISTINCT order_uuid FROM old_rows);
    END IF;

    PERFORM 1 FROM crux.orders o
     WHERE o.uuid = ANY (touched)
     ORDER BY o.uuid
       FOR NO KEY UPDATE;

    UPDATE crux.orders o
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
             WHERE li.order_uuid = o.uuid)
     WHERE o.uuid = ANY (touched);
    RETURN NULL;
END
$$;

CREATE TRIGGER line_items_summarize_insert
    AFTER INSERT ON crux.line_items REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();
CREATE TRIGGER line_items_summarize_update
    AFTER UPDATE ON crux.line_items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();
CREATE TRIGGER line_items_summarize_delete
    AFTER DELETE ON crux.line_items REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_summarize();

-- A new order starts with empty summaries whatever the INSERT says: its line items
-- (inserted after it, since they reference it) add their counts. This keeps the
-- summaries exact when a loader writes those columns, and when pg_restore reloads
-- orders with their old summaries before reloading their line items.
CREATE FUNCTION crux.orders_reset_summaries() RETURNS trigger
AS 'MODULE_PATHNAME', 'crux_orders_reset_summaries'
LANGUAGE C;
CREATE TRIGGER orders_reset_summaries BEFORE INSERT ON crux.orders
    FOR EACH ROW EXECUTE FUNCTION crux.orders_reset_summaries();

CREATE FUNCTION crux.line_items_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE crux.orders
       SET n_unallocated = 0, n_allocated = 0, n_rejected = 0, n_has_tracking = 0,
           n_backordered = 0, n_delivered = 0, n_cancelled = 0, min_sku_id = NULL
     WHERE status_mask <> 0 OR min_sku_id IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER line_items_summarize_truncate
    AFTER TRUNCATE ON crux.line_items
    FOR EACH STATEMENT EXECUTE FUNCTION crux.line_items_truncated();

-- Recounts every order from its line items; returns how many summaries were wrong.
-- For DBAs after restoring data with triggers disabled, and for tests.
CREATE FUNCTION crux.recount_summaries() RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH fresh AS (
        SELECT o.uuid,
               count(li.uuid) FILTER (WHERE li.status = 'unallocated') AS n_unallocated,
               count(li.uuid) FILTER (WHERE li.status = 'allocated') AS n_allocated,
               count(li.uuid) FILTER (WHERE li.status = 'rejected') AS n_rejected,
               count(li.uuid) FILTER (WHERE li.status = 'has_tracking') AS n_has_tracking,
               count(li.uuid) FILTER (WHERE li.status = 'backordered') AS n_backordered,
               count(li.uuid) FILTER (WHERE li.status = 'delivered') AS n_delivered,
               count(li.uuid) FILTER (WHERE li.status = 'cancelled') AS n_cancelled,
               min(li.sku_id COLLATE "C") AS min_sku_id
          FROM crux.orders o LEFT JOIN crux.line_items li ON li.order_uuid = o.uuid
         GROUP BY o.uuid
    ), fixed AS (
        UPDATE crux.orders o
           SET n_unallocated = f.n_unallocated, n_allocated = f.n_allocated,
               n_rejected = f.n_rejected, n_has_tracking = f.n_has_tracking,
               n_backordered = f.n_backordered, n_delivered = f.n_delivered,
               n_cancelled = f.n_cancelled, min_sku_id = f.min_sku_id
          FROM fresh f
         WHERE o.uuid = f.uuid
           AND (o.n_unallocated, o.n_allocated, o.n_rejected, o.n_has_tracking,
                o.n_backordered, o.n_delivered, o.n_cancelled, o.min_sku_id)
               IS DISTINCT FROM
               (f.n_unallocated::int, f.n_allocated::int, f.n_rejected::int,
                f.n_has_tracking::int, f.n_backordered::int, f.n_delivered::int,
                f.n_cancelled::int, f.min_sku_id)
        RETURNING 1
    )
    SELECT count(*) FROM fixed;
$$;

-- Tenancy (contract section 6). Row-level security is the one mechanism: every
-- crux table is filtered by the organization the caller acts for, in
-- crux_get_orders (which runs as the caller), exports and plain SELECTs alike.
--
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

-- Roles whose request.jwt.claims are trusted: the roles PostgREST switches to,
-- which cannot run arbitrary SQL. Only superusers may change this list; any other
-- role's claims are ignored, since any session can set_config them.
CREATE TABLE crux.claim_roles (
    role_name name PRIMARY KEY
);
-- Direct SQL: which organization (and user) a database role acts for.
CREATE TABLE crux.role_organizations (
    role_name name PRIMARY KEY,
    organization_uuid uuid NOT NULL REFERENCES crux.organizations (uuid) ON DELETE CASCADE,
    user_uuid uuid REFERENCES crux.users (uuid) ON DELETE SET NULL
);
SELECT pg_catalog.pg_extension_config_dump('crux.claim_roles', '');
SELECT pg_catalog.pg_extension_config_dump('crux.role_organizations', '');

-- The organization the current role acts for, or NULL (which matches nothing):
-- for a claim-carrying role, "org_uuid" of request.jwt.claims (empty, missing or
-- malformed claims give NULL, never everything); for any other role, its row in
-- crux.role_organizations. Policies call it as (SELECT ...), once per query.
CREATE FUNCTION crux.acting_organization() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid;
BEGIN
    IF EXISTS (SELECT FROM crux.claim_roles WHERE role_name = current_user) THEN
        BEGIN
            org := (current_setting('request.jwt.claims', true)::jsonb ->> 'org_uuid')::uuid;
        EXCEPTION WHEN data_exception THEN
            org := NULL;
        END;
        RETURN org;
    END IF;
    SELECT r.organization_uuid INTO org
      FROM crux.role_organizations r WHERE r.role_name = current_user;
    RETURN org;
END
$$;

ALTER TABLE crux.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.users FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.orders FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.line_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.line_items FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.tracking_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.tracking_numbers FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.claim_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.claim_roles FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.role_organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.role_organizations FORCE ROW LEVEL SECURITY;

CREATE POLICY organization ON crux.organizations
    USING (uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY organization ON crux.users
    USING (organization_uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY organization ON crux.orders
    USING (retailer_uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY organization ON crux.line_items
    USING (EXISTS (SELECT FROM crux.orders o WHERE o.uuid OPERATOR(pg_catalog.=) order_uuid));
CREATE POLICY organization ON crux.tracking_numbers
    USING (EXISTS (SELECT FROM crux.line_items li
                    WHERE li.uuid OPERATOR(pg_catalog.=) line_item_uuid));
CREATE POLICY own_row ON crux.claim_roles FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) current_user);
CREATE POLICY own_row ON crux.role_organizations FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) current_user);

CREATE POLICY admin ON crux.organizations TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.users TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.orders TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.line_items TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.tracking_numbers TO crux_admin USING (true) WITH CHECK (true);
CREATE POLICY admin ON crux.role_organizations TO crux_admin USING (true) WITH CHECK (true);

REVOKE ALL ON ALL TABLES IN SCHEMA crux FROM PUBLIC;
GRANT USAGE ON SCHEMA crux TO crux_reader;
GRANT SELECT ON crux.organizations, crux.users, crux.orders, crux.line_items,
               crux.tracking_numbers, crux.claim_roles, crux.role_organizations
    TO crux_reader;
GRANT INSERT, UPDATE, DELETE ON crux.role_organizations TO crux_admin;
GRANT EXECUTE ON FUNCTION crux.acting_organization() TO crux_reader;
REVOKE EXECUTE ON FUNCTION crux.acting_organization() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crux.recount_summaries() FROM PUBLIC;

-- The API. One unnamed jsonb parameter, so that PostgREST passes the whole POST
-- body; not STRICT, since SQL NULL means "every default".
CREATE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.crux_get_orders(jsonb) IS
    'Get Orders: filter, sort and page orders; returns {"total_results", "orders"}';

-- Exports (contract section 5), the database side. crux_export_orders records a
-- job here and announces it with NOTIFY crux_orders_export; the worker program
-- claims it, writes the CSV and emails it. Who asked is recorded by the insert
-- trigger from the session itself, never from the inserted values, so a job can
-- only ever export what its requester could see: the worker replays the
-- requester's role (and claims) when it runs the export.
CREATE TABLE crux.export_jobs (
    uuid uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    request jsonb NOT NULL,
    fields text[],                                  -- CSV columns; NULL = all
    requested_by name NOT NULL,                     -- the role that asked
    claims jsonb,                                   -- its JWT claims, for a claim-carrying role
    organization_uuid uuid,                         -- the organization it acted for
    user_uuid uuid,
    email text,                                     -- where the file goes; NULL = file only
    status text NOT NULL DEFAULT 'queued'
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'running', 'done', 'failed'])),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at timestamptz,
    finished_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    worker text,
    row_count bigint,
    bytes bigint,
    file_path text,
    error text
);
CREATE INDEX export_jobs_queued_idx ON crux.export_jobs (created_at)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'running']);
CREATE INDEX export_jobs_organization_idx ON crux.export_jobs (organization_uuid, created_at);
SELECT pg_catalog.pg_extension_config_dump('crux.export_jobs', '');

-- The requester of a new job, from the session: role, claims (for claim-carrying
-- roles), organization, user and email. SECURITY INVOKER on purpose: current_user
-- and crux.acting_organization() are the caller's. Only a superuser's complete row
-- (a restore) is kept as written.
CREATE FUNCTION crux.export_jobs_requester() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
CREATE TRIGGER export_jobs_requester BEFORE INSERT ON crux.export_jobs
    FOR EACH ROW EXECUTE FUNCTION crux.export_jobs_requester();

ALTER TABLE crux.export_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.export_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY organization ON crux.export_jobs
    USING (organization_uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY admin ON crux.export_jobs TO crux_admin USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON crux.export_jobs TO crux_reader;

-- One CSV row: an order and one of its line items (an order without line items
-- gives one row with empty line-item columns). tracking_numbers joins the line
-- item's tracking numbers with "; ".
CREATE TYPE crux.export_row AS (
    order_uuid uuid, order_status text, is_allocated boolean, purchase_order_id text,
    created_date timestamptz, notes text, estimated_shipping_cost numeric,
    drop_ship_fee numeric, order_fee numeric, retailer_name text, retailer_uuid uuid,
    user_name text, user_email text, address_name text, address_business_name text,
    address_address1 text, address_address2 text, address_city text,
    address_state text, address_postal_code text, address_phone_number text,
    shipping_carrier text, shipping_method text, line_item_uuid uuid,
    line_item_status crux.line_item_status, item_uuid uuid, item_name text,
    sku_uuid uuid, sku_id text, sku_name text, cost numeric, supplier_uuid uuid,
    supplier_name text, quantity_ordered integer, quantity_allocated integer,
    quantity_backordered integer, quantity_rejected integer, backorder_date date,
    tracking_numbers text);

CREATE FUNCTION crux.export_order_uuids(jsonb) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- Inlinable (no SET clause, a single SELECT), so that COPY streams its rows instead
-- of materializing them first. Inlined, the body is parsed in the caller's
-- search_path, so every table, function, operator and collation in it is
-- schema-qualified and nothing a caller creates can be picked up.
CREATE FUNCTION @extschema@.crux_export_rows(jsonb) RETURNS SETOF crux.export_row
LANGUAGE sql STABLE AS $$
    SELECT o.uuid, o.status,
           (o.status_mask OPERATOR(pg_catalog.<>) 0 AND o.n_unallocated OPERATOR(pg_catalog.=) 0),
           o.purchase_order_id, o.created_date, o.notes, o.estimated_shipping_cost,
           o.drop_ship_fee, o.order_fee, r.name, o.retailer_uuid, u.name, u.email,
           o.address_name, o.address_business_name, o.address_address1,
           o.address_address2, o.address_city, o.address_state, o.address_postal_code,
           o.address_phone_number, o.shipping_carrier, o.shipping_method,
           li.uuid, li.status, li.item_uuid, li.item_name, li.sku_uuid, li.sku_id,
           li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,
           li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,
           li.quantity_rejected, li.backorder_date,
           (SELECT pg_catalog.string_agg(t.tracking_number, '; '
                       ORDER BY t.shipping_date NULLS LAST,
                                t.tracking_number COLLATE pg_catalog."C", t.uuid)
              FROM crux.tracking_numbers t
             WHERE t.line_item_uuid OPERATOR(pg_catalog.=) li.uuid)
      FROM crux.export_order_uuids($1) WITH ORDINALITY AS p(uuid, n)
      JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
     ORDER BY p.n, li.position, li.uuid
$$;
COMMENT ON FUNCTION @extschema@.crux_export_rows(jsonb) IS
    'The rows an export of this request holds, one per line item; for \copy';

CREATE FUNCTION @extschema@.crux_export_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_export_orders'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.crux_export_orders(jsonb) IS
    'Queue an export of the selection as CSV by email; returns {"uuid"}';

-- A job as the requester sees it (row-level security applies); NULL if it does not
-- exist or is not visible.
CREATE FUNCTION @extschema@.crux_get_export(uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
               'uuid', j.uuid, 'status', j.status,
               'created_at', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'started_at', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'finished_at', to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'row_count', j.row_count, 'error', j.error)
      FROM crux.export_jobs j WHERE j.uuid = $1
$$;
GRANT EXECUTE ON FUNCTION crux.export_order_uuids(jsonb) TO crux_reader;
REVOKE EXECUTE ON FUNCTION crux.export_order_uuids(jsonb) FROM PUBLIC;
