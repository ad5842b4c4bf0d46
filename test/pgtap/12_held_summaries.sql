-- Summaries held for their line items (versions 1.14 and 1.15): a top-level
-- statement's new orders' summaries wait in memory and are written once, with
-- their line items' counts, and their orders are counted then (1.15); whatever
-- reads or changes the summaries first writes those still held; the deferred
-- trigger of crux.pending_summaries writes the rest at commit, or at SET
-- CONSTRAINTS ... IMMEDIATE, as here (pg_prove runs this file in one
-- transaction). Savepoints, subtransactions, work_mem, immediate constraints, a
-- writer through row-level security, and the functions' guards.
BEGIN;
SELECT plan(35);

-- the summaries of the orders of a purchase_order_id prefix, and those among them
-- that differ from their line items (a missing summary is not counted here)
CREATE FUNCTION pg_temp.summaries(prefix text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM crux.order_summaries s JOIN crux.orders o ON o.uuid = s.order_uuid
     WHERE o.purchase_order_id LIKE prefix || '-%'
$$;
CREATE FUNCTION pg_temp.drift(prefix text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
      FROM crux.orders o JOIN crux.order_summaries s ON s.order_uuid = o.uuid
      LEFT JOIN LATERAL (
          SELECT count(*) FILTER (WHERE li.status = 'unallocated')::int AS u,
                 count(*) FILTER (WHERE li.status = 'allocated')::int AS a,
                 count(*) FILTER (WHERE li.status = 'rejected')::int AS r,
                 count(*) FILTER (WHERE li.status = 'has_tracking')::int AS h,
                 count(*) FILTER (WHERE li.status = 'backordered')::int AS b,
                 count(*) FILTER (WHERE li.status = 'delivered')::int AS d,
                 count(*) FILTER (WHERE li.status = 'cancelled')::int AS c,
                 min(li.sku_id COLLATE "C") AS m
            FROM crux.line_items li WHERE li.order_uuid = o.uuid) f ON true
     WHERE o.purchase_order_id LIKE prefix || '-%'
       AND (s.retailer_uuid, s.created_date, s.created_day, s.n_unallocated, s.n_allocated,
            s.n_rejected, s.n_has_tracking, s.n_backordered, s.n_delivered, s.n_cancelled,
            s.min_sku_id, s.status)
           IS DISTINCT FROM
           (o.retailer_uuid, o.created_date, (o.created_date AT TIME ZONE 'UTC')::date,
            f.u, f.a, f.r, f.h, f.b, f.d, f.c, f.m, o.status)
$$;
-- n orders of retailer 2 named prefix-1 .. prefix-n, an hour apart from 2017-06-01
CREATE FUNCTION pg_temp.new_orders(prefix text, n int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
    SELECT md5(prefix || g)::uuid, md5('org-2')::uuid, prefix || '-' || g,
           timestamptz '2017-06-01 00:30:00+00' + g * interval '1 hour'
      FROM generate_series(1, n) g
$$;
-- two line items (statuses and SKUs varying) for each of prefix-first .. prefix-last
CREATE FUNCTION pg_temp.new_line_items(prefix text, first int, last int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
    SELECT md5(prefix || g)::uuid,
           (enum_range(NULL::crux.line_item_status))[1 + (g + k) % 7],
           'HS-' || ((g * 7 + k) % 13), 1
      FROM generate_series(first, last) g, generate_series(1, 2) k
$$;
-- retailer 2's orders in crux.order_counts, all of them and those with mask 0,
-- plus more and more_mask_0; counted(): as they are
CREATE FUNCTION pg_temp.counted_plus(more int, more_mask_0 int) RETURNS text LANGUAGE sql AS $$
    SELECT (sum(c.n) + more, sum(c.n) FILTER (WHERE c.mask = 1) + more_mask_0)::text
      FROM crux.order_counts k, unnest(k.counts) WITH ORDINALITY AS c(n, mask)
     WHERE k.retailer_uuid = md5('org-2')::uuid
$$;
CREATE FUNCTION pg_temp.counted() RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.counted_plus(0, 0)
$$;
CREATE TEMP VIEW summary_writes AS
SELECT n_tup_ins AS inserted, n_tup_upd AS updated
  FROM pg_stat_xact_user_tables WHERE relid = 'crux.order_summaries'::regclass;

-- a top-level INSERT of orders holds their summaries
SELECT pg_temp.counted() AS counted_before, pg_temp.counted_plus(200, 0) AS counted_taken,
       pg_temp.counted_plus(300, 100) AS counted_after \gset
SELECT pg_temp.new_orders('HA', 300);
SELECT is(pg_temp.counted(), :'counted_before',
          'the held orders are not counted yet: they are counted when their summaries are written');
SELECT is(pg_temp.summaries('HA'), 0::bigint,
          'a top-level INSERT of 300 orders writes none of their summaries yet');
SELECT is((SELECT count(*) FROM crux.pending_summaries), 1::bigint,
          'and queues their write at commit: one row of crux.pending_summaries');
SELECT ok((SELECT bool_or(mode = 'RowExclusiveLock') FROM pg_locks
            WHERE pid = pg_backend_pid() AND relation = 'crux.order_summaries'::regclass),
          'it takes the lock on the summaries that writing them would take (a recount waits for it)');

-- their line items write them once, with their counts
SELECT inserted AS ins0, updated AS upd0 FROM summary_writes \gset
SELECT pg_temp.new_line_items('HA', 1, 200);
SELECT is((SELECT (inserted - :ins0, updated - :upd0) FROM summary_writes)::text, '(200,0)',
          'line items for 200 of them write their 200 summaries once: inserted, never updated');
SELECT is(pg_temp.summaries('HA'), 200::bigint, 'those 200 summaries exist');
SELECT is(pg_temp.drift('HA'), 0::bigint, 'with their line items'' counts, retailer and day');
SELECT is(pg_temp.counted(), :'counted_taken',
          'and counted once, with their masks: 200 more orders, none with mask 0');

-- a request in the same transaction counts and pages the orders still held
SELECT is((crux_get_orders(jsonb_build_object(
               'org_uuids', jsonb_build_array(md5('org-2')::uuid),
               'start_date', '2017-06-01', 'end_date', '2017-07-01')) ->> 'total_results')::bigint,
          (SELECT count(*) FROM crux.orders
            WHERE retailer_uuid = md5('org-2')::uuid
              AND created_date >= '2017-06-01' AND created_date < '2017-07-01'),
          'crux_get_orders in the same transaction counts the orders whose summaries were held');
SELECT ok((SELECT bool_or(o ->> 'purchase_order_id' = 'HA-299')
             FROM jsonb_array_elements(crux_get_orders(
                      '{"sort": {"key": "sku_id", "dir": "desc"}, "limit": 1000}') -> 'orders') o),
          'and pages them (an order without line items first under sku_id descending)');
SELECT is(pg_temp.summaries('HA'), 300::bigint, 'it wrote the 100 still held first, empty');
SELECT is(pg_temp.drift('HA'), 0::bigint, 'and exact');
SELECT is(pg_temp.counted(), :'counted_after',
          'and counted them with mask 0: 300 orders more in all, 100 with mask 0');

-- the request's first query writes them, and every query of the request sees them
SELECT pg_temp.new_orders('HH', 3);
SELECT is((SELECT (r ->> 'total_results', jsonb_array_length(r -> 'orders'),
                   r -> 'orders' -> 0 ->> 'purchase_order_id')::text
             FROM crux_get_orders('{"term": "HH-2"}') r),
          '(1,1,HH-2)', 'a term''s count and page find an order whose summary was held');

-- a savepoint rolled back gives back what its line items took; one released keeps it
SELECT pg_temp.new_orders('HB', 100);
SAVEPOINT taking;
SELECT pg_temp.new_line_items('HB', 1, 50);
SELECT is(pg_temp.summaries('HB'), 50::bigint, 'line items in a savepoint take 50 held summaries');
ROLLBACK TO SAVEPOINT taking;
RELEASE SAVEPOINT taking;
SELECT is(pg_temp.summaries('HB'), 0::bigint, 'rolled back, the summaries are gone with them');
SELECT pg_temp.new_line_items('HB', 1, 50);
SELECT is(pg_temp.summaries('HB'), 50::bigint,
          'and held again: line items at the top level then take them');
SAVEPOINT keeping;
SELECT pg_temp.new_line_items('HB', 51, 60);
RELEASE SAVEPOINT keeping;
SELECT is(pg_temp.summaries('HB'), 60::bigint, 'a released savepoint keeps the 10 it took');

-- the deferred trigger writes the rest once and deletes its rows
SELECT inserted AS ins1 FROM summary_writes \gset
SET CONSTRAINTS crux.pending_summaries_at_commit IMMEDIATE;
SET CONSTRAINTS crux.pending_summaries_at_commit DEFERRED;
SELECT is((SELECT inserted - :ins1 FROM summary_writes), 40::bigint,
          'the deferred trigger writes the 40 summaries still held, once');
SELECT is(pg_temp.summaries('HB'), 100::bigint, 'every order of the statement has its summary');
SELECT is((SELECT count(*) FROM crux.pending_summaries), 0::bigint,
          'and crux.pending_summaries is empty again');

-- moving and deleting orders whose summaries are held, an upsert of line items
SELECT pg_temp.new_orders('HC', 10);
UPDATE crux.orders SET created_date = created_date + interval '40 days'
 WHERE purchase_order_id = 'HC-1';
DELETE FROM crux.orders WHERE purchase_order_id = 'HC-2';
INSERT INTO crux.line_items (uuid, order_uuid, status, sku_id, quantity_ordered)
VALUES (md5('HC-line')::uuid, md5('HC3')::uuid, 'allocated', 'HS-1', 1)
ON CONFLICT (uuid) DO UPDATE SET quantity_ordered = 2;
SELECT is(pg_temp.summaries('HC'), 2::bigint,
          'moving, deleting and upserting line items write only those orders'' held summaries');
SELECT pg_temp.new_line_items('HC', 3, 5);
SELECT is(crux.recount_summaries(), 0::bigint,
          'moving and deleting orders whose summaries are held leaves every summary and count exact');

-- what is not held: a subtransaction's orders, more than work_mem, immediate constraints
SAVEPOINT inner_level;
SELECT pg_temp.counted_plus(5, 5) AS counted_after \gset
SELECT pg_temp.new_orders('HD', 5);
SELECT is(pg_temp.summaries('HD'), 5::bigint,
          'in a subtransaction, an INSERT of orders writes their summaries at once');
SELECT is(pg_temp.counted(), :'counted_after', 'and counts the orders at once, with mask 0');
RELEASE SAVEPOINT inner_level;
SET LOCAL work_mem = '64kB';
SELECT pg_temp.new_orders('HE', 2000);
SELECT is(pg_temp.summaries('HE'), 2000::bigint,
          '2,000 orders that do not fit in work_mem (64kB) get their summaries at once');
RESET work_mem;
SET CONSTRAINTS ALL IMMEDIATE;
SELECT pg_temp.new_orders('HF', 5);
SELECT is(pg_temp.summaries('HF'), 5::bigint,
          'with the constraints immediate, the summaries are written within the statement');
SET CONSTRAINTS ALL DEFERRED;

-- a writer through row-level security, without any right on the functions
CREATE ROLE t_held_writer NOLOGIN;
GRANT crux_reader TO t_held_writer;
GRANT INSERT ON crux.orders, crux.line_items TO t_held_writer;
INSERT INTO crux.role_organizations (role_name, organization_uuid)
VALUES ('t_held_writer', md5('org-3')::uuid);
SET LOCAL ROLE t_held_writer;
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id)
SELECT md5('HG' || g)::uuid, md5('org-3')::uuid, 'HG-' || g FROM generate_series(1, 5) g;
SELECT is((crux_get_orders('{"term": "HG-4"}') ->> 'total_results')::int, 1,
          'a tenant that inserted orders finds them with crux_get_orders in the same transaction');
SELECT throws_ok('SELECT crux.write_pending_summaries()', '42501', NULL,
                 'but may not call crux.write_pending_summaries() itself');
SELECT throws_ok($$SELECT * FROM crux.take_pending_summaries(ARRAY[md5('HG1')::uuid])$$, '42501', NULL,
                 'nor take held summaries');
CREATE TEMP TABLE t_own (uuid uuid, retailer_uuid uuid, created_date timestamptz);
SELECT throws_ok($$CREATE TRIGGER t_own AFTER INSERT ON t_own REFERENCING NEW TABLE AS new_rows
                   FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_hold_summaries()$$, '42501', NULL,
                 'nor put the holding trigger on a table of its own');
RESET ROLE;
CREATE TEMP TABLE t_fake (uuid uuid, retailer_uuid uuid, created_date timestamptz);
CREATE TRIGGER t_fake AFTER INSERT ON t_fake REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_hold_summaries();
SELECT throws_ok($$INSERT INTO t_fake VALUES (md5('fake')::uuid, md5('org-1')::uuid, now())$$,
                 '39P01', 'function called in a context it was not declared for',
                 'on another table, even a superuser''s, the trigger refuses to run');
SAVEPOINT count_insert;
CREATE TRIGGER t_count_insert AFTER INSERT ON crux.orders REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION crux.orders_count();
SELECT throws_ok($$SELECT pg_temp.new_orders('HZ', 1)$$, '39P01',
                 'function crux.orders_count() called in a context it was not declared for',
                 'crux.orders_count() put back on inserts refuses to run: the holding trigger counts them (1.15)');
ROLLBACK TO SAVEPOINT count_insert;

SET CONSTRAINTS ALL IMMEDIATE;
SELECT is(crux.recount_summaries(), 0::bigint, 'after all of it, every summary and count is exact');
SELECT is((SELECT count(*) FROM crux.pending_summaries), 0::bigint,
          'and nothing is left in crux.pending_summaries');

SELECT * FROM finish();
ROLLBACK;
