-- crux_orders 1.3 -> 1.4: faster exports (issue #5).
--
-- An export row's tracking numbers were a sub-select per line item: a B-tree
-- descent into crux.tracking_numbers and an ordered aggregate each time, about
-- 4 microseconds, the largest single cost of an export (45% of it at 1,000,000
-- orders). crux.line_item_tracking(uuid) gives the same text: it looks the first
-- line items of a query up one by one, then, past crux_orders.export_tracking_lookups
-- of them, reads every tracking number the caller can see once into memory (within
-- work_mem * hash_mem_multiplier) and answers from there.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.4'" to load this file. \quit

-- a line item's tracking numbers joined by '; ', by shipping date (none last),
-- tracking number (bytewise) and uuid; NULL when it has none. expected_calls: how
-- many line items the calling query will ask for, when known (then a large query
-- reads the tracking numbers into memory at its first call).
CREATE FUNCTION crux.line_item_tracking(line_item uuid, expected_calls bigint DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'crux_line_item_tracking'
LANGUAGE C STABLE;
REVOKE EXECUTE ON FUNCTION crux.line_item_tracking(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.line_item_tracking(uuid, bigint) TO crux_reader;

-- Inlinable, as before, and schema-qualified throughout.
CREATE OR REPLACE FUNCTION crux.export_rows(jsonb, bigint, bigint) RETURNS SETOF crux.export_row
LANGUAGE sql STABLE AS $$
    SELECT o.uuid, o.status,
           -- is_allocated (line items, none unallocated) from the order's own rows:
           -- no probe of its summary
           (pg_catalog.count(li.uuid) OVER w OPERATOR(pg_catalog.>) 0
            AND NOT pg_catalog.bool_or(li.status OPERATOR(pg_catalog.=) 'unallocated') OVER w),
           o.purchase_order_id, o.created_date, o.notes, o.estimated_shipping_cost,
           o.drop_ship_fee, o.order_fee, r.name, o.retailer_uuid, u.name, u.email,
           o.address_name, o.address_business_name, o.address_address1,
           o.address_address2, o.address_city, o.address_state, o.address_postal_code,
           o.address_phone_number, o.shipping_carrier, o.shipping_method,
           li.uuid, li.status, li.item_uuid, li.item_name, li.sku_uuid, li.sku_id,
           li.sku_name, li.cost, li.supplier_uuid, li.supplier_name,
           li.quantity_ordered, li.quantity_allocated, li.quantity_backordered,
           li.quantity_rejected, li.backorder_date,
           -- a slice of $3 orders asks for at least $3 line items' tracking numbers
           crux.line_item_tracking(li.uuid, $3)
      FROM crux.export_order_uuids($1, $2, $3) WITH ORDINALITY AS p(uuid, n)
      JOIN crux.orders o ON o.uuid OPERATOR(pg_catalog.=) p.uuid
      LEFT JOIN crux.organizations r ON r.uuid OPERATOR(pg_catalog.=) o.retailer_uuid
      LEFT JOIN crux.users u ON u.uuid OPERATOR(pg_catalog.=) o.user_uuid
      LEFT JOIN crux.line_items li ON li.order_uuid OPERATOR(pg_catalog.=) o.uuid
    WINDOW w AS (PARTITION BY p.n)
     ORDER BY p.n, li.position, li.uuid
$$;
