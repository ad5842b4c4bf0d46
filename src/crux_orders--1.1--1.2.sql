-- crux_orders 1.1 -> 1.2: cheaper bulk loads.
--  * The per-order summaries move out of crux.orders into a narrow table of their
--    own, crux.order_summaries: a bulk load no longer writes every order row
--    twice (with its six index entries and its foreign-key checks fired again).
--  * The order counts keep one row per bucket holding a count for every status
--    mask (bigint[128]), instead of one row per bucket and mask; per retailer,
--    months only (1.1 also kept days: about one row per order for small
--    retailers). The days of a tenant's range outside whole months are counted
--    index-only from crux.order_summaries. Over all retailers, days and months.
--  * The count deltas are grouped in SQL before they reach the count tables.
--
-- Released install scripts are never edited: 1.2 is 1.0 plus 1.0--1.1 plus this
-- file, for an upgrade (ALTER EXTENSION crux_orders UPDATE) and a fresh install
-- alike.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.2'" to load this file. \quit

-- One row per order, created with the order and kept exact by the triggers:
--   retailer_uuid, created_day  the order's retailer and UTC day (as in
--                               crux.orders), for row-level security and counts
--   n_<status>     how many of the order's line items have that status
--   min_sku_id     the smallest sku_id among its line items (byte-wise), for sorting
--   status_mask    bit i set when some line item has the i-th status of the enum,
--                  so that or / and / only are single integer tests
-- No foreign key: the triggers on crux.orders create and delete the rows, in the
-- same statements as the orders.
CREATE TABLE crux.order_summaries (
    order_uuid uuid PRIMARY KEY,
    retailer_uuid uuid NOT NULL,
    created_day date NOT NULL,
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
-- the sku_id sort walks this index (orders without line items have NULL and sort
-- last ascending, first descending)
CREATE INDEX order_summaries_min_sku_id_idx ON crux.order_summaries (min_sku_id, order_uuid);
-- a tenant's orders of some days, by status mask, counted index-only (the parts of
-- a date range outside whole months)
CREATE INDEX order_summaries_retailer_day_idx
    ON crux.order_summaries (retailer_uuid, created_day, status_mask);
-- vacuumed often, so that its pages stay all-visible for index-only counts
ALTER TABLE crux.order_summaries SET (autovacuum_vacuum_scale_factor = 0.02,
                                      autovacuum_vacuum_insert_scale_factor = 0.02);

ALTER TABLE crux.order_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE crux.order_summaries FORCE ROW LEVEL SECURITY;
CREATE POLICY organization ON crux.order_summaries
    USING (retailer_uuid OPERATOR(pg_catalog.=) (SELECT crux.acting_organization()));
CREATE POLICY admin ON crux.order_summaries TO crux_admin USING (true);
REVOKE ALL ON crux.order_summaries FROM PUBLIC;
GRANT SELECT ON crux.order_summaries TO crux_reader;

-- The summaries of the orders already there (an upgrade from 1.1), then the old
-- columns go, with the trigger that reset them and the index on min_sku_id.
INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_day, n_unallocated,
                                  n_allocated, n_rejected, n_has_tracking, n_backordered,
                                  n_delivered, n_cancelled, min_sku_id)
SELECT o.uuid, o.retailer_uuid, (o.created_date AT TIME ZONE 'UTC')::date, o.n_unallocated,
       o.n_allocated, o.n_rejected, o.n_has_tracking, o.n_backordered, o.n_delivered,
       o.n_cancelled, o.min_sku_id
  FROM crux.orders o;

DROP TRIGGER orders_reset_summaries ON crux.orders;
DROP FUNCTION crux.orders_reset_summaries();
DROP INDEX crux.orders_min_sku_id_idx;
ALTER TABLE crux.orders
    DROP COLUMN status_mask,
    DROP COLUMN n_unallocated, DROP COLUMN n_allocated, DROP COLUMN n_rejected,
    DROP COLUMN n_has_tracking, DROP COLUMN n_backordered, DROP COLUMN n_delivered,
    DROP COLUMN n_cancelled, DROP COLUMN min_sku_id;

