-- Reference 002 (Get Orders v1): three orders of "projectthanos", plus 107
-- unallocated orders in the range whose uuids sort below theirs, so that
-- total_results is the documented 110 and the three documented orders open the
-- page of the documented request (sort by uuid, descending).
--
-- The document lists its three orders oldest first, which contradicts its own
-- request ("sort": {"key": "uuid", "dir": "des"}); the contract's sort rule wins:
-- the answer lists them by uuid descending, and each is compared field by field
-- with the documented order of the same uuid.
TRUNCATE crux.organizations CASCADE;
INSERT INTO crux.organizations VALUES ('1bd645dd-f2d8-401b-aa79-cfb990851fe9', 'projectthanos');
INSERT INTO crux.users VALUES ('0f5e7a7e-1111-4c1a-9c1a-000000000002',
    '1bd645dd-f2d8-401b-aa79-cfb990851fe9', ' ', 'dchadwick@projectthanos.com');

INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, status, purchase_order_id, created_date, notes, address_name, address_business_name, address_address1, address_address2, address_city, address_state, address_postal_code, address_phone_number, shipping_carrier, shipping_method)
VALUES ('58a5c52c-42c4-4018-bca3-447bb2c146c9', '1bd645dd-f2d8-401b-aa79-cfb990851fe9', '0f5e7a7e-1111-4c1a-9c1a-000000000002', 'New', '86c55b42-fae4-4218-9b8b-40b01c6ec0eb', '2017-12-05T22:32:32.217413Z', 'Ea aperiam ut est iure saepe nemo.', 'Timothy Gonzalez', 'Hernandez Inc', '225 Le Corners
Andreaton, ID 14958-4394', '450 Howe Cliff Apt. 557
Thomasfort, ME 36012-3981', 'Port Ellenfort', 'Alabama', '66445', NULL, 'UPS', 'Ground');
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('f2cc5d9c-efce-4275-a74a-30fde379e23e', '58a5c52c-42c4-4018-bca3-447bb2c146c9', 0, '0c8299b7-a9a4-4399-aef2-dc25702db7a0', 'The eight cobweb item', 'ea6da339-baab-4b90-9f2f-533c58fdc3e3', 'TESTSKUID', 'The eight cobweb item', 85.84, 'b68160e5-61a5-44ce-96d4-40e123cc3450', 'Rodriguez-Smith', 8, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('37329db8-713e-43b0-8690-c41986e146dd', '58a5c52c-42c4-4018-bca3-447bb2c146c9', 1, 'a49112fc-5e8b-4d2e-9d63-be9c385714bf', 'The capital river item', '0ece9413-5a00-4fb5-aaf0-b0ebf5812fd1', 'ydrMecivyQ5Yleea1R8', 'The capital river item', 36.27, 'b68160e5-61a5-44ce-96d4-40e123cc3450', 'Rodriguez-Smith', 2, 0, 0, 0, NULL);
INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, status, purchase_order_id, created_date, notes, address_name, address_business_name, address_address1, address_address2, address_city, address_state, address_postal_code, address_phone_number, shipping_carrier, shipping_method)
VALUES ('4fc0714f-fc17-492d-8478-665ee1250155', '1bd645dd-f2d8-401b-aa79-cfb990851fe9', '0f5e7a7e-1111-4c1a-9c1a-000000000002', 'New', '05ba256a-efe0-402c-b215-e4bd2e1bd7d9', '2017-12-05T22:32:32.357963Z', 'Itaque iusto suscipit error hic impedit iure odit blanditiis.', 'Gregory Barnett', 'Hartman Group', '7010 Lynch Forges Suite 356
Webbland, OH 98141-6408', '36291 Lindsey Extensions
Roweton, OR 33731-7996', 'Sabrinastad', 'Iowa', '67896', NULL, 'UPS', 'Ground');
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('81c4104c-98a1-40d3-8e1d-1b9c45fabab7', '4fc0714f-fc17-492d-8478-665ee1250155', 0, '6ae172d7-d201-4893-9562-50069acccfa2', 'The cheeky rule item', '6c33dd0e-3442-49a3-a247-eb4c8b818173', 'qNdEi7FHNoSZ8zff6o', 'The cheeky rule item', 69.8, 'a3b62a7a-4515-4d26-80d3-9427ce782b37', 'Mcknight LLC', 3, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('c682fb99-9a3a-4ea3-9dd5-62b5ba448f6a', '4fc0714f-fc17-492d-8478-665ee1250155', 1, 'f567aa86-4f0e-4997-b485-126fcae5836f', 'The absorbed bite item', '109f9a9e-b3b0-470f-a9f4-9bdf41d8725a', '5HDu63dbVeFOwg', 'The absorbed bite item', 60.32, '0eaac668-e0ae-4b7f-9c71-d240a7f89a4e', 'Nelson-Morris', 8, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('2ce42622-f879-4055-bafb-8fdd0b0aed93', '4fc0714f-fc17-492d-8478-665ee1250155', 2, '2aa4ec0d-e780-467c-b7d5-f1b5322bfa18', 'The impractical knowledge item', '09800815-8ae9-4a89-b314-a2f13a596fd2', '3xHe8rvJPtyyZ0u4WCd', 'The impractical knowledge item', 1.26, 'a3b62a7a-4515-4d26-80d3-9427ce782b37', 'Mcknight LLC', 3, 0, 0, 0, NULL);
INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, status, purchase_order_id, created_date, notes, address_name, address_business_name, address_address1, address_address2, address_city, address_state, address_postal_code, address_phone_number, shipping_carrier, shipping_method)
VALUES ('d84c136d-537e-41f6-83f4-1af4634e02d7', '1bd645dd-f2d8-401b-aa79-cfb990851fe9', '0f5e7a7e-1111-4c1a-9c1a-000000000002', 'New', 'b9496bb8-1f6b-4a6d-a613-d4ca8f7ef9b3', '2017-12-05T22:32:32.529539Z', 'Perspiciatis minima impedit dicta perspiciatis quas.', 'Isaac Carlson', 'Smith-Thornton', '58900 Bentley Drives
Higginsfort, DE 51542', '85363 Scott Hills Apt. 018
Mayberg, TN 80477', 'East Christinashire', 'Massachusetts', '85204', NULL, 'UPS', 'Ground');
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('4801a89f-4943-4f1f-9ff0-20e36853ef4a', 'd84c136d-537e-41f6-83f4-1af4634e02d7', 0, 'c4bd8f56-9384-440a-978c-4341d1332f2d', 'The cautious pot item', '7d6e1899-3e23-4818-bed9-1b6dce6fa687', '5VsIG6DjjVgZybv', 'The cautious pot item', 19.2, 'a3b62a7a-4515-4d26-80d3-9427ce782b37', 'Mcknight LLC', 5, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('fe4ea18a-15cc-4255-a7ed-5354fa1f9a9f', 'd84c136d-537e-41f6-83f4-1af4634e02d7', 1, 'a49112fc-5e8b-4d2e-9d63-be9c385714bf', 'The capital river item', '720662af-67da-4eed-8a62-9ab89e581065', '4MQPJ7MM6UoEjjI9', 'The capital river item', 37.82, 'b68160e5-61a5-44ce-96d4-40e123cc3450', 'Rodriguez-Smith', 10, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('07050fea-f478-4b21-908b-62de98b42261', 'd84c136d-537e-41f6-83f4-1af4634e02d7', 2, 'f567aa86-4f0e-4997-b485-126fcae5836f', 'The absorbed bite item', 'abf29db5-e627-484b-b328-f67eec5bb048', 'jiqqvQRjyh4rcOwvAHr', 'The absorbed bite item', 27.67, '0eaac668-e0ae-4b7f-9c71-d240a7f89a4e', 'Nelson-Morris', 6, 0, 0, 0, NULL);
INSERT INTO crux.line_items (uuid, order_uuid, position, item_uuid, item_name, sku_uuid, sku_id, sku_name, cost, supplier_uuid, supplier_name, quantity_ordered, quantity_allocated, quantity_backordered, quantity_rejected, backorder_date)
VALUES ('05156c0c-1801-4fea-9109-2eef5f8acf6b', 'd84c136d-537e-41f6-83f4-1af4634e02d7', 3, '5a345ed9-c310-4bc3-b68e-18cedcfe791c', 'The impractical bed item', '01793e24-4223-47c0-ab77-3523fadafc78', 'QWXs6zdZ', 'The impractical bed item', 56.67, 'a3b62a7a-4515-4d26-80d3-9427ce782b37', 'Mcknight LLC', 7, 0, 0, 0, NULL);

INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
       '1bd645dd-f2d8-401b-aa79-cfb990851fe9', 'filler-002-' || g,
       timestamptz '2017-09-01 00:00Z' + g * interval '1 hour'
  FROM generate_series(1, 107) g;
INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'FILLER', 1
  FROM generate_series(1, 107) g;

-- the documented request, byte for byte
CREATE TABLE answer002 AS
SELECT crux_get_orders('{
  "start": 0,
  "limit": 25,
  "sort": {
    "key": "uuid",
    "dir": "des"
  },
  "line_item_status": [
    "unallocated"
  ],
  "status_conjunction": "or",
  "start_date": "2017-07-31T06:00:00.000Z",
  "end_date": "2018-08-03T06:00:00.000Z"
}') AS got;

SELECT got -> 'total_results' AS total_results,
       jsonb_array_length(got -> 'orders') AS page_length,
       (SELECT array_agg(x ->> 'uuid') FROM jsonb_array_elements(got -> 'orders') WITH ORDINALITY AS a(x, n) WHERE n <= 4) AS first_uuids
  FROM answer002;

CREATE TABLE documented002 (doc jsonb);
INSERT INTO documented002 VALUES ('{
  "total_results": 110,
  "orders": [
    {
      "uuid": "58a5c52c-42c4-4018-bca3-447bb2c146c9",
      "status": "New",
      "is_allocated": false,
      "purchase_order_id": "86c55b42-fae4-4218-9b8b-40b01c6ec0eb",
      "created_date": "2017-12-05T22:32:32.217413Z",
      "notes": "Ea aperiam ut est iure saepe nemo.",
      "fees": {
        "estimated_shipping_cost": 0,
        "drop_ship_fee": 0,
        "order_fee": 0
      },
      "retailer": {
        "name": "projectthanos",
        "uuid": "1bd645dd-f2d8-401b-aa79-cfb990851fe9",
        "user": {
          "name": " ",
          "email": "dchadwick@projectthanos.com"
        }
      },
      "address": {
        "name": "Timothy Gonzalez",
        "business_name": "Hernandez Inc",
        "address1": "225 Le Corners\nAndreaton, ID 14958-4394",
        "address2": "450 Howe Cliff Apt. 557\nThomasfort, ME 36012-3981",
        "city": "Port Ellenfort",
        "state": "Alabama",
        "postal_code": "66445",
        "phone_number": null
      },
      "requested_shipping": {
        "shipping_carrier": "UPS",
        "shipping_method": "Ground"
      },
      "line_items": [
        {
          "uuid": "f2cc5d9c-efce-4275-a74a-30fde379e23e",
          "item_uuid": "0c8299b7-a9a4-4399-aef2-dc25702db7a0",
          "item_name": "The eight cobweb item",
          "sku_uuid": "ea6da339-baab-4b90-9f2f-533c58fdc3e3",
          "sku_id": "TESTSKUID",
          "sku_name": "The eight cobweb item",
          "cost": 85.84,
          "supplier_uuid": "b68160e5-61a5-44ce-96d4-40e123cc3450",
          "supplier_name": "Rodriguez-Smith",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 8,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "37329db8-713e-43b0-8690-c41986e146dd",
          "item_uuid": "a49112fc-5e8b-4d2e-9d63-be9c385714bf",
          "item_name": "The capital river item",
          "sku_uuid": "0ece9413-5a00-4fb5-aaf0-b0ebf5812fd1",
          "sku_id": "ydrMecivyQ5Yleea1R8",
          "sku_name": "The capital river item",
          "cost": 36.27,
          "supplier_uuid": "b68160e5-61a5-44ce-96d4-40e123cc3450",
          "supplier_name": "Rodriguez-Smith",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 2,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        }
      ]
    },
    {
      "uuid": "4fc0714f-fc17-492d-8478-665ee1250155",
      "status": "New",
      "is_allocated": false,
      "purchase_order_id": "05ba256a-efe0-402c-b215-e4bd2e1bd7d9",
      "created_date": "2017-12-05T22:32:32.357963Z",
      "notes": "Itaque iusto suscipit error hic impedit iure odit blanditiis.",
      "fees": {
        "estimated_shipping_cost": 0,
        "drop_ship_fee": 0,
        "order_fee": 0
      },
      "retailer": {
        "name": "projectthanos",
        "uuid": "1bd645dd-f2d8-401b-aa79-cfb990851fe9",
        "user": {
          "name": " ",
          "email": "dchadwick@projectthanos.com"
        }
      },
      "address": {
        "name": "Gregory Barnett",
        "business_name": "Hartman Group",
        "address1": "7010 Lynch Forges Suite 356\nWebbland, OH 98141-6408",
        "address2": "36291 Lindsey Extensions\nRoweton, OR 33731-7996",
        "city": "Sabrinastad",
        "state": "Iowa",
        "postal_code": "67896",
        "phone_number": null
      },
      "requested_shipping": {
        "shipping_carrier": "UPS",
        "shipping_method": "Ground"
      },
      "line_items": [
        {
          "uuid": "81c4104c-98a1-40d3-8e1d-1b9c45fabab7",
          "item_uuid": "6ae172d7-d201-4893-9562-50069acccfa2",
          "item_name": "The cheeky rule item",
          "sku_uuid": "6c33dd0e-3442-49a3-a247-eb4c8b818173",
          "sku_id": "qNdEi7FHNoSZ8zff6o",
          "sku_name": "The cheeky rule item",
          "cost": 69.8,
          "supplier_uuid": "a3b62a7a-4515-4d26-80d3-9427ce782b37",
          "supplier_name": "Mcknight LLC",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 3,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "c682fb99-9a3a-4ea3-9dd5-62b5ba448f6a",
          "item_uuid": "f567aa86-4f0e-4997-b485-126fcae5836f",
          "item_name": "The absorbed bite item",
          "sku_uuid": "109f9a9e-b3b0-470f-a9f4-9bdf41d8725a",
          "sku_id": "5HDu63dbVeFOwg",
          "sku_name": "The absorbed bite item",
          "cost": 60.32,
          "supplier_uuid": "0eaac668-e0ae-4b7f-9c71-d240a7f89a4e",
          "supplier_name": "Nelson-Morris",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 8,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "2ce42622-f879-4055-bafb-8fdd0b0aed93",
          "item_uuid": "2aa4ec0d-e780-467c-b7d5-f1b5322bfa18",
          "item_name": "The impractical knowledge item",
          "sku_uuid": "09800815-8ae9-4a89-b314-a2f13a596fd2",
          "sku_id": "3xHe8rvJPtyyZ0u4WCd",
          "sku_name": "The impractical knowledge item",
          "cost": 1.26,
          "supplier_uuid": "a3b62a7a-4515-4d26-80d3-9427ce782b37",
          "supplier_name": "Mcknight LLC",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 3,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        }
      ]
    },
    {
      "uuid": "d84c136d-537e-41f6-83f4-1af4634e02d7",
      "status": "New",
      "is_allocated": false,
      "purchase_order_id": "b9496bb8-1f6b-4a6d-a613-d4ca8f7ef9b3",
      "created_date": "2017-12-05T22:32:32.529539Z",
      "notes": "Perspiciatis minima impedit dicta perspiciatis quas.",
      "fees": {
        "estimated_shipping_cost": 0,
        "drop_ship_fee": 0,
        "order_fee": 0
      },
      "retailer": {
        "name": "projectthanos",
        "uuid": "1bd645dd-f2d8-401b-aa79-cfb990851fe9",
        "user": {
          "name": " ",
          "email": "dchadwick@projectthanos.com"
        }
      },
      "address": {
        "name": "Isaac Carlson",
        "business_name": "Smith-Thornton",
        "address1": "58900 Bentley Drives\nHigginsfort, DE 51542",
        "address2": "85363 Scott Hills Apt. 018\nMayberg, TN 80477",
        "city": "East Christinashire",
        "state": "Massachusetts",
        "postal_code": "85204",
        "phone_number": null
      },
      "requested_shipping": {
        "shipping_carrier": "UPS",
        "shipping_method": "Ground"
      },
      "line_items": [
        {
          "uuid": "4801a89f-4943-4f1f-9ff0-20e36853ef4a",
          "item_uuid": "c4bd8f56-9384-440a-978c-4341d1332f2d",
          "item_name": "The cautious pot item",
          "sku_uuid": "7d6e1899-3e23-4818-bed9-1b6dce6fa687",
          "sku_id": "5VsIG6DjjVgZybv",
          "sku_name": "The cautious pot item",
          "cost": 19.2,
          "supplier_uuid": "a3b62a7a-4515-4d26-80d3-9427ce782b37",
          "supplier_name": "Mcknight LLC",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 5,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "fe4ea18a-15cc-4255-a7ed-5354fa1f9a9f",
          "item_uuid": "a49112fc-5e8b-4d2e-9d63-be9c385714bf",
          "item_name": "The capital river item",
          "sku_uuid": "720662af-67da-4eed-8a62-9ab89e581065",
          "sku_id": "4MQPJ7MM6UoEjjI9",
          "sku_name": "The capital river item",
          "cost": 37.82,
          "supplier_uuid": "b68160e5-61a5-44ce-96d4-40e123cc3450",
          "supplier_name": "Rodriguez-Smith",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 10,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "07050fea-f478-4b21-908b-62de98b42261",
          "item_uuid": "f567aa86-4f0e-4997-b485-126fcae5836f",
          "item_name": "The absorbed bite item",
          "sku_uuid": "abf29db5-e627-484b-b328-f67eec5bb048",
          "sku_id": "jiqqvQRjyh4rcOwvAHr",
          "sku_name": "The absorbed bite item",
          "cost": 27.67,
          "supplier_uuid": "0eaac668-e0ae-4b7f-9c71-d240a7f89a4e",
          "supplier_name": "Nelson-Morris",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 6,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        },
        {
          "uuid": "05156c0c-1801-4fea-9109-2eef5f8acf6b",
          "item_uuid": "5a345ed9-c310-4bc3-b68e-18cedcfe791c",
          "item_name": "The impractical bed item",
          "sku_uuid": "01793e24-4223-47c0-ab77-3523fadafc78",
          "sku_id": "QWXs6zdZ",
          "sku_name": "The impractical bed item",
          "cost": 56.67,
          "supplier_uuid": "a3b62a7a-4515-4d26-80d3-9427ce782b37",
          "supplier_name": "Mcknight LLC",
          "tracking_numbers": [],
          "allocation": {
            "quantity_ordered": 7,
            "quantity_allocated": 0,
            "quantity_backordered": 0,
            "quantity_rejected": 0,
            "backorder_date": null
          }
        }
      ]
    }
  ]
}');

-- each documented order against the answer's order of the same uuid
SELECT d.n, t.*
  FROM documented002, jsonb_array_elements(doc -> 'orders') WITH ORDINALITY AS d(o, n),
       LATERAL test_diff(d.o, (SELECT x FROM answer002, jsonb_array_elements(got -> 'orders') x
                                WHERE x ->> 'uuid' = d.o ->> 'uuid')) t;
