-- The worker's CSV (crux.export_csv): the rows of crux.export_rows, in chunks
-- that say how many records they hold. Each request below is shown both ways: the
-- same records, quoted as COPY quotes them, with the values in the JSON API's forms
-- (1.8) where COPY writes SQL's (timestamps in UTC with six fractional digits and
-- a Z, numbers without trailing zeros, booleans true and false). Values that COPY
-- quotes: empty text, commas, quotes, CR and LF, and "\." alone in a one-column
-- file; NULL is nothing. An order without line items has one record with empty
-- line-item columns; line items come in (position, uuid) order; is_allocated is
-- computed from the order's line items.
INSERT INTO crux.organizations (uuid, name) VALUES ('20000000-0000-4000-8000-000000000001', 'CSV, "Quoted" Co');
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, notes, address_name, created_date, order_fee) VALUES
    ('20000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-000000000001', 'PO-CSV-1', E'line one\nline two, "two"', '', '2022-05-01T10:00:00Z', 1.5),
    ('20000000-0000-4000-8000-0000000000a2', '20000000-0000-4000-8000-000000000001', E'\\.', E'cr\rhere', NULL, '2022-05-02T10:00:00Z', 2.5),
    ('20000000-0000-4000-8000-0000000000a3', '20000000-0000-4000-8000-000000000001', 'PO-CSV-3', 'Ünïcødé €', 'x', '2022-05-03T10:00:00Z', 0);
INSERT INTO crux.line_items (uuid, order_uuid, position, sku_id, sku_name, quantity_ordered, status, cost, backorder_date) VALUES
    ('20000000-0000-4000-8000-0000000000b2', '20000000-0000-4000-8000-0000000000a1', 1, 'CSV-B', '', 1, 'allocated', 2.25, NULL),
    ('20000000-0000-4000-8000-0000000000b1', '20000000-0000-4000-8000-0000000000a1', 1, 'CSV-A', 'a,b', 2, 'delivered', 0, '2022-06-01'),
    ('20000000-0000-4000-8000-0000000000b0', '20000000-0000-4000-8000-0000000000a1', 0, 'CSV-0', '"', 3, 'has_tracking', 1, NULL),
    ('20000000-0000-4000-8000-0000000000b3', '20000000-0000-4000-8000-0000000000a3', 0, 'CSV-C', NULL, 1, 'unallocated', 9.99, NULL);
INSERT INTO crux.tracking_numbers (line_item_uuid, tracking_number, shipping_date) VALUES
    ('20000000-0000-4000-8000-0000000000b0', 'T,2', '2022-05-05Z'),
    ('20000000-0000-4000-8000-0000000000b0', 'T"1', '2022-05-04Z');

\pset format unaligned
\pset tuples_only on
SET TIME ZONE 'UTC';
-- every column, header first
COPY (SELECT * FROM crux.export_rows('{"org_uuids": ["20000000-0000-4000-8000-000000000001"]}', 0, NULL)) TO STDOUT (FORMAT csv, HEADER);
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"]}', 0, NULL, true) c) s;
-- the same with the tracking numbers read into memory (analyzed, they are few
-- enough to read at the first batch)
ANALYZE crux.tracking_numbers;
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"]}', 0, NULL, true) c) s;
-- chosen fields in a chosen order, the middle slice, no header
COPY (SELECT order_status, sku_name, tracking_numbers, is_allocated, purchase_order_id FROM crux.export_rows('{"org_uuids": ["20000000-0000-4000-8000-000000000001"], "fields": ["order_status", "sku_name", "tracking_numbers", "is_allocated", "purchase_order_id"]}', 1, 1)) TO STDOUT (FORMAT csv);
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"], "fields": ["order_status", "sku_name", "tracking_numbers", "is_allocated", "purchase_order_id"]}', 1, 1, false) c) s;
-- one column: "\." alone is quoted
COPY (SELECT purchase_order_id FROM crux.export_rows('{"org_uuids": ["20000000-0000-4000-8000-000000000001"], "fields": ["purchase_order_id"]}', 0, NULL)) TO STDOUT (FORMAT csv, HEADER);
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"], "fields": ["purchase_order_id"]}', 0, NULL, true) c) s;
\pset format aligned
\pset tuples_only off
-- how many records each chunk holds; nothing selected: the header alone, or nothing
SELECT (c).rows, length((c).csv) > 0 AS has_text
  FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"]}', 0, NULL, true) c) s;
