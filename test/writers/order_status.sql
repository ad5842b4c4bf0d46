-- pgbench: change the status of a hot order (its summary's copy follows)
\set a random(1, :hot)
\set s random(1, 4)
UPDATE crux.orders SET status = (ARRAY['New', 'Pending', 'Complete', 'Cancelled'])[:s]
 WHERE uuid = md5('order-' || :a)::uuid;
