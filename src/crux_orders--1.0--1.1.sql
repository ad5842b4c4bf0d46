-- crux_orders 1.0 -> 1.1: exact order counts kept by the triggers, so that
-- total_results costs a few hundred index entries instead of a scan of every
-- matching order; indexes for the status and sku_id sorts.
--
-- Released install scripts are never edited: 1.1 is 1.0 plus this file, for an
-- upgrade (ALTER EXTENSION crux_orders UPDATE) and for a fresh install alike.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.1'" to load this file. \quit

-- How many orders have each status mask, per UTC day and per month, per retailer
-- (order_counts) and over all retailers (order_counts_all). period_kind is 'd'
-- (period = the day) or 'm' (period = the first day of the month).
--
-- Writers never wait for each other here. Each statement that changes orders adds
-- its changes as rows of deltas; in READ COMMITTED it also folds the existing rows
-- of the buckets it touches into its own (locking them with SKIP LOCKED, so a
-- bucket another writer is folding is simply left for later). A bucket's count is
-- the sum of its rows, so the table stays at about one row per bucket without
-- any writer queueing on a hot row, and without deadlocks.
CREATE TABLE crux.order_counts (
    retailer_uuid uuid NOT NULL,
    period_kind "char" NOT NULL,
    period date NOT NULL,
    status_mask smallint NOT NULL,
    n bigint NOT NULL
);
CREATE INDEX order_counts_bucket_idx
    ON crux.order_counts (retailer_uuid, period_kind, period, status_mask) INCLUDE (n);

CREATE TABLE crux.order_counts_all (
    period_kind "char" NOT NULL,
    period date NOT NULL,
    status_mask smallint NOT NULL,
    n bigint NOT NULL
);
CREATE INDEX order_counts_all_bucket_idx
    ON crux.order_counts_all (period_kind, period, status_mask) INCLUDE (n);

-- Tenants read their own retailer's counts (as they read its orders); the counts
-- over all retailers only those who see every order.
ALTER TABLE crux.order_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_counts FORCE ROW LEVEL SECURITY;
ALTER TABLE crux.order_counts_all ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_counts_all FORCE ROW LEVEL SECURITY;
CREATE POLICY organization ON crux.order_counts
    USING (retailer_uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY admin ON crux.order_counts TO crux_admin USING (true);
CREATE POLICY admin ON crux.order_counts_all TO crux_admin USING (true);
REVOKE ALL ON crux.order_counts, crux.order_counts_all FROM PUBLIC;
GRANT SELECT ON crux.order_counts, crux.order_counts_all TO crux_reader;

-- Adds count deltas: n orders more (or fewer, n < 0) of retailer r, created on UTC
-- day d, with status mask m. Called by the triggers only.
CREATE FUNCTION crux.add_order_counts(r uuid[], d date[], m smallint[], n bigint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- Under REPEATABLE READ and SERIALIZABLE, locking a bucket row that another
        -- transaction folded would raise a serialization failure: only add.
        INSERT INTO crux.order_counts
        SELECT x.r, x.kind, x.p, x.m, sum(x.n)
          FROM (SELECT t.r, 'd'::"char" AS kind, t.d AS p, t.m, t.n
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)
                UNION ALL
                SELECT t.r, 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)) x
         GROUP BY x.r, x.kind, x.p, x.m
        HAVING sum(x.n) <> 0;
        INSERT INTO crux.order_counts_all
        SELECT x.kind, x.p, x.m, sum(x.n)
          FROM (SELECT 'd'::"char" AS kind, t.d AS p, t.m, t.n
                  FROM unnest(d, m, n) AS t(d, m, n)
                UNION ALL
                SELECT 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                  FROM unnest(d, m, n) AS t(d, m, n)) x
         GROUP BY x.kind, x.p, x.m
        HAVING sum(x.n) <> 0;
        RETURN;
    END IF;

    WITH k AS (
        SELECT x.r AS retailer_uuid, x.kind AS period_kind, x.p AS period,
               x.m AS status_mask, sum(x.n) AS n
          FROM (SELECT t.r, 'd'::"char" AS kind, t.d AS p, t.m, t.n
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)
                UNION ALL
                SELECT t.r, 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                  FROM unnest(r, d, m, n) AS t(r, d, m, n)) x
         GROUP BY x.r, x.kind, x.p, x.m
        HAVING sum(x.n) <> 0
    ), folded AS (
        DELETE FROM crux.order_counts c
         WHERE c.ctid = ANY (ARRAY(
                   SELECT c2.ctid
                     FROM crux.order_counts c2
                     JOIN k ON (c2.retailer_uuid, c2.period_kind, c2.period, c2.status_mask)
                             = (k.retailer_uuid, k.period_kind, k.period, k.status_mask)
                      FOR UPDATE OF c2 SKIP LOCKED))
        RETURNING c.retailer_uuid, c.period_kind, c.period, c.status_mask, c.n
    )
    INSERT INTO crux.order_counts
    SELECT y.retailer_uuid, y.period_kind, y.period, y.status_mask, sum(y.n)
      FROM (SELECT * FROM k UNION ALL SELECT * FROM folded) y
     GROUP BY y.retailer_uuid, y.period_kind, y.period, y.status_mask
    HAVING sum(y.n) <> 0;

    WITH k AS (
        SELECT x.kind AS period_kind, x.p AS period, x.m AS status_mask, sum(x.n) AS n
          FROM (SELECT 'd'::"char" AS kind, t.d AS p, t.m, t.n
                  FROM unnest(d, m, n) AS t(d, m, n)
                UNION ALL
                SELECT 'm'::"char", date_trunc('month', t.d)::date, t.m, t.n
                  FROM unnest(d, m, n) AS t(d, m, n)) x
         GROUP BY x.kind, x.p, x.m
        HAVING sum(x.n) <> 0
    ), folded AS (
        DELETE FROM crux.order_counts_all c
         WHERE c.ctid = ANY (ARRAY(
                   SELECT c2.ctid
                     FROM crux.order_counts_all c2
                     JOIN k ON (c2.period_kind, c2.period, c2.status_mask)
                             = (k.period_kind, k.period, k.status_mask)
                      FOR UPDATE OF c2 SKIP LOCKED))
        RETURNING c.period_kind, c.period, c.status_mask, c.n
    )
    INSERT INTO crux.order_counts_all
    SELECT y.period_kind, y.period, y.status_mask, sum(y.n)
      FROM (SELECT * FROM k UNION ALL SELECT * FROM folded) y
     GROUP BY y.period_kind, y.period, y.status_mask
    HAVING sum(y.n) <> 0;
