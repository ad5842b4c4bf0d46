-- crux_orders 1.2 -> 1.3: cheaper bulk loads (issue #4).
--
-- A new order's summary row (mask 0: no line items yet) is written when the order
-- is inserted and again when its line items arrive. Up to 1.2 the first version
-- also went into the index (retailer_uuid, created_day, status_mask), at one of a
-- hundred retailers' insertion points per row: about 2 s of every million orders
-- loaded. The index serves only counts with a status filter, and a status filter
-- never matches mask 0, so from 1.3 on it holds the summaries of orders that have
-- line items. Counts without a status filter read crux.orders' own index
-- (retailer_uuid, created_date, uuid) instead.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.3'" to load this file. \quit

DROP INDEX crux.order_summaries_retailer_day_idx;
-- a tenant's orders of some days, by status mask, counted index-only (the parts of
-- a date range outside whole months) for a status filter; mask 0 never matches one
CREATE INDEX order_summaries_retailer_day_idx
    ON crux.order_summaries (retailer_uuid, created_day, status_mask)
    WHERE status_mask OPERATOR(pg_catalog.<>) 0;

-- crux.export_rows_bulk (1.2) was meant for the export worker's slices: the same
-- rows as crux.export_rows, the tracking numbers aggregated once and joined by hash.
-- Measured at 1,000,000 orders it was slower (41.8 s against 24.4 s for the whole
-- export in two slices): hash joins over whole tables and an external sort of the
-- wide rows cost more than the sub-select per line item saves. The worker no longer
-- uses it; 1.3 drops it.
DROP FUNCTION crux.export_rows_bulk(jsonb, bigint, bigint);