SELECT (c).rows, (c).csv FROM (SELECT crux.export_csv('{"term": "no such order"}', 0, NULL, true) c) s;
SELECT count(*) FROM (SELECT crux.export_csv('{"term": "no such order"}', 0, NULL, false) c) s;
SELECT count(*) FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000001"]}', 5, NULL, false) c) s;
-- bad input: the request's errors, and bad slice bounds
SELECT crux.export_csv('{"limit": -1}', 0, NULL, true);
SELECT crux.export_csv('{"fields": ["nope"]}', 0, NULL, true);
SELECT crux.export_csv('{}', -1, NULL, true);
SELECT crux.export_csv('{}', 0, -5, true);
-- 1.8: the same bytes whatever the session's settings; text cells a spreadsheet
-- would read as formulas get a leading apostrophe unless formula_safe is false
INSERT INTO crux.organizations (uuid, name) VALUES ('20000000-0000-4000-8000-000000000002', '=HYPERLINK("x")');
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, notes, address_name, address_phone_number, created_date, order_fee) VALUES
    ('20000000-0000-4000-8000-0000000000a4', '20000000-0000-4000-8000-000000000002', '-2+3', '=1+1', '@SUM(A1)', '+1 555 0100', '2019-12-31T23:59:24.902103Z', 10.10);
INSERT INTO crux.line_items (uuid, order_uuid, position, sku_id, sku_name, quantity_ordered, status, cost, backorder_date) VALUES
    ('20000000-0000-4000-8000-0000000000b4', '20000000-0000-4000-8000-0000000000a4', 0, E'\tTAB', E'\r=cr, "q"', 1, 'backordered', 1234.50, '2020-01-02');
INSERT INTO crux.tracking_numbers (line_item_uuid, tracking_number, shipping_date) VALUES
    ('20000000-0000-4000-8000-0000000000b4', '=T1', '2022-05-04Z');
\pset format unaligned
\pset tuples_only on
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000002"]}', 0, NULL, true) c) s;
SELECT (c).csv FROM (SELECT crux.export_csv('{"org_uuids": ["20000000-0000-4000-8000-000000000002"]}', 0, NULL, true, false) c) s;
CREATE TEMP TABLE t_default_settings AS
SELECT string_agg((c).csv, '') AS csv FROM (SELECT crux.export_csv('{}', 0, NULL, true) c) s;
SET TIME ZONE 'America/New_York';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
\pset format aligned
\pset tuples_only off
SELECT string_agg((c).csv, '') = (SELECT csv FROM t_default_settings) AS same_bytes,
       count(*) > 0 AS has_chunks
  FROM (SELECT crux.export_csv('{}', 0, NULL, true) c) s;
RESET TIME ZONE;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
-- the columns of crux.export_row (what crux_export_rows returns) are those of the
-- worker's CSV (src/export_columns.c), in the same order
SELECT string_agg(a.attname, ',' ORDER BY a.attnum) =
       (SELECT split_part((c).csv, E'\n', 1)
          FROM (SELECT crux.export_csv('{"term": "no such order"}', 0, NULL, true) c) s)
       AS same_columns
  FROM pg_attribute a
 WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'crux.export_row'::regtype)
   AND a.attnum > 0;
-- 1.9: crux.export_csv_orders, the parts an admin's export across shards is merged
-- from: the same records as crux.export_csv, one order at a time, each with its
-- sort value (bytewise in the sort's order), from position 0 to the limit whatever
-- the start; crux.export_merge_bounds gives the start, limit and direction
CREATE TEMP TABLE t_parts AS
SELECT v.r::jsonb || '{"org_uuids": ["20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002"]}' AS r
  FROM (VALUES ('{}'), ('{"sort": {"key": "sku_id", "dir": "asc"}, "start": 1, "limit": 3}'),
               ('{"sort": {"key": "status"}}'), ('{"sort": {"key": "uuid", "dir": "asc"}}'),
               ('{"sort": {"key": "date", "dir": "asc"}, "limit": 3}')) v(r);
SELECT r - 'org_uuids' AS request,
       (SELECT string_agg(o.csv, '' ORDER BY n)
          FROM crux.export_csv_orders(r || '{"start": 0}') WITH ORDINALITY o(s, u, k, csv, n))
       = (SELECT string_agg((c).csv, '')
            FROM (SELECT crux.export_csv(r || '{"start": 0}', 0, NULL, false) c) x) AS same_records,
       (SELECT count(*) FROM crux.export_csv_orders(r)) AS orders,
       (SELECT sum(o.rows) FROM crux.export_csv_orders(r) o) AS rows,
       b.*
  FROM t_parts, crux.export_merge_bounds(r) b;
SELECT p.sort_value, p.order_uuid, p.rows
  FROM t_parts, crux.export_csv_orders(r) p WHERE r -> 'sort' ->> 'key' IN ('sku_id', 'date');
SELECT crux.export_csv_orders('{"sort": {"key": "price"}}');
SELECT crux.export_merge_bounds('{"start": -1}');