END
$$;
REVOKE EXECUTE ON FUNCTION crux.add_order_counts(uuid[], date[], smallint[], bigint[]) FROM PUBLIC;

-- Orders of retailer r[i], created on day d[i], whose status mask went from
-- before[i] to after[i]: one fewer in the first bucket, one more in the second.
CREATE FUNCTION crux.move_order_counts(r uuid[], d date[], before smallint[],
                                       after smallint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF cardinality(r) > 0 THEN
        PERFORM crux.add_order_counts(
            r || r, d || d, after || before,
            array_fill(1::bigint, ARRAY[cardinality(r)])
                || array_fill(-1::bigint, ARRAY[cardinality(r)]));
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crux.move_order_counts(uuid[], date[], smallint[], smallint[]) FROM PUBLIC;

-- The status mask of summary counts, as the generated column computes it.
CREATE FUNCTION crux.status_mask_of(integer, integer, integer, integer, integer,
                                    integer, integer) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE WHEN $1 OPERATOR(pg_catalog.>) 0 THEN 1 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $2 OPERATOR(pg_catalog.>) 0 THEN 2 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $3 OPERATOR(pg_catalog.>) 0 THEN 4 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $4 OPERATOR(pg_catalog.>) 0 THEN 8 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $5 OPERATOR(pg_catalog.>) 0 THEN 16 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $6 OPERATOR(pg_catalog.>) 0 THEN 32 ELSE 0 END
            OPERATOR(pg_catalog.+) CASE WHEN $7 OPERATOR(pg_catalog.>) 0 THEN 64 ELSE 0 END
           )::smallint
$$;

