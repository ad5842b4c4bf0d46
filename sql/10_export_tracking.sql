-- Export rows' tracking numbers (1.4: crux.line_item_tracking): joined by '; ' in
-- shipping date order (none last), then bytewise, then by uuid; the same text
-- looked up one by one, read into memory at the first call, and looked up because
-- work_mem is too small for memory; orders without line items and line items
-- without tracking numbers export NULL.
INSERT INTO crux.organizations (uuid, name) VALUES ('10000000-0000-4000-8000-000000000001', 'Tracking Co');
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date) VALUES
    ('10000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-000000000001', 'PO-TRK-1', '2021-03-01Z'),
    ('10000000-0000-4000-8000-0000000000a2', '10000000-0000-4000-8000-000000000001', 'PO-TRK-2', '2021-03-02Z');
INSERT INTO crux.line_items (uuid, order_uuid, position, sku_id, quantity_ordered, status) VALUES
    ('10000000-0000-4000-8000-0000000000b1', '10000000-0000-4000-8000-0000000000a1', 1, 'TRK-A', 1, 'delivered'),
    ('10000000-0000-4000-8000-0000000000b2', '10000000-0000-4000-8000-0000000000a1', 2, 'TRK-B', 1, 'has_tracking'),
    ('10000000-0000-4000-8000-0000000000b3', '10000000-0000-4000-8000-0000000000a1', 3, 'TRK-C', 1, 'allocated');
INSERT INTO crux.tracking_numbers (uuid, line_item_uuid, tracking_number, shipping_date) VALUES
    ('10000000-0000-4000-8000-0000000000c1', '10000000-0000-4000-8000-0000000000b1', 'a', '2021-03-05Z'),
    ('10000000-0000-4000-8000-0000000000c2', '10000000-0000-4000-8000-0000000000b1', 'AB', '2021-03-05Z'),
    ('10000000-0000-4000-8000-0000000000c3', '10000000-0000-4000-8000-0000000000b1', 'A', '2021-03-05Z'),
    ('10000000-0000-4000-8000-0000000000c4', '10000000-0000-4000-8000-0000000000b1', 'Äpfel', NULL),
    ('10000000-0000-4000-8000-0000000000c5', '10000000-0000-4000-8000-0000000000b1', 'Z', '2021-03-04Z'),
    ('10000000-0000-4000-8000-0000000000c6', '10000000-0000-4000-8000-0000000000b1', '', NULL),
    ('10000000-0000-4000-8000-0000000000c7', '10000000-0000-4000-8000-0000000000b2', '1Z999', '2021-03-06Z');

-- one by one (a query that expects few line items)
SELECT purchase_order_id, sku_id, tracking_numbers
  FROM crux_export_rows('{"org_uuids": ["10000000-0000-4000-8000-000000000001"]}');
-- into memory at the first call
SELECT li.sku_id, crux.line_item_tracking(li.uuid, 1000000000)
  FROM crux.line_items li WHERE li.sku_id LIKE 'TRK-%' ORDER BY li.sku_id;
-- too little work_mem for memory: looked up
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT li.sku_id, crux.line_item_tracking(li.uuid, 1000000000)
  FROM crux.line_items li WHERE li.sku_id LIKE 'TRK-%' ORDER BY li.sku_id;
RESET work_mem;
RESET hash_mem_multiplier;
SELECT crux.line_item_tracking(NULL), crux.line_item_tracking(NULL, 5),
       crux.line_item_tracking('10000000-0000-4000-8000-0000000000ff');
