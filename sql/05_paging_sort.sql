-- start / limit as a slice: the page is sorted[start:limit]
SELECT pos('{"start": 0, "limit": 2}');
SELECT pos('{"start": 2, "limit": 5}');
SELECT pos('{"start": "3", "limit": "4"}');
SELECT pos('{"start": 10}');
SELECT pos('{"start": 11, "limit": 20}');
SELECT pos('{"start": 12, "limit": 20}');
SELECT pos('{"start": 50, "limit": 60}');
SELECT pos('{"start": 4, "limit": 4}');
SELECT pos('{"limit": 0}');
SELECT pos('{"start": 1.0, "limit": 3.00}');

-- the page cap: limit - start may equal crux_orders.max_page_size, not exceed it
SET crux_orders.max_page_size = 3;
SELECT pos('{"start": 2, "limit": 5}');
SELECT pos('{"start": 2, "limit": 6}');
SELECT pos('{}');
RESET crux_orders.max_page_size;

-- each sort key, both directions; the key in any case and created_date as alias
SELECT pos('{"sort": {"key": "date", "dir": "asc"}}');
SELECT pos('{"sort": {"key": "created_date", "dir": "DESC"}}');
SELECT pos('{"sort": {"key": "Date", "dir": "des"}}');
SELECT pos('{"sort": {"key": "uuid", "dir": "asc"}}');
SELECT pos('{"sort": {"key": "UUID", "dir": "desc"}}');
-- status: ties (several orders per status) break on the uuid in the same direction
SELECT pos('{"sort": {"key": "status", "dir": "asc"}}');
SELECT pos('{"sort": {"key": "status", "dir": "desc"}}');
-- sku_id: the smallest sku_id of the order, byte-wise ("S-..." < "s-001"), ties
-- (P02 and P11 share S-100) on the uuid; P05 has no line item and sorts as the
-- largest value: last ascending, first descending
SELECT pos('{"sort": {"key": "sku_id", "dir": "asc"}}');
SELECT pos('{"sort": {"key": "sku_id", "dir": "desc"}}');

-- a missing part of sort takes its default; null members count as absent
SELECT pos('{"sort": {"dir": "asc"}}');
SELECT pos('{"sort": {"key": "uuid"}}');
SELECT pos('{"sort": {"key": null, "dir": null}}');
SELECT pos('{"sort": null}');
SELECT pos('{"sort": {}}');

-- a dir other than asc/des/desc sorts descending with a WARNING; "value" is ignored
-- with a WARNING
SELECT pos('{"sort": {"key": "uuid", "dir": "ascending"}}');
SELECT pos('{"sort": {"key": "uuid", "value": "asc"}}');
SELECT pos('{"sort": {"key": "uuid", "dir": "ASC", "value": "desc"}}');

-- pages of every sort never overlap or skip: 12 orders in pages of 5
SELECT k, d, string_agg(pos(jsonb_build_object('sort', jsonb_build_object('key', k, 'dir', d),
                                               'start', s, 'limit', s + 5)), ' | ' ORDER BY s)
  FROM unnest(ARRAY['date', 'status', 'sku_id', 'uuid']) k,
       unnest(ARRAY['asc', 'desc']) d, generate_series(0, 10, 5) s
 GROUP BY k, d ORDER BY k, d;