-- The line-item triggers of 1.0, now also passing each order's change of status
-- mask on to the counts.
CREATE OR REPLACE FUNCTION crux.line_items_summarize() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    touched uuid[];
    old_uuid uuid[];
    old_mask smallint[];
    r uuid[];
    d date[];
    before_mask smallint[];
    after_mask smallint[];
    bulk boolean;
    nestloop text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Run as dynamic SQL, planned for each statement's size: a bulk insert (many
        -- orders) updates them through a hash join, in the order of the orders'
        -- pages, instead of one index probe per order in random order (about 12%
        -- of a bulk load of 1,000,000 orders).
        bulk := (SELECT count(*) > 10000 FROM new_rows);
        IF bulk THEN
            nestloop := current_setting('enable_nestloop');
            PERFORM set_config('enable_nestloop', 'off', true);
        END IF;
        EXECUTE $sql$
        WITH delta AS (
            SELECT x.order_uuid,
                   count(*) FILTER (WHERE x.status = 'unallocated') AS n_unallocated,
                   count(*) FILTER (WHERE x.status = 'allocated') AS n_allocated,
                   count(*) FILTER (WHERE x.status = 'rejected') AS n_rejected,
                   count(*) FILTER (WHERE x.status = 'has_tracking') AS n_has_tracking,
                   count(*) FILTER (WHERE x.status = 'backordered') AS n_backordered,
                   count(*) FILTER (WHERE x.status = 'delivered') AS n_delivered,
                   count(*) FILTER (WHERE x.status = 'cancelled') AS n_cancelled,
                   min(x.sku_id COLLATE "C") AS min_sku_id
              FROM new_rows x
             GROUP BY x.order_uuid
        ), changed AS (
            UPDATE crux.orders o
               SET n_unallocated = o.n_unallocated + delta.n_unallocated,
                   n_allocated = o.n_allocated + delta.n_allocated,
                   n_rejected = o.n_rejected + delta.n_rejected,
                   n_has_tracking = o.n_has_tracking + delta.n_has_tracking,
                   n_backordered = o.n_backordered + delta.n_backordered,
                   n_delivered = o.n_delivered + delta.n_delivered,
                   n_cancelled = o.n_cancelled + delta.n_cancelled,
                   min_sku_id = CASE WHEN o.min_sku_id IS NULL THEN delta.min_sku_id
                                     WHEN delta.min_sku_id IS NULL THEN o.min_sku_id
                                     ELSE least(o.min_sku_id, delta.min_sku_id) END
              FROM delta
             WHERE o.uuid = delta.order_uuid
            RETURNING o.retailer_uuid, (o.created_date AT TIME ZONE 'UTC')::date AS day,
                      o.status_mask AS new_mask,
                      crux.status_mask_of(
                          o.n_unallocated - delta.n_unallocated::int,
                          o.n_allocated - delta.n_allocated::int,
                          o.n_rejected - delta.n_rejected::int,
                          o.n_has_tracking - delta.n_has_tracking::int,
                          o.n_backordered - delta.n_backordered::int,
                          o.n_delivered - delta.n_delivered::int,
                          o.n_cancelled - delta.n_cancelled::int) AS old_mask
        )
        SELECT array_agg(c.retailer_uuid), array_agg(c.day), array_agg(c.old_mask),
               array_agg(c.new_mask)
          FROM changed c WHERE c.new_mask <> c.old_mask
        $sql$ INTO r, d, before_mask, after_mask;
        IF bulk THEN
            PERFORM set_config('enable_nestloop', nestloop, true);
        END IF;
        PERFORM crux.move_order_counts(r, d, before_mask, after_mask);
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        touched := ARRAY(SELECT order_uuid FROM old_rows
                         UNION SELECT order_uuid FROM new_rows);
    ELSE
        touched := ARRAY(SELECT DISTINCT order_uuid FROM old_rows);
    END IF;

    -- lock the touched orders in uuid order, and note their masks before
    SELECT array_agg(l.uuid), array_agg(l.status_mask) INTO old_uuid, old_mask
      FROM (SELECT o.uuid, o.status_mask FROM crux.orders o
             WHERE o.uuid = ANY (touched)
             ORDER BY o.uuid
               FOR NO KEY UPDATE) l;

    WITH changed AS (
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
         WHERE o.uuid = ANY (touched)
        RETURNING o.uuid, o.retailer_uuid, (o.created_date AT TIME ZONE 'UTC')::date AS day,
                  o.status_mask AS new_mask
    )
    SELECT array_agg(c.retailer_uuid), array_agg(c.day), array_agg(b.mask),
           array_agg(c.new_mask)
      INTO r, d, before_mask, after_mask
      FROM changed c
      JOIN unnest(old_uuid, old_mask) AS b(uuid, mask) ON b.uuid = c.uuid
     WHERE c.new_mask <> b.mask;
    PERFORM crux.move_order_counts(r, d, before_mask, after_mask);
    RETURN NULL;
