-- crux_orders 1.18 -> 1.19: the summaries' index by retailer and order holds each
-- order's created_date beside its status mask, so that a page of the uuid sort with
-- a status filter and a date range walks it and tests both index-only, where 1.18
-- read the orders in the range and probed each one's summary. The update builds
-- the index again: the summaries take no writes while it runs (about 2 s per
-- million orders on the benchmark machine).

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.19'" to load this file. \quit

DROP INDEX crux.order_summaries_retailer_order_uuid_idx;
CREATE INDEX order_summaries_retailer_order_uuid_idx ON crux.order_summaries
    USING btree (retailer_uuid, order_uuid) INCLUDE (status_mask, created_date);
