-- Deterministic sample orders: the same data for the same size, on every machine.
--   psql -v orders=1000 -f test/generate.sql          (demo size; the default)
--   bash test/generate.sh 1000000                     (benchmark size, in parallel)
-- With -v first=F -v last=L it loads orders F..L only (default 1..orders); with
-- -v part=P -v parts=K only those whose created date falls in the P-th (0 to K-1)
-- of K equal spans of the three years, so that test/generate.sh can load disjoint
-- parts in parallel sessions. Every value derives from hashes of the order's number
-- (and from the size, orders, for the numbers of tiny retailers and of SKUs), so the
-- data is the same however it is split. Rows are inserted in created-date order, as
-- real orders arrive, so that each part's orders, and their line items, are stored
-- in date order; with -v layout=random in order of their numbers instead, which is
-- random with respect to their dates. The organizations and users of the size come
-- first; -v skip_organizations=1 leaves them out (test/generate.sh creates them once,
-- before its parallel sessions).
--
-- Retailers, in three size classes:
--   retailer 1               about a third of all orders (the big one);
--   retailers 2 .. 100       about 0.65% each (small);
--   retailers 101 .. 100+T   T = greatest(1, orders / 1500) tiny ones that share 2%
--                            of all orders, about 30 each (well under 100 at any size).
-- 3 users each (users 3g-2 .. 3g belong to retailer g), created dates spread over
-- three years (2016-2018), 1 to 4 line items per order (2.5 on average) with a
-- realistic status mix, and a tracking number for every line item that has shipped.
-- SKUs: 2% of line items draw from a hot set of 999 SKUs with Zipf-like popularity
-- (rank k with probability log((k+1)/k) / log(1000): the first in about 0.5% of all
-- orders, the second in 0.3%, the tenth in 0.07%); the hot SKUs are the multiples of
-- 123, most popular first (SKU000123, SKU000246, ...). The rest draw uniformly from
-- greatest(20000, orders / 4) SKUs, so that at a million orders and more many SKUs
-- are in only a handful of orders. sku_id is 'SKU' and the number, zero-padded to at
-- least six digits.
\set ON_ERROR_STOP on
\if :{?orders}
\else
\set orders 1000
\endif
\if :{?first}
\else
\set first 1
\endif
\if :{?last}
\else
\set last :orders
\endif
\if :{?parts}
\else
\set part 0
\set parts 1
\endif
\if :{?layout}
\else
\set layout date
\endif
-- the number of tiny retailers and of SKUs in the uniform part, from the size
SELECT greatest(1, :orders / 1500) AS tiny, greatest(20000, :orders / 4) AS skus \gset

BEGIN;

\if :{?skip_organizations}
\else
INSERT INTO crux.organizations (uuid, name)
SELECT md5('org-' || g)::uuid, 'Retailer ' || g
  FROM generate_series(1, 100 + :tiny) g
ON CONFLICT DO NOTHING;

INSERT INTO crux.users (uuid, organization_uuid, name, email)
SELECT md5('user-' || g)::uuid, md5('org-' || ((g - 1) / 3 + 1))::uuid,
       'User ' || g, 'user' || g || '@retailer' || ((g - 1) / 3 + 1) || '.example'
  FROM generate_series(1, 3 * (100 + :tiny)) g
ON CONFLICT DO NOTHING;
\endif

INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, status, purchase_order_id,
                         created_date, notes, estimated_shipping_cost, drop_ship_fee,
                         order_fee, address_name, address_business_name,
                         address_address1, address_address2, address_city,
                         address_state, address_postal_code, address_phone_number,
                         shipping_carrier, shipping_method)
SELECT md5('order-' || i)::uuid,
       md5('org-' || org)::uuid,
       CASE WHEN h % 10 = 0 THEN NULL
            ELSE md5('user-' || ((org - 1) * 3 + 1 + h % 3))::uuid END,
       (ARRAY['New', 'Pending', 'Complete', 'Cancelled'])[1 + (h / 7) % 4],
       'PO-' || lpad(i::text, 8, '0'),
       timestamptz '2016-01-01 00:00:00+00'
           + (abs(hashint8extended(i, 2)) % 94608000000000) * interval '1 microsecond',
       CASE WHEN h % 5 = 0 THEN NULL ELSE 'notes for order ' || i END,
       (h % 2000) / 100.0, (h % 500) / 100.0, (h % 300) / 100.0,
       'Customer ' || i, CASE WHEN h % 3 = 0 THEN 'Business ' || (h % 997) END,
       (h % 9999) || ' Main Street', CASE WHEN h % 4 = 0 THEN 'Apt ' || (h % 99) END,
       'City ' || (h % 500), (ARRAY['NY', 'CA', 'TX', 'WA', 'FL'])[1 + h % 5],
       lpad((h % 99999)::text, 5, '0'), NULL,
       (ARRAY['UPS', 'FedEx', 'USPS'])[1 + h % 3], (ARRAY['Ground', 'Express'])[1 + h % 2]
  FROM (SELECT i, abs(hashint8extended(i, 1)) AS h,
               CASE WHEN abs(hashint8extended(i, 3)) % 3 = 0 THEN 1
                    WHEN abs(hashint8extended(i, 9)) % 100 < 3
                        THEN 101 + abs(hashint8extended(i, 10)) % :tiny
                    ELSE 2 + abs(hashint8extended(i, 4)) % 99 END AS org
          FROM generate_series(:first, :last) i) s
 WHERE (abs(hashint8extended(i, 2)) % 94608000000000) * :parts / 94608000000000 = :part
 ORDER BY CASE WHEN :'layout' = 'random' THEN 0 ELSE abs(hashint8extended(i, 2)) % 94608000000000 END, i;

INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid,
                             sku_id, sku_name, cost, supplier_uuid, supplier_name, status,
                             quantity_ordered, quantity_allocated, quantity_backordered,
                             quantity_rejected, backorder_date)
SELECT md5('line-' || i || '-' || n)::uuid,
       md5('order-' || i)::uuid,
       n,
       md5('item-' || sku % 5000)::uuid, 'Item ' || sku % 5000,
       md5('sku-' || sku)::uuid,
       'SKU' || CASE WHEN sku < 1000000 THEN lpad(sku::text, 6, '0') ELSE sku::text END,
       'Item ' || sku % 5000,
       (sku % 10000) / 100.0 + 1,
       md5('supplier-' || sku % 40)::uuid, 'Supplier ' || sku % 40,
       st::crux.line_item_status,
       q, CASE WHEN st IN ('allocated', 'has_tracking', 'delivered') THEN q ELSE 0 END,
       CASE WHEN st = 'backordered' THEN q ELSE 0 END,
       CASE WHEN st = 'rejected' THEN q ELSE 0 END,
       CASE WHEN st = 'backordered' THEN date '2019-01-01' + (sku % 90)::int END
  FROM (SELECT i, n,
               -- the hot set's rank k = floor(1000 ^ u), u uniform in [0, 1), in
               -- numeric (exact on every machine); otherwise uniform
               CASE WHEN abs(hashint8extended(i * 8 + n, 11)) % 100 < 2
                    THEN 123 * floor(1000::numeric
                                     ^ (abs(hashint8extended(i * 8 + n, 12)) % 1000000 / 1000000.0))::int
                    ELSE abs(hashint8extended(i * 8 + n, 6)) % :skus END AS sku,
               1 + abs(hashint8extended(i * 8 + n, 7)) % 10 AS q,
               CASE WHEN r < 25 THEN 'unallocated' WHEN r < 45 THEN 'allocated'
                    WHEN r < 60 THEN 'has_tracking' WHEN r < 85 THEN 'delivered'
                    WHEN r < 91 THEN 'backordered' WHEN r < 95 THEN 'rejected'
                    ELSE 'cancelled' END AS st
          FROM generate_series(:first, :last) i,
               generate_series(1, 1 + (abs(hashint8extended(i, 5)) % 4)::int) n,
               LATERAL (SELECT abs(hashint8extended(i * 8 + n, 8)) % 100 AS r) rr
         WHERE (abs(hashint8extended(i, 2)) % 94608000000000) * :parts / 94608000000000 = :part) s
 ORDER BY CASE WHEN :'layout' = 'random' THEN 0 ELSE abs(hashint8extended(i, 2)) % 94608000000000 END, i, n;

-- tracking numbers for the line items that shipped (has_tracking, delivered), from
-- the same formulas as above rather than by reading the tables back
INSERT INTO crux.tracking_numbers (uuid, line_item_uuid, tracking_number,
                                   shipping_carrier, shipping_method, shipping_weight,
                                   shipping_cost, shipping_date, quantity)
SELECT md5('tracking-' || li)::uuid, li::uuid,
       '1Z' || upper(substr(md5('tn-' || li), 1, 16)),
       'UPS', 'Ground', (1 + q) || ' lb', 5 + q,
       timestamptz '2016-01-01 00:00:00+00'
           + (abs(hashint8extended(i, 2)) % 94608000000000) * interval '1 microsecond'
           + interval '2 days',
       q
  FROM (SELECT i, md5('line-' || i || '-' || n)::uuid::text AS li,
               1 + abs(hashint8extended(i * 8 + n, 7)) % 10 AS q,
               abs(hashint8extended(i * 8 + n, 8)) % 100 AS r
          FROM generate_series(:first, :last) i,
               generate_series(1, 1 + (abs(hashint8extended(i, 5)) % 4)::int) n
         WHERE (abs(hashint8extended(i, 2)) % 94608000000000) * :parts / 94608000000000 = :part) s
 WHERE r >= 45 AND r < 85
 ORDER BY CASE WHEN :'layout' = 'random' THEN 0 ELSE abs(hashint8extended(i, 2)) % 94608000000000 END, li;

COMMIT;
\if :{?skip_analyze}
\else
ANALYZE crux.organizations, crux.users, crux.orders, crux.line_items, crux.tracking_numbers;
\endif
