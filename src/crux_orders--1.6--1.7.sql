-- crux_orders 1.6 -> 1.7: a status filter sorted by date or sku_id reads one index.
--
-- An order's summary row now carries the order's created_date, and the summaries'
-- day indexes include it: a status filter sorted by date walks the day index in
-- the sort's direction, tests the status masks and orders each day's matches by
-- their created_date without reading the orders, and the counts of the partial
-- days at a date range's ends test the masks index-only too. The sku_id indexes
-- include the status mask.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.7'" to load this file. \quit

ALTER TABLE crux.order_summaries ADD COLUMN created_date timestamptz;
UPDATE crux.order_summaries s SET created_date = o.created_date
  FROM crux.orders o WHERE o.uuid = s.order_uuid;
ALTER TABLE crux.order_summaries ALTER COLUMN created_date SET NOT NULL;

-- over all retailers (an admin) and per retailer (a tenant, an organization of
-- org_uuids; also the count of a tenant's whole days): the walk stays index-only
DROP INDEX crux.order_summaries_day_idx;
CREATE INDEX order_summaries_day_idx
    ON crux.order_summaries (created_day, status_mask) INCLUDE (order_uuid, created_date)
    WHERE status_mask OPERATOR(pg_catalog.<>) 0;
DROP INDEX crux.order_summaries_retailer_day_idx;
CREATE INDEX order_summaries_retailer_day_idx
    ON crux.order_summaries (retailer_uuid, created_day, status_mask)
    INCLUDE (order_uuid, created_date)
    WHERE status_mask OPERATOR(pg_catalog.<>) 0;

-- the sku_id sort with a status filter: the masks tested index-only, per retailer
-- and over all retailers
DROP INDEX crux.order_summaries_retailer_min_sku_id_idx;
CREATE INDEX order_summaries_retailer_min_sku_id_idx
    ON crux.order_summaries (retailer_uuid, min_sku_id, order_uuid) INCLUDE (status_mask);
DROP INDEX crux.order_summaries_min_sku_id_idx;
CREATE INDEX order_summaries_min_sku_id_idx
    ON crux.order_summaries (min_sku_id, order_uuid) INCLUDE (status_mask);

-- Orders coming and going, and moving between retailers or days (or changing
-- their uuid): their summary rows follow, with the order's created_date, and so do
-- the counts.
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
               created_date = NEW.created_date,
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
        INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_date,
                                          created_day)
        SELECT x.uuid, x.retailer_uuid, x.created_date,
               (x.created_date AT TIME ZONE 'UTC')::date
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

-- Checks every summary row against the orders and line items, created_date
-- included, and fixes what differs; returns how many rows (and buckets) were wrong.
CREATE OR REPLACE FUNCTION crux.recount_summaries() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wrong bigint;
BEGIN
    LOCK TABLE crux.order_summaries IN SHARE ROW EXCLUSIVE MODE;
    WITH fresh AS (
        SELECT o.uuid, o.retailer_uuid, o.created_date,
               (o.created_date AT TIME ZONE 'UTC')::date AS created_day,
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
               n_cancelled = f.n_cancelled, min_sku_id = f.min_sku_id
          FROM fresh f
         WHERE s.order_uuid = f.uuid
           AND (s.retailer_uuid, s.created_date, s.created_day, s.n_unallocated, s.n_allocated,
                s.n_rejected, s.n_has_tracking, s.n_backordered, s.n_delivered,
                s.n_cancelled, s.min_sku_id)
               IS DISTINCT FROM
               (f.retailer_uuid, f.created_date, f.created_day, f.n_unallocated, f.n_allocated,
                f.n_rejected, f.n_has_tracking, f.n_backordered, f.n_delivered,
                f.n_cancelled, f.min_sku_id)
        RETURNING 1
    ), added AS (
        INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_date, created_day,
                                          n_unallocated, n_allocated, n_rejected,
                                          n_has_tracking, n_backordered, n_delivered,
                                          n_cancelled, min_sku_id)
        SELECT f.uuid, f.retailer_uuid, f.created_date, f.created_day, f.n_unallocated, f.n_allocated,
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

-- The API reads the created_date of the summaries: new entry points of the library
-- (a database at 1.6 keeps binding the old ones until it is updated).
CREATE OR REPLACE FUNCTION @extschema@.crux_get_orders(jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'crux_get_orders_1_7'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_1_7'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) RETURNS SETOF uuid
AS 'MODULE_PATHNAME', 'crux_export_order_uuids_slice_1_7'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
CREATE OR REPLACE FUNCTION crux.export_order_count(jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'crux_export_order_count_1_7'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
