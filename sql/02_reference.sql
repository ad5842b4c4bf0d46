-- The example orders of the reference documents 002 (Get Orders v1) and 003
-- (Get Orders v2), loaded into the tables, give back the documented responses
-- field by field.
--
-- test_diff lists every documented leaf whose value differs in the answer; an
-- empty result means every documented field is reproduced. Two documented facts
-- the contract settles otherwise are normalised first, and said here:
--  * line-item statuses are the enum labels ("unallocated"); document 003 prints
--    the v2 dialect ("Unallocated"). Compared case-insensitively without "_".
--  * the answer always has every key; the documents omit some (order "status" in
--    003, line-item "status" in 002). Only documented keys are compared.
CREATE FUNCTION test_diff(doc jsonb, got jsonb, path text DEFAULT '')
RETURNS TABLE (at text, documented jsonb, answered jsonb) LANGUAGE plpgsql AS $$
DECLARE
    k text;
    i int;
BEGIN
    IF jsonb_typeof(doc) = 'object' AND jsonb_typeof(got) = 'object' THEN
        FOR k IN SELECT jsonb_object_keys(doc) LOOP
            RETURN QUERY SELECT * FROM test_diff(doc -> k, got -> k, path || '.' || k);
        END LOOP;
    ELSIF jsonb_typeof(doc) = 'array' AND jsonb_typeof(got) = 'array' THEN
        IF jsonb_array_length(doc) <> jsonb_array_length(got) THEN
            RETURN QUERY SELECT path || '.length', to_jsonb(jsonb_array_length(doc)),
                                to_jsonb(jsonb_array_length(got));
        END IF;
        FOR i IN 0 .. least(jsonb_array_length(doc), jsonb_array_length(got)) - 1 LOOP
            RETURN QUERY SELECT * FROM test_diff(doc -> i, got -> i, path || '[' || i || ']');
        END LOOP;
    ELSIF path ~ 'line_items\[\d+\]\.status$' THEN
        IF lower(replace(doc #>> '{}', '_', '')) IS DISTINCT FROM lower(replace(got #>> '{}', '_', '')) THEN
            RETURN QUERY SELECT path, doc, got;
        END IF;
    ELSIF doc IS DISTINCT FROM got THEN
        RETURN QUERY SELECT path, doc, got;
    END IF;
END
$$;

-- Reference 003 (v2): two orders of "Crux Retailer", plus 102 older unallocated
-- orders in the range so that total_results is the documented 104.
INSERT INTO crux.organizations VALUES
    ('93204006-fcdc-458c-8f81-13a7337992ae', 'Crux Retailer');
INSERT INTO crux.users VALUES
    ('0f5e7a7e-1111-4c1a-9c1a-000000000003', '93204006-fcdc-458c-8f81-13a7337992ae',
     'Roy Breslawski', 'rbreslawski@cruxretailer.com');

INSERT INTO crux.orders (uuid, retailer_uuid, user_uuid, purchase_order_id, created_date,
                         notes, address_name, address_business_name, address_address1,
                         address_address2, address_city, address_state,
                         address_postal_code, shipping_carrier, shipping_method)
VALUES
    ('9a39a7e0-078b-4321-a6dc-02bb2a505243', '93204006-fcdc-458c-8f81-13a7337992ae',
     '0f5e7a7e-1111-4c1a-9c1a-000000000003', 'po-XLisbIUs', '2018-02-26T17:53:57.326890Z',
     'here are some notes', 'Bob Iger', 'NBC', '30 Rockefeller Plaza', 'STE 123',
     'New York', 'NY', '10112', 'UPS', 'Ground'),
    ('3b6bf17a-1a95-41c7-8961-52ac8459c986', '93204006-fcdc-458c-8f81-13a7337992ae',
     '0f5e7a7e-1111-4c1a-9c1a-000000000003', 'po-WbbQy4Nu', '2018-02-26T15:45:17.390064Z',
     'here are some notes', 'Bob Iger', 'NBC', '30 Rockefeller Plaza', 'STE 123',
     'New York', 'NY', '10112', 'UPS', 'Ground');
INSERT INTO crux.line_items (uuid, order_uuid, item_uuid, item_name, sku_uuid, sku_id,
                             sku_name, cost, supplier_uuid, supplier_name,
                             quantity_ordered)
VALUES
    ('c3fb678f-f881-4894-a7ca-424119289cc4', '9a39a7e0-078b-4321-a6dc-02bb2a505243',
     'a904832e-2ad4-4ad7-8339-e4b0877a42bd', 'PulseTech Xtreme Charger Auto  100X010 XC100-P',
     'f9ded77b-35b2-45e1-a071-2eec8e99f581', '000106',
     'PulseTech Xtreme Charger Auto  100X010 XC100-P', 66.05,
     '757ce28d-fbd6-4b9f-8051-f847482e169f', 'Crux Supplier A', 475),
    ('052cae65-0332-4e8a-820a-3d482913e810', '3b6bf17a-1a95-41c7-8961-52ac8459c986',
     'a904832e-2ad4-4ad7-8339-e4b0877a42bd', 'PulseTech Xtreme Charger Auto  100X010 XC100-P',
     'f9ded77b-35b2-45e1-a071-2eec8e99f581', '000106',
     'PulseTech Xtreme Charger Auto  100X010 XC100-P', 66.05,
     '757ce28d-fbd6-4b9f-8051-f847482e169f', 'Crux Supplier A', 236);

INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
SELECT md5('filler003-' || g)::uuid, '93204006-fcdc-458c-8f81-13a7337992ae',
       'filler-003-' || g, timestamptz '2017-09-01 00:00Z' + g * interval '1 hour'
  FROM generate_series(1, 102) g;
INSERT INTO crux.line_items (order_uuid, sku_id, quantity_ordered)
SELECT md5('filler003-' || g)::uuid, 'FILLER', 1 FROM generate_series(1, 102) g;

-- The documented request, byte for byte. "value": "asc" is ignored with a WARNING
-- and the answer is newest first, as documented.
CREATE TABLE answer003 AS
SELECT crux_get_orders('{
    "start": 0,
    "limit": 2,
    "line_item_statuses": ["Unallocated"],
    "line_item_status_conjunction": "or",
    "start_date": "2017-07-31T06:00:00.000Z",
    "end_date": "2018-08-03T06:00:00.000Z",
    "term": "",
    "org_uuids": [],
    "sort": {"key": "date", "value": "asc"}
}') AS got;

SELECT * FROM test_diff('{
    "total_results": 104,
    "orders": [
      {
        "uuid": "9a39a7e0-078b-4321-a6dc-02bb2a505243",
        "is_allocated": false,
        "purchase_order_id": "po-XLisbIUs",
        "created_date": "2018-02-26T17:53:57.326890Z",
        "notes": "here are some notes",
        "fees": {"estimated_shipping_cost": 0, "drop_ship_fee": 0, "order_fee": 0},
        "retailer": {
          "name": "Crux Retailer",
          "uuid": "93204006-fcdc-458c-8f81-13a7337992ae",
          "user": {"name": "Roy Breslawski", "email": "rbreslawski@cruxretailer.com"}
        },
        "address": {
          "name": "Bob Iger", "business_name": "NBC", "address1": "30 Rockefeller Plaza",
          "address2": "STE 123", "city": "New York", "state": "NY",
          "postal_code": "10112", "phone_number": null
        },
        "requested_shipping": {"shipping_carrier": "UPS", "shipping_method": "Ground"},
        "line_items": [
          {
            "uuid": "c3fb678f-f881-4894-a7ca-424119289cc4",
            "status": "Unallocated",
            "item_uuid": "a904832e-2ad4-4ad7-8339-e4b0877a42bd",
            "item_name": "PulseTech Xtreme Charger Auto  100X010 XC100-P",
            "sku_uuid": "f9ded77b-35b2-45e1-a071-2eec8e99f581",
            "sku_id": "000106",
            "sku_name": "PulseTech Xtreme Charger Auto  100X010 XC100-P",
            "cost": 66.05,
            "supplier_uuid": "757ce28d-fbd6-4b9f-8051-f847482e169f",
            "supplier_name": "Crux Supplier A",
            "tracking_numbers": [],
            "allocation": {"quantity_ordered": 475, "quantity_allocated": 0,
                           "quantity_backordered": 0, "quantity_rejected": 0,
                           "backorder_date": null}
          }
        ]
      },
      {
        "uuid": "3b6bf17a-1a95-41c7-8961-52ac8459c986",
        "is_allocated": false,
        "purchase_order_id": "po-WbbQy4Nu",
        "created_date": "2018-02-26T15:45:17.390064Z",
        "notes": "here are some notes",
        "fees": {"estimated_shipping_cost": 0, "drop_ship_fee": 0, "order_fee": 0},
        "retailer": {
          "name": "Crux Retailer",
          "uuid": "93204006-fcdc-458c-8f81-13a7337992ae",
          "user": {"name": "Roy Breslawski", "email": "rbreslawski@cruxretailer.com"}
        },
        "address": {
          "name": "Bob Iger", "business_name": "NBC", "address1": "30 Rockefeller Plaza",
          "address2": "STE 123", "city": "New York", "state": "NY",
          "postal_code": "10112", "phone_number": null
        },
        "requested_shipping": {"shipping_carrier": "UPS", "shipping_method": "Ground"},
        "line_items": [
          {
            "uuid": "052cae65-0332-4e8a-820a-3d482913e810",
            "status": "Unallocated",
            "item_uuid": "a904832e-2ad4-4ad7-8339-e4b0877a42bd",
            "item_name": "PulseTech Xtreme Charger Auto  100X010 XC100-P",
            "sku_uuid": "f9ded77b-35b2-45e1-a071-2eec8e99f581",
            "sku_id": "000106",
            "sku_name": "PulseTech Xtreme Charger Auto  100X010 XC100-P",
            "cost": 66.05,
            "supplier_uuid": "757ce28d-fbd6-4b9f-8051-f847482e169f",
            "supplier_name": "Crux Supplier A",
            "tracking_numbers": [],
            "allocation": {"quantity_ordered": 236, "quantity_allocated": 0,
                           "quantity_backordered": 0, "quantity_rejected": 0,
                           "backorder_date": null}
          }
        ]
      }
    ]
}', (SELECT got FROM answer003));

-- the keys the document omits are present too
SELECT jsonb_pretty(got -> 'orders' -> 0) FROM answer003;

-- test_diff itself notices a difference (so an empty result above means something)
SELECT * FROM test_diff('{"total_results": 105, "orders": [{"line_items": [{"status": "Allocated"}]}]}',
                        (SELECT got FROM answer003));