END
$$;

-- Orders coming and going, and moving between retailers or days.
CREATE FUNCTION crux.orders_count() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r uuid[];
    d date[];
    m smallint[];
    n bigint[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN            -- UPDATE OF retailer_uuid, created_date
        PERFORM crux.add_order_counts(
            ARRAY[OLD.retailer_uuid, NEW.retailer_uuid],
            ARRAY[(OLD.created_date AT TIME ZONE 'UTC')::date,
                  (NEW.created_date AT TIME ZONE 'UTC')::date],
            ARRAY[OLD.status_mask, NEW.status_mask],
            ARRAY[-1, 1]::bigint[]);    -- the same mask, another bucket
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(g.retailer_uuid), array_agg(g.day), array_agg(g.status_mask),
               array_agg(g.n)
          INTO r, d, m, n
          FROM (SELECT x.retailer_uuid, (x.created_date AT TIME ZONE 'UTC')::date AS day,
                       x.status_mask, count(*) AS n
                  FROM new_rows x GROUP BY 1, 2, 3) g;
    ELSE
        SELECT array_agg(g.retailer_uuid), array_agg(g.day), array_agg(g.status_mask),
               array_agg(g.n)
          INTO r, d, m, n
          FROM (SELECT x.retailer_uuid, (x.created_date AT TIME ZONE 'UTC')::date AS day,
                       x.status_mask, -count(*) AS n
                  FROM old_rows x GROUP BY 1, 2, 3) g;
    END IF;
    IF r IS NOT NULL THEN
        PERFORM crux.add_order_counts(r, d, m, n);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_count_insert
    AFTER INSERT ON crux.orders REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_count();
CREATE TRIGGER orders_count_delete
    AFTER DELETE ON crux.orders REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_count();
CREATE TRIGGER orders_count_move
    AFTER UPDATE OF retailer_uuid, created_date ON crux.orders
    FOR EACH ROW
    WHEN (OLD.retailer_uuid IS DISTINCT FROM NEW.retailer_uuid
          OR OLD.created_date IS DISTINCT FROM NEW.created_date)
    EXECUTE FUNCTION crux.orders_count();

-- Recomputes both count tables from crux.orders; returns how many buckets were
-- wrong. Writers wait while it runs (it locks the count tables), so that no
-- delta is lost or counted twice.
CREATE FUNCTION crux.recount_order_counts() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wrong bigint;
    wrong_all bigint;
BEGIN
    LOCK TABLE crux.order_counts, crux.order_counts_all IN EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT o.retailer_uuid, k.kind AS period_kind, k.period, o.status_mask, count(*) AS n
          FROM crux.orders o,
               LATERAL (VALUES ('d'::"char", (o.created_date AT TIME ZONE 'UTC')::date),
                               ('m'::"char", date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date))
                   AS k(kind, period)
         GROUP BY 1, 2, 3, 4
    ), kept AS (
        SELECT c.retailer_uuid, c.period_kind, c.period, c.status_mask, sum(c.n) AS n
          FROM crux.order_counts c GROUP BY 1, 2, 3, 4
    )
    SELECT count(*) INTO wrong
      FROM fresh f FULL JOIN kept k
        ON (f.retailer_uuid, f.period_kind, f.period, f.status_mask)
         = (k.retailer_uuid, k.period_kind, k.period, k.status_mask)
     WHERE f.n IS DISTINCT FROM k.n AND coalesce(f.n, 0) + coalesce(k.n, 0) <> 0;
    WITH fresh AS (
        SELECT k.kind AS period_kind, k.period, o.status_mask, count(*) AS n
          FROM crux.orders o,
               LATERAL (VALUES ('d'::"char", (o.created_date AT TIME ZONE 'UTC')::date),
                               ('m'::"char", date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date))
                   AS k(kind, period)
         GROUP BY 1, 2, 3
    ), kept AS (
        SELECT c.period_kind, c.period, c.status_mask, sum(c.n) AS n
          FROM crux.order_counts_all c GROUP BY 1, 2, 3
    )
    SELECT count(*) INTO wrong_all
      FROM fresh f FULL JOIN kept k
        ON (f.period_kind, f.period, f.status_mask) = (k.period_kind, k.period, k.status_mask)
     WHERE f.n IS DISTINCT FROM k.n AND coalesce(f.n, 0) + coalesce(k.n, 0) <> 0;

    DELETE FROM crux.order_counts;
    INSERT INTO crux.order_counts
    SELECT o.retailer_uuid, k.kind, k.period, o.status_mask, count(*)
      FROM crux.orders o,
           LATERAL (VALUES ('d'::"char", (o.created_date AT TIME ZONE 'UTC')::date),
                           ('m'::"char", date_trunc('month', o.created_date AT TIME ZONE 'UTC')::date))
               AS k(kind, period)
     GROUP BY 1, 2, 3, 4;
    DELETE FROM crux.order_counts_all;
    INSERT INTO crux.order_counts_all
    SELECT c.period_kind, c.period, c.status_mask, sum(c.n)
      FROM crux.order_counts c GROUP BY 1, 2, 3;
    RETURN wrong + wrong_all;
