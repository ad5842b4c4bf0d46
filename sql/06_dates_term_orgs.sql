-- start_date <= created_date < end_date: P03 was created at 2018-01-01T03:00:00Z
SELECT pos('{"start_date": "2018-01-01T03:00:00.000Z", "sort": {"dir": "asc"}, "limit": 3}');
SELECT pos('{"start_date": "2018-01-01T03:00:00.000001Z", "sort": {"dir": "asc"}, "limit": 3}');
SELECT pos('{"end_date": "2018-01-01T03:00:00Z"}');
SELECT pos('{"end_date": "2018-01-01T03:00:00.000001Z"}');
-- consecutive ranges never count an order twice
SELECT pos('{"start_date": "2018-01-01T02:00:00Z", "end_date": "2018-01-01T04:00:00Z"}'),
       pos('{"start_date": "2018-01-01T04:00:00Z", "end_date": "2018-01-01T06:00:00Z"}');
-- no zone means UTC whatever the session's TimeZone; offsets and a date alone work
SET TimeZone = 'America/New_York';
SELECT pos('{"start_date": "2018-01-01T03:00:00", "end_date": "2018-01-01T05:00:00"}');
SELECT pos('{"start_date": "2017-12-31T22:00:00-05:00", "end_date": "2018-01-01 05:00:00+0000"}');
SELECT pos('{"start_date": "2018-01-01T08:30+05:30", "end_date": "2018-01-01T05:00:00z"}');
SELECT pos('{"start_date": "2018-01-01", "end_date": "2018-01-02"}');
SELECT pos('{"end_date": "2018-01-01"}');
SELECT o ->> 'created_date' FROM jsonb_array_elements(
    crux_get_orders('{"limit": 1, "sort": {"dir": "asc"}}') -> 'orders') o;
RESET TimeZone;
-- an empty range is no error, just nothing
SELECT pos('{"start_date": "2018-01-01T05:00:00Z", "end_date": "2018-01-01T03:00:00Z"}');

-- term: the order's uuid (any case), its purchase_order_id, or a line item's sku_id
SELECT pos('{"term": "00000000-0000-4000-8000-000000000004"}');
SELECT pos('{"term": "00000000-0000-4000-8000-00000000000A"}');
UPDATE crux.orders SET uuid = '00000000-0000-4000-8000-0000000000ab'
 WHERE purchase_order_id = 'P05';
SELECT pos('{"term": "00000000-0000-4000-8000-0000000000AB"}');
SELECT pos('{"term": "000000000000400080000000000000AB"}');
SELECT pos('{"term": "P07"}');
SELECT pos('{"term": "  P07\n"}');
SELECT pos('{"term": "p07"}');
SELECT pos('{"term": "S-200"}');
SELECT pos('{"term": "S-600"}');
SELECT pos('{"term": "S-100", "line_item_status": "allocated", "status_conjunction": "only"}');
SELECT pos('{"term": "nothing-matches"}');
SELECT pos('{"term": ""}');
SELECT pos('{"term": "   "}');
-- a purchase order id that is also someone's sku, and looks like nothing else
INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
VALUES ('00000000-0000-4000-8000-000000000099', 'bbbbbbbb-0000-4000-8000-000000000002',
        'S-200', '2017-01-01Z');
SELECT pos('{"term": "S-200", "sort": {"dir": "asc"}}');
DELETE FROM crux.orders WHERE purchase_order_id = 'S-200';

-- org_uuids: orders of the listed retailers; an empty list is no filter
SELECT pos('{"org_uuids": ["bbbbbbbb-0000-4000-8000-000000000002"]}');
SELECT pos('{"org_uuids": ["BBBBBBBB-0000-4000-8000-000000000002",
                           "aaaaaaaa-0000-4000-8000-000000000001"], "limit": 3}');
SELECT pos('{"org_uuids": ["cccccccc-0000-4000-8000-000000000003"]}');
SELECT pos('{"org_uuids": [], "limit": 3}');
SELECT pos('{"org_uuids": ["aaaaaaaa-0000-4000-8000-000000000001"],
             "line_item_status": "unallocated"}');

-- every filter at once
SELECT pos('{"org_uuids": ["aaaaaaaa-0000-4000-8000-000000000001"],
             "line_item_statuses": ["Unallocated", "Allocated"],
             "line_item_status_conjunction": "or",
             "start_date": "2018-01-01T02:00:00Z", "end_date": "2018-01-01T11:00:00Z",
             "term": "S-100", "sort": {"key": "sku_id", "dir": "asc"},
             "start": 0, "limit": 10}');
