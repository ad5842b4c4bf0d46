-- crux_orders 1.5 -> 1.6: every retailer's pages cost what its own orders cost.
--
-- A page of crux_get_orders walks an index in the order of its sort and stops at
-- the page's end. For a tenant (row-level security's retailer test) and for an
-- admin naming organizations in org_uuids, that walk now starts at the retailer:
-- each sort key has an index that leads with retailer_uuid, so a retailer with a
-- few orders reads a few index entries, not every retailer's entries filtered by
-- its own. The date sort already had one (orders_retailer_date_idx).
-- The API functions run their queries with jit off: their generic plans are
-- costed high enough to be compiled on every call, which costs more than the
-- short index walks they run.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.6'" to load this file. \quit

-- the status sort, per retailer
CREATE INDEX orders_retailer_status_idx
    ON crux.orders (retailer_uuid, status COLLATE "C", uuid);
-- the uuid sort, per retailer
CREATE INDEX orders_retailer_uuid_idx ON crux.orders (retailer_uuid, uuid);
-- the sku_id sort, per retailer (orders without line items have NULL and sort
-- last ascending, first descending, as in the global index)
CREATE INDEX order_summaries_retailer_min_sku_id_idx
    ON crux.order_summaries (retailer_uuid, min_sku_id, order_uuid);

-- a sparse status filter ("only", "and" of several statuses) sorted by date, for
-- those who see every retailer: the day index walked and the masks tested
-- index-only
CREATE INDEX order_summaries_day_idx
    ON crux.order_summaries (created_day, status_mask) INCLUDE (order_uuid)
    WHERE status_mask OPERATOR(pg_catalog.<>) 0;
-- the same per retailer, which also counts a tenant's days: the order's uuid is
-- included so that the walk stays index-only until an order matches
DROP INDEX crux.order_summaries_retailer_day_idx;
CREATE INDEX order_summaries_retailer_day_idx
    ON crux.order_summaries (retailer_uuid, created_day, status_mask) INCLUDE (order_uuid)
    WHERE status_mask OPERATOR(pg_catalog.<>) 0;

ALTER FUNCTION @extschema@.crux_get_orders(jsonb) SET jit = off;
ALTER FUNCTION crux.export_order_uuids(jsonb) SET jit = off;
ALTER FUNCTION crux.export_order_uuids(jsonb, bigint, bigint) SET jit = off;
ALTER FUNCTION crux.export_order_count(jsonb) SET jit = off;

-- A tenant sees a line item when it sees its order, and a tracking number when it
-- sees its line item: one index probe per row. As a plain EXISTS the planner may
-- instead hash every row the tenant sees (a third of all orders, for the biggest
-- retailer) to check a few dozen line items, estimating the tenant's share at
-- one retailer's average; OFFSET 0 keeps the probe.
ALTER POLICY organization ON crux.line_items
    USING (EXISTS (SELECT FROM crux.orders o
                    WHERE o.uuid OPERATOR(pg_catalog.=) order_uuid OFFSET 0));
ALTER POLICY organization ON crux.tracking_numbers
    USING (EXISTS (SELECT FROM crux.line_items li
                    WHERE li.uuid OPERATOR(pg_catalog.=) line_item_uuid OFFSET 0));

-- The organization the current role acts for, which every policy compares with:
-- the same rules as before (claims for claim-carrying roles, the role's mapping
-- otherwise, NULL for anything missing or malformed), in C, one kept plan a call
-- and no subtransaction; a tenant's call of crux_get_orders evaluates it about ten
-- times, once per table each query reads.
CREATE OR REPLACE FUNCTION crux.acting_organization() RETURNS uuid
AS 'MODULE_PATHNAME', 'crux_acting_organization'
LANGUAGE C STABLE;
