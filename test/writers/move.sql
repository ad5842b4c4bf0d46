-- pgbench: move a line item from one hot order to another
\set a random(1, :hot)
\set b random(1, :hot)
UPDATE crux.line_items SET order_uuid = md5('order-' || :b)::uuid
 WHERE order_uuid = md5('order-' || :a)::uuid AND position = 4;
