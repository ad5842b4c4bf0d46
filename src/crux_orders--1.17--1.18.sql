-- crux_orders 1.17 -> 1.18: each order's summary carries the order's status
-- (crux.order_summaries.status, kept by the orders' triggers and the held
-- summaries), and the status sort's indexes move from the orders to the summaries,
-- where they hold each order's status mask and created_date too: a page under the
-- status sort walks them and tests a status filter and a date range index-only,
-- instead of probing each walked order's summary.
--
-- The update writes every summary once (their orders' statuses) and builds the
-- indexes: writes to orders and line items wait meanwhile (46 s for a million
-- orders on the benchmark machine), and so do reads of the summaries, and reads
-- of the orders for its last steps.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.18'" to load this file. \quit

-- writers of orders and line items wait (none changes a status the copy below
-- would miss); the summaries this transaction holds back are written first, as
-- 1.17 wrote them
LOCK TABLE crux.orders, crux.line_items IN SHARE ROW EXCLUSIVE MODE;
SELECT crux.write_pending_summaries();

-- a summary left without its order (deleted with the triggers off) gets an empty
-- status; crux.recount_summaries() removes it
ALTER TABLE crux.order_summaries ADD COLUMN status text COLLATE pg_catalog."C";
UPDATE crux.order_summaries s SET status = o.status
  FROM crux.orders o WHERE o.uuid OPERATOR(pg_catalog.=) s.order_uuid;
UPDATE crux.order_summaries s SET status = '' WHERE s.status IS NULL;
ALTER TABLE crux.order_summaries ALTER COLUMN status SET NOT NULL;
CREATE INDEX order_summaries_retailer_status_idx ON crux.order_summaries
    USING btree (retailer_uuid, status, order_uuid) INCLUDE (status_mask, created_date);
CREATE INDEX order_summaries_status_idx ON crux.order_summaries
    USING btree (status, order_uuid) INCLUDE (status_mask, created_date);
DROP INDEX crux.orders_retailer_status_idx, crux.orders_status_idx;

-- the held summaries' status comes with them
DROP FUNCTION crux.take_pending_summaries(uuid[]);
CREATE FUNCTION crux.take_pending_summaries(orders uuid[], OUT order_uuid uuid, OUT retailer_uuid uuid, OUT created_date timestamp with time zone, OUT status text) RETURNS SETOF record
    LANGUAGE c ROWS 1000
    AS 'MODULE_PATHNAME', 'crux_take_pending_summaries';
REVOKE ALL ON FUNCTION crux.take_pending_summaries(uuid[]) FROM PUBLIC;

-- the triggers and the recount write and check it; a statement's changes of
-- orders' statuses are copied by a statement trigger
CREATE OR REPLACE FUNCTION crux.line_items_summarize() RETURNS trigger
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

CREATE OR REPLACE FUNCTION crux.orders_count() RETURNS trigger
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

CREATE OR REPLACE FUNCTION crux.recount_summaries() RETURNS bigint
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

CREATE TRIGGER orders_copy_status AFTER UPDATE ON crux.orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_copy_status();
