-- crux_orders 1.9 -> 1.10: a term's matches read from the sku_id index alone; the
-- line items of a page's orders read without probing their orders again.
--
-- The line items' sku_id index holds each line item's order (INCLUDE (order_uuid)),
-- so that a term naming a SKU held by thousands of orders finds them index-only,
-- without reading the line items. The index is built anew: the update takes a
-- lock on crux.line_items that blocks writes (not reads) while it builds, about as
-- long as CREATE INDEX on that table takes.
--
-- The line items' policy first tests crux.order_in_page(order_uuid), true only
-- while crux_get_orders reads the details of the orders it has just read through
-- row-level security (only for those, and only for the role that read them), then,
-- as before, probes the order; writes are checked by the probe alone (WITH CHECK).

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.10'" to load this file. \quit

DROP INDEX crux.line_items_sku_id_idx;
CREATE INDEX line_items_sku_id_idx ON crux.line_items USING btree (sku_id) INCLUDE (order_uuid);

CREATE FUNCTION crux.order_in_page(uuid) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_order_in_page';
REVOKE ALL ON FUNCTION crux.order_in_page(uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.order_in_page(uuid) TO crux_reader;

ALTER POLICY organization ON crux.line_items
    USING (crux.order_in_page(order_uuid)
           OR EXISTS (SELECT FROM crux.orders o WHERE o.uuid = line_items.order_uuid OFFSET 0))
    WITH CHECK (EXISTS (SELECT FROM crux.orders o WHERE o.uuid = line_items.order_uuid OFFSET 0));
