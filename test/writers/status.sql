-- pgbench: change the status of one line item of a hot order (-D hot=N)
\set o random(1, :hot)
\set p random(1, 4)
\set s random(1, 7)
UPDATE crux.line_items SET status = (enum_range(NULL::crux.line_item_status))[:s]
 WHERE order_uuid = md5('order-' || :o)::uuid AND position = :p;