END
$$;
REVOKE EXECUTE ON FUNCTION crux.recount_order_counts() FROM PUBLIC;

-- 1.0's recount_summaries, now also recounting the order counts: returns how many
-- order summaries and count buckets were wrong (0 when everything was exact).
CREATE OR REPLACE FUNCTION crux.recount_summaries() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wrong bigint;
BEGIN
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
    SELECT count(*) INTO wrong FROM fixed;
    RETURN wrong + crux.recount_order_counts();
END
$$;

-- Emptying line items resets every summary, emptying orders every count: both
-- recount the counts.
CREATE OR REPLACE FUNCTION crux.line_items_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE crux.orders
       SET n_unallocated = 0, n_allocated = 0, n_rejected = 0, n_has_tracking = 0,
           n_backordered = 0, n_delivered = 0, n_cancelled = 0, min_sku_id = NULL
     WHERE status_mask <> 0 OR min_sku_id IS NOT NULL;
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;
CREATE FUNCTION crux.orders_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_count_truncate
    AFTER TRUNCATE ON crux.orders
    FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_truncated();

-- The counts of the orders already there (an upgrade from 1.0).
SELECT crux.recount_order_counts();

-- crux_get_orders reads total_results from the counts
CREATE OR REPLACE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_1_1'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- The status and sku_id sorts walk an index instead of sorting every order.
CREATE INDEX orders_status_idx ON crux.orders (status COLLATE "C", uuid);
CREATE INDEX orders_min_sku_id_idx ON crux.orders (min_sku_id, uuid);

-- The count tables are read with index-only scans: vacuum them often, so that
-- their pages stay all-visible under a steady stream of writes.
ALTER TABLE crux.order_counts SET (autovacuum_vacuum_scale_factor = 0.02,
                                   autovacuum_vacuum_insert_scale_factor = 0.02);
ALTER TABLE crux.order_counts_all SET (autovacuum_vacuum_scale_factor = 0.02,
                                       autovacuum_vacuum_insert_scale_factor = 0.02);

-- Exports in slices: the worker exports a large selection as several slices in
-- parallel, all in one snapshot. crux.export_rows(request, first, count) holds the
-- rows of the orders at positions [first, first + count) of the selection (NULL
-- count: to the end); crux_export_rows(request) is the whole of it.
CREATE FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_slice'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION crux.export_order_count(jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'crux_export_order_count'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- Inlinable, like crux_export_rows in 1.0, and schema-qualified throughout.
CREATE FUNCTION crux.export_rows(jsonb, bigint, bigint) RETURNS SETOF crux.export_row
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
      FROM crux.export_order_uuids($1, $2, $3) WITH ORDINALITY AS p(uuid, n)
      JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
     ORDER BY p.n, li.position, li.uuid
$$;
CREATE OR REPLACE FUNCTION @extschema@.crux_export_rows(jsonb) RETURNS SETOF crux.export_row
LANGUAGE sql STABLE AS $$
    SELECT * FROM crux.export_rows($1, 0, NULL)
$$;
REVOKE EXECUTE ON FUNCTION crux.export_order_uuids(jsonb, bigint, bigint),
                           crux.export_order_count(jsonb),
                           crux.export_rows(jsonb, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.export_order_uuids(jsonb, bigint, bigint),
                          crux.export_order_count(jsonb),
                          crux.export_rows(jsonb, bigint, bigint) TO crux_reader;