-- Line items coming, changing and going update their orders' summaries, and move
-- each order whose status mask changed to its new count bucket.
--
-- Exactness under concurrent writers (READ COMMITTED), as in 1.0 but on the
-- summary rows:
--  * inserts add their counts with "n = n + d": the UPDATE waits for any other
--    writer of the summary row and then re-applies the increment to the newest
--    version, so increments commute;
--  * updates and deletes first lock the summaries they touch (in uuid order, so two
--    such statements never deadlock), then recount those orders from
--    crux.line_items in a new statement, whose fresh snapshot sees every committed
--    change to them.
-- The masks before and after come from the same locked rows, so the counts move
-- exactly as the summaries do. The moves are grouped by retailer, day and mask in
-- SQL: a bulk load of 500,000 orders passes on grouped rows, not one per order.
CREATE OR REPLACE FUNCTION crux.line_items_summarize() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Dynamic SQL, planned for each statement's size: a bulk insert (many
        -- orders) updates their summaries through a hash join, in page order,
        -- instead of one index probe per order in random order.
        bulk := (SELECT count(*) > 10000 FROM new_rows);
        IF bulk THEN
            nestloop := current_setting('enable_nestloop');
            PERFORM set_config('enable_nestloop', 'off', true);
        END IF;
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
        $sql$ INTO r, d, m, n;
        IF bulk THEN
            PERFORM set_config('enable_nestloop', nestloop, true);
        END IF;
        IF r IS NOT NULL THEN
            PERFORM crux.add_order_counts(r, d, m, n);
        END IF;
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        touched := ARRAY(SELECT order_uuid FROM old_rows
                         UNION SELECT order_uuid FROM new_rows);
    ELSE
        touched := ARRAY(SELECT DISTINCT order_uuid FROM old_rows);
    END IF;

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
    RETURN NULL;
END
$$;

-- Orders coming and going, and moving between retailers or days (or changing
-- their uuid): their summary rows follow, and so do the counts.
CREATE OR REPLACE FUNCTION crux.orders_count() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r uuid[];
    d date[];
    m smallint[];
    n bigint[];
    mask smallint;
BEGIN
    IF TG_LEVEL = 'ROW' THEN            -- UPDATE OF uuid, retailer_uuid, created_date
        -- the summary row lock orders this with the line-item triggers
        UPDATE crux.order_summaries s
           SET order_uuid = NEW.uuid, retailer_uuid = NEW.retailer_uuid,
               created_day = (NEW.created_date AT TIME ZONE 'UTC')::date
         WHERE s.order_uuid = OLD.uuid
        RETURNING s.status_mask INTO mask;
        PERFORM crux.add_order_counts(
            ARRAY[OLD.retailer_uuid, NEW.retailer_uuid],
            ARRAY[(OLD.created_date AT TIME ZONE 'UTC')::date,
                  (NEW.created_date AT TIME ZONE 'UTC')::date],
            ARRAY[mask, mask],
            ARRAY[-1, 1]::bigint[]);    -- the same mask, another bucket
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- a new order has no line items yet: an empty summary, mask 0 (inserted in
        -- uuid order: the primary key's pages are then written one after another)
        INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_day)
        SELECT x.uuid, x.retailer_uuid, (x.created_date AT TIME ZONE 'UTC')::date
          FROM new_rows x
         ORDER BY x.uuid;
        SELECT array_agg(g.retailer_uuid), array_agg(g.day), array_agg(0::smallint),
               array_agg(g.n)
          INTO r, d, m, n
          FROM (SELECT x.retailer_uuid, (x.created_date AT TIME ZONE 'UTC')::date AS day,
                       count(*) AS n
                  FROM new_rows x GROUP BY 1, 2) g;
    ELSE
        -- the masks as they are now (the line items' cascaded deletes may have
        -- emptied them already)
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
    END IF;
    IF r IS NOT NULL THEN
        PERFORM crux.add_order_counts(r, d, m, n);
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER orders_count_move ON crux.orders;
CREATE TRIGGER orders_count_move
    AFTER UPDATE OF uuid, retailer_uuid, created_date ON crux.orders
    FOR EACH ROW
    WHEN (OLD.uuid IS DISTINCT FROM NEW.uuid
          OR OLD.retailer_uuid IS DISTINCT FROM NEW.retailer_uuid
          OR OLD.created_date IS DISTINCT FROM NEW.created_date)
    EXECUTE FUNCTION crux.orders_count();

-- The order counts, again (1.1's tables go; they are derived, and recounted at the
-- end of this script). One row per bucket with a count for every status mask:
-- counts[m + 1] orders of the bucket have status mask m. crux.order_counts holds a
-- retailer's months (period = the first day of the month), crux.order_counts_all
-- the days ('d') and months ('m') over all retailers.
--
-- Writers never wait for each other here, as in 1.1: each statement that changes
-- orders adds a row of deltas per bucket; in READ COMMITTED it also folds the
-- existing rows of the buckets it touches into its own (locking them with SKIP
-- LOCKED, so a bucket another writer is folding is simply left for later). A
-- bucket's counts are the element-wise sum of its rows.
DROP FUNCTION crux.move_order_counts(uuid[], date[], smallint[], smallint[]);
DROP TABLE crux.order_counts, crux.order_counts_all;

