-- crux_orders 1.15 -> 1.16: the summaries gain an index by retailer and order, with
-- each order's status mask, which the uuid sort with a status filter walks. The
-- update builds it: the summaries take no writes while it runs.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.16'" to load this file. \quit

CREATE INDEX order_summaries_retailer_order_uuid_idx ON crux.order_summaries
    USING btree (retailer_uuid, order_uuid) INCLUDE (status_mask);
