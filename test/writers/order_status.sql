-- pgbench: change the status of three hot orders in one statement (their
-- summaries' copies follow, locked in uuid order as the line-item triggers lock them)
\set a random(1, :hot)
\set b random(1, :hot)
\set c random(1, :hot)
\set s random(1, 4)
UPDATE crux.orders SET status = (ARRAY['New', 'Pending', 'Complete', 'Cancelled'])[:s]
 WHERE uuid IN (md5('order-' || :a)::uuid, md5('order-' || :b)::uuid, md5('order-' || :c)::uuid);