CREATE FUNCTION crux.mask_counts_add(internal, smallint, bigint) RETURNS internal
AS 'MODULE_PATHNAME', 'crux_mask_counts_add' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION crux.mask_counts_merge(internal, bigint[]) RETURNS internal
AS 'MODULE_PATHNAME', 'crux_mask_counts_merge' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION crux.mask_counts_final(internal) RETURNS bigint[]
AS 'MODULE_PATHNAME', 'crux_mask_counts_final' LANGUAGE C PARALLEL SAFE;
-- n orders more at status mask m, per group; NULL when the group nets to nothing
CREATE AGGREGATE crux.mask_counts(smallint, bigint) (
    SFUNC = crux.mask_counts_add, STYPE = internal, FINALFUNC = crux.mask_counts_final);
-- the element-wise sum of count arrays; NULL when it is all zeros
CREATE AGGREGATE crux.mask_counts(bigint[]) (
    SFUNC = crux.mask_counts_merge, STYPE = internal, FINALFUNC = crux.mask_counts_final);
-- the orders of a count array whose mask matches a status filter (mask 0: all;
-- conjunction 0 or, 1 and, 2 only), for crux_get_orders
CREATE FUNCTION crux.count_matching(bigint[], smallint, smallint) RETURNS bigint
AS 'MODULE_PATHNAME', 'crux_count_matching' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE EXECUTE ON FUNCTION crux.mask_counts_add(internal, smallint, bigint),
                           crux.mask_counts_merge(internal, bigint[]),
                           crux.mask_counts_final(internal),
                           crux.mask_counts(smallint, bigint),
                           crux.mask_counts(bigint[]),
                           crux.count_matching(bigint[], smallint, smallint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.count_matching(bigint[], smallint, smallint) TO crux_reader;

CREATE TABLE crux.order_counts (
    retailer_uuid uuid NOT NULL,
    period date NOT NULL,
    counts bigint[] NOT NULL
);
CREATE INDEX order_counts_bucket_idx ON crux.order_counts (retailer_uuid, period);
CREATE TABLE crux.order_counts_all (
    period_kind "char" NOT NULL,
    period date NOT NULL,
    counts bigint[] NOT NULL
);
CREATE INDEX order_counts_all_bucket_idx ON crux.order_counts_all (period_kind, period);

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
-- folded rows leave dead tuples behind: vacuum often
ALTER TABLE crux.order_counts SET (autovacuum_vacuum_scale_factor = 0.02,
                                   autovacuum_vacuum_insert_scale_factor = 0.02);
ALTER TABLE crux.order_counts_all SET (autovacuum_vacuum_scale_factor = 0.02,
                                       autovacuum_vacuum_insert_scale_factor = 0.02);

-- Adds count deltas: n orders more (or fewer, n < 0) of retailer r, created on UTC
-- day d, with status mask m, to the retailer's month and to the day and month
-- over all retailers. Called by the triggers only.
CREATE OR REPLACE FUNCTION crux.add_order_counts(r uuid[], d date[], m smallint[], n bigint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Recomputes both count tables from crux.orders and their summaries; returns how
-- many buckets were wrong. Writers wait while it runs (it locks the count
-- tables), so that no delta is lost or counted twice.
CREATE OR REPLACE FUNCTION crux.recount_order_counts() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wrong bigint;
    wrong_all bigint;
BEGIN
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

-- Recounts every order's summary from its line items (adding missing summary rows
-- and removing those of orders that are gone), then the order counts: returns how
-- many summaries and count buckets were wrong (0 when everything was exact). For
-- DBAs after restoring data with triggers disabled, and for tests.
CREATE OR REPLACE FUNCTION crux.recount_summaries() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wrong bigint;
BEGIN
    LOCK TABLE crux.order_summaries IN SHARE ROW EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT o.uuid, o.retailer_uuid, (o.created_date AT TIME ZONE 'UTC')::date AS created_day,
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
           SET retailer_uuid = f.retailer_uuid, created_day = f.created_day,
               n_unallocated = f.n_unallocated, n_allocated = f.n_allocated,
               n_rejected = f.n_rejected, n_has_tracking = f.n_has_tracking,
               n_backordered = f.n_backordered, n_delivered = f.n_delivered,
               n_cancelled = f.n_cancelled, min_sku_id = f.min_sku_id
          FROM fresh f
         WHERE s.order_uuid = f.uuid
           AND (s.retailer_uuid, s.created_day, s.n_unallocated, s.n_allocated,
                s.n_rejected, s.n_has_tracking, s.n_backordered, s.n_delivered,
                s.n_cancelled, s.min_sku_id)
               IS DISTINCT FROM
               (f.retailer_uuid, f.created_day, f.n_unallocated, f.n_allocated,
                f.n_rejected, f.n_has_tracking, f.n_backordered, f.n_delivered,
                f.n_cancelled, f.min_sku_id)
        RETURNING 1
    ), added AS (
        INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_day,
                                          n_unallocated, n_allocated, n_rejected,
                                          n_has_tracking, n_backordered, n_delivered,
                                          n_cancelled, min_sku_id)
        SELECT f.uuid, f.retailer_uuid, f.created_day, f.n_unallocated, f.n_allocated,
               f.n_rejected, f.n_has_tracking, f.n_backordered, f.n_delivered,
               f.n_cancelled, f.min_sku_id
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
    RETURN wrong + crux.recount_order_counts();
