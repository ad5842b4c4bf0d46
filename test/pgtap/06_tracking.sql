-- An export row's tracking numbers (crux.line_item_tracking, 1.4 on): the same text
-- as the ordered string_agg it replaced, whether looked up one by one (the first
-- tenth as many line items as there are tracking numbers in a query), read into
-- memory (the rest of that query) or looked up throughout (work_mem too small for
-- them); and only what the caller may see. Runs on the 1,000 sample orders
-- (about 1,000 tracking numbers over 2,500 line items, so every query below over
-- all line items makes about 100 lookups, then answers the rest from memory).
BEGIN;
SELECT plan(15);

SELECT volatility_is('crux', 'line_item_tracking', ARRAY['uuid', 'bigint'], 'stable');
SELECT isnt_definer('crux', 'line_item_tracking', ARRAY['uuid', 'bigint']);
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'crux.line_item_tracking(uuid, bigint)'::regprocedure),
          NULL, 'no SET clause (it runs once per line item)');

-- the reference: what 1.3's export rows computed, per line item
CREATE FUNCTION pg_temp.reference(uuid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(t.tracking_number, '; '
                      ORDER BY t.shipping_date NULLS LAST, t.tracking_number COLLATE "C", t.uuid)
      FROM crux.tracking_numbers t WHERE t.line_item_uuid = $1 $$;

-- hard cases on 40 line items: several numbers each, equal and missing shipping
-- dates, numbers that are prefixes of each other, bytewise order against
-- linguistic order, non-ASCII, an empty number, the same number twice (line items
-- that had none, so the n-th gets the first 1 + n % 10 of these)
CREATE TEMP TABLE t_hard AS
SELECT uuid, row_number() OVER (ORDER BY uuid) AS n
  FROM crux.line_items li
 WHERE NOT EXISTS (SELECT FROM crux.tracking_numbers t WHERE t.line_item_uuid = li.uuid)
 ORDER BY uuid LIMIT 40;
INSERT INTO crux.tracking_numbers (uuid, line_item_uuid, tracking_number, shipping_date)
SELECT md5('hard-' || li.n || '-' || v.k)::uuid, li.uuid, v.number, v.shipped
  FROM t_hard li,
       (VALUES (1, 'AB', timestamptz '2020-01-02'), (2, 'A', '2020-01-02'),
               (3, 'a', '2020-01-02'), (4, 'Äpfel; Birnen', NULL), (5, 'Z"q,x', NULL),
               (6, '', '2020-01-02'), (7, 'A', '2020-01-02'), (8, 'é
newline', '2019-12-31'), (9, 'B', '-infinity'), (10, 'C', 'infinity')) v(k, number, shipped)
 WHERE v.k <= 1 + li.n % 10;

SELECT is((SELECT count(*) FROM crux.line_items li
            WHERE crux.line_item_tracking(li.uuid) IS DISTINCT FROM pg_temp.reference(li.uuid)),
          0::bigint, 'every line item: lookups, then from memory, the same text as string_agg');
SELECT is((SELECT count(*) FROM crux.line_items li
            WHERE crux.line_item_tracking(li.uuid) IS NOT NULL),
          (SELECT count(DISTINCT line_item_uuid) FROM crux.tracking_numbers),
          'exactly the line items with tracking numbers have some');
SELECT is((SELECT crux.line_item_tracking(uuid) FROM t_hard WHERE n = 9),
          (SELECT string_agg(number, '; ') FROM (VALUES
              ('B'), ('é
newline'), (''), ('A'), ('A'), ('AB'), ('a'), ('C'), ('Z"q,x'), ('Äpfel; Birnen')) v(number)),
          'the order: shipping date (none last), then bytes, then uuid');
SELECT is(crux.line_item_tracking(NULL), NULL, 'NULL for NULL (a LEFT JOIN without line items)');
SELECT is((SELECT count(*) FROM crux.line_items li
            WHERE crux.line_item_tracking(li.uuid, 100000) IS DISTINCT FROM pg_temp.reference(li.uuid)),
          0::bigint, 'a query expecting many line items: from memory from the first, the same text');
SELECT is((SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM crux.export_rows('{}', 0, NULL) x),
          (SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM (
               SELECT e.order_uuid, e.order_status, e.is_allocated, e.purchase_order_id, e.created_date,
                      e.notes, e.estimated_shipping_cost, e.drop_ship_fee, e.order_fee, e.retailer_name,
                      e.retailer_uuid, e.user_name, e.user_email, e.address_name,
                      e.address_business_name, e.address_address1, e.address_address2, e.address_city,
                      e.address_state, e.address_postal_code, e.address_phone_number,
                      e.shipping_carrier, e.shipping_method, e.line_item_uuid, e.line_item_status,
                      e.item_uuid, e.item_name, e.sku_uuid, e.sku_id, e.sku_name, e.cost,
                      e.supplier_uuid, e.supplier_name, e.quantity_ordered, e.quantity_allocated,
                      e.quantity_backordered, e.quantity_rejected, e.backorder_date,
                      pg_temp.reference(e.line_item_uuid)
                 FROM crux.export_rows('{}', 0, NULL) e) x),
          'export rows of every order carry the same tracking text as the reference');

SET LOCAL work_mem = '64kB';
SET LOCAL hash_mem_multiplier = 1;
SELECT is((SELECT count(*) FROM crux.line_items li
            WHERE crux.line_item_tracking(li.uuid) IS DISTINCT FROM pg_temp.reference(li.uuid)),
          0::bigint, 'with too little work_mem for them: looked up throughout, the same text');
RESET work_mem;
RESET hash_mem_multiplier;

-- a tenant sees the tracking numbers of its own orders only, from memory too
CREATE ROLE t_track NOLOGIN;
GRANT crux_reader TO t_track;
INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES ('t_track', md5('org-1')::uuid);
CREATE TEMP TABLE t_all_lines AS SELECT uuid FROM crux.line_items;
GRANT SELECT ON t_all_lines TO t_track;
CREATE TEMP TABLE t_expected AS
SELECT count(*) AS n FROM crux.line_items li JOIN crux.orders o ON o.uuid = li.order_uuid
 WHERE o.retailer_uuid = md5('org-1')::uuid AND pg_temp.reference(li.uuid) IS NOT NULL;
GRANT SELECT ON t_expected TO t_track;
SET LOCAL ROLE t_track;
SELECT is((SELECT count(*) FROM t_all_lines l WHERE crux.line_item_tracking(l.uuid) IS NOT NULL),
          (SELECT n FROM t_expected), 'a tenant gets the tracking numbers of its own line items only');
SELECT cmp_ok((SELECT n FROM t_expected), '>', 200::bigint, '(and there are enough of them to be read into memory)');
RESET ROLE;

-- The numbers read into memory live in mappings of their own, not in a memory
-- context (1.5): they must go when the query ends, and when it fails after reading
-- them. Each load maps at least 10 MB (the table and one block of numbers), so the
-- backend's virtual size would grow by that much per query that kept them.
CREATE FUNCTION pg_temp.vm_size() RETURNS bigint LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/self/status') FROM 'VmSize:\s*(\d+) kB')::bigint $$;
CREATE FUNCTION pg_temp.export_everything() RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(r) FROM (SELECT (crux.export_csv('{}', 0, NULL, true)).rows r) s $$;
CREATE TEMP TABLE t_vm AS SELECT pg_temp.export_everything() AS rows, pg_temp.vm_size() AS warm;
SELECT cmp_ok((SELECT rows FROM t_vm), '>', 2000::bigint,
              '(an export of every order, tracking numbers read into memory)');
DO $$ BEGIN FOR i IN 1..10 LOOP PERFORM pg_temp.export_everything(); END LOOP; END $$;
SELECT is(pg_temp.vm_size(), (SELECT warm FROM t_vm),
          'ten more such exports leave the backend as large as they found it');
DO $$
BEGIN
    FOR i IN 1..10 LOOP
        BEGIN
            PERFORM (crux.export_csv('{}', 0, NULL, true)).rows / 0;
        EXCEPTION WHEN division_by_zero THEN NULL;
        END;
    END LOOP;
END $$;
SELECT is(pg_temp.vm_size(), (SELECT warm FROM t_vm),
          'and so do ten that fail after reading the tracking numbers into memory');

SELECT * FROM finish();
ROLLBACK;
