-- pgbench: change the statuses of two hot orders' line items in one statement
\set a random(1, :hot)
\set b random(1, :hot)
\set s random(1, 7)
UPDATE crux.line_items SET status = (enum_range(NULL::crux.line_item_status))[:s]
 WHERE order_uuid IN (md5('order-' || :a)::uuid, md5('order-' || :b)::uuid);