END
$$;

-- Emptying line items resets every summary, emptying orders removes them all:
-- both recount the counts.
CREATE OR REPLACE FUNCTION crux.line_items_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE crux.order_summaries
       SET n_unallocated = 0, n_allocated = 0, n_rejected = 0, n_has_tracking = 0,
           n_backordered = 0, n_delivered = 0, n_cancelled = 0, min_sku_id = NULL
     WHERE status_mask <> 0 OR min_sku_id IS NOT NULL;
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION crux.orders_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE crux.order_summaries;
    PERFORM crux.recount_order_counts();
    RETURN NULL;
END
$$;

-- The API reads the summaries from their table: new entry points of the library
-- (a database at 1.1 keeps binding the old ones until it is updated).
CREATE OR REPLACE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_1_2'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_1_2'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_slice_1_2'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION crux.export_order_count(jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'crux_export_order_count_1_2'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- Inlinable, as before, and schema-qualified throughout; is_allocated now reads
-- the order's summary row.
CREATE OR REPLACE FUNCTION crux.export_rows(jsonb, bigint, bigint) RETURNS SETOF crux.export_row
LANGUAGE sql STABLE AS $$
    SELECT o.uuid, o.status,
           (s.status_mask OPERATOR(pg_catalog.<>) 0 AND s.n_unallocated OPERATOR(pg_catalog.=) 0),
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
      LEFT JOIN crux.order_summaries s ON s.order_uuid OPERATOR(pg_catalog.=) o.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
     ORDER BY p.n, li.position, li.uuid
$$;

-- The counts of the orders already there (an upgrade from 1.1).
SELECT crux.recount_order_counts();

-- Large exports (the worker's slices): the same rows as crux.export_rows, with
-- the tracking numbers of every line item aggregated once, in one pass joined by
-- hash, instead of a sub-select per line item (about 3 microseconds each). Only
-- for large selections: it aggregates every tracking number the caller sees.
CREATE FUNCTION crux.export_rows_bulk(jsonb, bigint, bigint) RETURNS SETOF crux.export_row
LANGUAGE sql STABLE AS $$
    SELECT o.uuid, o.status,
           (s.status_mask OPERATOR(pg_catalog.<>) 0 AND s.n_unallocated OPERATOR(pg_catalog.=) 0),
           o.purchase_order_id, o.created_date, o.notes, o.estimated_shipping_cost,
           o.drop_ship_fee, o.order_fee, r.name, o.retailer_uuid, u.name, u.email,
           o.address_name, o.address_business_name, o.address_address1,
           o.address_address2, o.address_city, o.address_state, o.address_postal_code,
           o.address_phone_number, o.shipping_carrier, o.shipping_method,
           li.uuid, li.status, li.item_uuid, li.item_name, li.sku_uuid, li.sku_id,
           li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,
           li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,
           li.quantity_rejected, li.backorder_date, tr.tracking_numbers
      FROM crux.export_order_uuids($1, $2, $3) WITH ORDINALITY AS p(uuid, n)
      JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid
      LEFT JOIN crux.order_summaries s ON s.order_uuid OPERATOR(pg_catalog.=) o.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
      LEFT JOIN (SELECT t.line_item_uuid,
                        pg_catalog.string_agg(t.tracking_number, '; '
                            ORDER BY t.shipping_date NULLS LAST,
                                     t.tracking_number COLLATE pg_catalog."C", t.uuid)
                            AS tracking_numbers
                   FROM crux.tracking_numbers t
                  GROUP BY t.line_item_uuid) tr
        ON tr.line_item_uuid OPERATOR(pg_catalog.=) li.uuid
     ORDER BY p.n, li.position, li.uuid
$$;
REVOKE EXECUTE ON FUNCTION crux.export_rows_bulk(jsonb, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.export_rows_bulk(jsonb, bigint, bigint) TO crux_reader;
