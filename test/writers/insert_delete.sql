-- pgbench: add a line item to a hot order, then delete it again
\set o random(1, :hot)
INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered, status)
VALUES (md5('order-' || :o)::uuid, 'A-' || :o, 1, 'backordered');
DELETE FROM crux.line_items WHERE order_uuid = md5('order-' || :o)::uuid AND sku_id = 'A-' || :o;
