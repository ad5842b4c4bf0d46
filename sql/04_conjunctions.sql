-- Fixture for this file and the next ones (pg_regress runs them in order in one
-- database): orders P01..P12 with known line-item statuses, created an hour
-- apart, so the default sort (date, descending) lists P12 first.
TRUNCATE crux.organizations CASCADE;
INSERT INTO crux.organizations VALUES
    ('aaaaaaaa-0000-4000-8000-000000000001', 'Retailer A'),
    ('bbbbbbbb-0000-4000-8000-000000000002', 'Retailer B');
INSERT INTO crux.users VALUES
    ('aaaaaaaa-1111-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001',
     'Ann', 'ann@a.example');

CREATE TABLE fixture (n int, statuses text[], retailer char(1), status text, skus text[]);
INSERT INTO fixture VALUES
    (1, '{unallocated}', 'A', 'New', '{S-200}'),
    (2, '{allocated}', 'A', 'Pending', '{S-100}'),
    (3, '{unallocated,allocated}', 'A', 'New', '{S-300,S-050}'),
    (4, '{has_tracking,delivered}', 'A', 'Complete', '{S-400,S-410}'),
    (5, '{}', 'A', 'New', '{}'),
    (6, '{backordered,backordered}', 'A', 'Pending', '{S-600,S-600}'),
    (7, '{rejected}', 'A', 'Cancelled', '{S-700}'),
    (8, '{cancelled,unallocated}', 'A', 'Cancelled', '{S-800,s-001}'),
    (9, '{delivered}', 'A', 'Complete', '{S-900}'),
    (10, '{unallocated,allocated,rejected,has_tracking,backordered,delivered,cancelled}',
     'A', 'Pending', '{S-A1,S-A2,S-A3,S-A4,S-A5,S-A6,S-A7}'),
    (11, '{allocated,allocated,allocated}', 'A', 'Complete', '{S-100,S-110,S-120}'),
    (12, '{unallocated}', 'B', 'New', '{S-200}');

INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, status, purchase_order_id, created_date)
SELECT ('00000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       CASE retailer WHEN 'A' THEN 'aaaaaaaa-0000-4000-8000-000000000001'::uuid
                     ELSE 'bbbbbbbb-0000-4000-8000-000000000002'::uuid END,
       CASE retailer WHEN 'A' THEN 'aaaaaaaa-1111-4000-8000-000000000001'::uuid END,
       status, 'P' || lpad(n::text, 2, '0'),
       timestamptz '2018-01-01 00:00:00Z' + n * interval '1 hour'
  FROM fixture;
INSERT INTO crux.line_items (order_uuid, position, status, sku_id, quantity_ordered)
SELECT ('00000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid, i,
       statuses[i]::crux.line_item_status, skus[i], i
  FROM fixture, generate_subscripts(statuses, 1) i;

-- total_results, then the purchase order ids of the page, in order
CREATE FUNCTION pos(req jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT (r ->> 'total_results') || ': '
           || coalesce((SELECT string_agg(o ->> 'purchase_order_id', ' ' ORDER BY n)
                          FROM jsonb_array_elements(r -> 'orders') WITH ORDINALITY x(o, n)), '')
      FROM crux_get_orders(req) r
$$;

SELECT pos('{}');

-- or: at least one line item with a status in S
SELECT pos('{"line_item_status": "unallocated"}');
SELECT pos('{"line_item_status": ["unallocated"], "status_conjunction": "or"}');
SELECT pos('{"line_item_status": ["rejected", "backordered"]}');
SELECT pos('{"line_item_status": ["allocated", "allocated"]}');

-- and: every status of S on at least one line item
SELECT pos('{"line_item_status": ["unallocated", "allocated"], "status_conjunction": "and"}');
SELECT pos('{"line_item_status": ["has_tracking", "delivered"], "status_conjunction": "AND"}');
SELECT pos('{"line_item_status": ["delivered", "delivered"], "status_conjunction": "and"}');
SELECT pos('{"line_item_status": ["unallocated", "allocated", "rejected", "has_tracking",
              "backordered", "delivered", "cancelled"], "status_conjunction": "and"}');

-- or with all seven statuses: every order with at least one line item (not P05)
SELECT pos('{"line_item_status": ["unallocated", "allocated", "rejected", "has_tracking",
              "backordered", "delivered", "cancelled"]}');

-- only: at least one line item, and all of them with the one status
SELECT pos('{"line_item_status": ["allocated"], "status_conjunction": "only"}');
SELECT pos('{"line_item_status": "delivered", "status_conjunction": "Only"}');
SELECT pos('{"line_item_status": ["backordered"], "status_conjunction": "all"}');
SELECT pos('{"line_item_status": ["unallocated", "unallocated"], "status_conjunction": "only"}');
SELECT pos('{"line_item_status": ["cancelled"], "status_conjunction": "only"}');

-- the three dialects: v1 names, v2 names and conjunction key, CamelCase in any case
SELECT pos('{"line_item_status": ["has_tracking"]}');
SELECT pos('{"line_item_statuses": ["HasTracking"], "line_item_status_conjunction": "or"}');
SELECT pos('{"line_item_statuses": ["HASTRACKING", "Cancelled"]}');
SELECT pos('{"line_item_status": "hasTracking", "status_conjunction": "only"}');

-- no status filter: absent, null, or an empty array; the conjunction alone is harmless
SELECT pos('{"line_item_status": null}');
SELECT pos('{"line_item_statuses": []}');
SELECT pos('{"status_conjunction": "and"}');

-- is_allocated: at least one line item and none unallocated
SELECT o ->> 'purchase_order_id' AS po, o -> 'is_allocated' AS is_allocated,
       jsonb_array_length(o -> 'line_items') AS lines
  FROM jsonb_array_elements(crux_get_orders('{"sort": {"key": "date", "dir": "asc"}}') -> 'orders') o;
