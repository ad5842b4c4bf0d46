-- crux_orders 1.9 -> 1.10: a term's matches read from the sku_id index alone.
--
-- The line items' sku_id index holds each line item's order (INCLUDE (order_uuid)),
-- so that a term naming a SKU held by thousands of orders finds them index-only,
-- without reading the line items. The index is built anew: the update takes a
-- lock on crux.line_items that blocks writes (not reads) while it builds, about as
-- long as CREATE INDEX on that table takes.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.10'" to load this file. \quit

DROP INDEX crux.line_items_sku_id_idx;
CREATE INDEX line_items_sku_id_idx ON crux.line_items USING btree (sku_id) INCLUDE (order_uuid);
