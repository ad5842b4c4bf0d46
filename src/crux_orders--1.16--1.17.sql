-- crux_orders 1.16 -> 1.17: the sorts' indexes carry each order's created_date
-- (the orders' by retailer and status, by retailer and uuid, and by status; the
-- summaries' by min_sku_id, beside the status mask they carried), so that a page
-- with a date range under the status, uuid or sku_id sort walks its index testing
-- the range index-only. The update rebuilds these five indexes: the orders and
-- their summaries take no writes while it runs (about 10 seconds per million
-- orders).

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.17'" to load this file. \quit

DROP INDEX crux.orders_retailer_status_idx;
CREATE INDEX orders_retailer_status_idx ON crux.orders
    USING btree (retailer_uuid, status COLLATE "C", uuid) INCLUDE (created_date);
DROP INDEX crux.orders_retailer_uuid_idx;
CREATE INDEX orders_retailer_uuid_idx ON crux.orders
    USING btree (retailer_uuid, uuid) INCLUDE (created_date);
DROP INDEX crux.orders_status_idx;
CREATE INDEX orders_status_idx ON crux.orders
    USING btree (status COLLATE "C", uuid) INCLUDE (created_date);
DROP INDEX crux.order_summaries_min_sku_id_idx;
CREATE INDEX order_summaries_min_sku_id_idx ON crux.order_summaries
    USING btree (min_sku_id, order_uuid) INCLUDE (status_mask, created_date);
DROP INDEX crux.order_summaries_retailer_min_sku_id_idx;
CREATE INDEX order_summaries_retailer_min_sku_id_idx ON crux.order_summaries
    USING btree (retailer_uuid, min_sku_id, order_uuid) INCLUDE (status_mask, created_date);
