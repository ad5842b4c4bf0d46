-- Every bad request raises SQLSTATE 22023 with a message naming the key path and
-- the value, and a hint listing what is accepted.
CREATE FUNCTION err(req jsonb, OUT code text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crux_get_orders(req);
    code := 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
\x on

-- the request itself
SELECT * FROM err('[]');
SELECT * FROM err('"start"');
SELECT * FROM err('42');
-- unknown keys, also near misses: a typo never silently widens a report
SELECT * FROM err('{"statuses": ["allocated"]}');
SELECT * FROM err('{"Start": 0}');
SELECT * FROM err('{"line_item_status": "allocated", "line_item_statuses": "rejected"}');
SELECT * FROM err('{"status_conjunction": "or", "line_item_status_conjunction": "and"}');

-- start and limit
SELECT * FROM err('{"start": -1}');
SELECT * FROM err('{"start": 1.5}');
SELECT * FROM err('{"start": 1e40}');
SELECT * FROM err('{"start": "12a"}');
SELECT * FROM err('{"start": ""}');
SELECT * FROM err('{"start": true}');
SELECT * FROM err('{"limit": [25]}');
SELECT * FROM err('{"limit": "-5"}');
SELECT * FROM err('{"start": 10, "limit": 5}');
SELECT * FROM err('{"limit": 1001}');
SELECT * FROM err('{"start": 5, "limit": 1006}');

-- sort
SELECT * FROM err('{"sort": "date"}');
SELECT * FROM err('{"sort": {"key": "price"}}');
SELECT * FROM err('{"sort": {"key": 1}}');
SELECT * FROM err('{"sort": {"dir": false}}');
SELECT * FROM err('{"sort": {"key": "date", "direction": "asc"}}');

-- statuses and conjunction
SELECT * FROM err('{"line_item_status": "shipped"}');
SELECT * FROM err('{"line_item_statuses": ["Allocated", "Lost"]}');
SELECT * FROM err('{"line_item_status": ["allocated", 3]}');
SELECT * FROM err('{"line_item_status": ["allocated", null]}');
SELECT * FROM err('{"line_item_status": {"allocated": true}}');
SELECT * FROM err('{"line_item_status": ""}');
SELECT * FROM err('{"status_conjunction": "xor"}');
SELECT * FROM err('{"line_item_status_conjunction": ["or"]}');
SELECT * FROM err('{"line_item_status": ["allocated", "rejected"], "status_conjunction": "only"}');
SELECT * FROM err('{"status_conjunction": "only"}');

-- dates
SELECT * FROM err('{"start_date": "yesterday"}');
SELECT * FROM err('{"start_date": "2018-02-30T00:00:00Z"}');
SELECT * FROM err('{"end_date": "2018-13-01"}');
SELECT * FROM err('{"end_date": "2018-01-01T24:00:00Z"}');
SELECT * FROM err('{"end_date": "2018-01-01T10:00:00.1234567Z"}');
SELECT * FROM err('{"end_date": "2018-01-01T10:00:00 EST"}');
SELECT * FROM err('{"start_date": 1514764800}');

-- term and org_uuids
SELECT * FROM err('{"term": 42}');
SELECT * FROM err('{"term": ["P01"]}');
SELECT * FROM err('{"org_uuids": "aaaaaaaa-0000-4000-8000-000000000001"}');
SELECT * FROM err('{"org_uuids": ["aaaaaaaa-0000-4000-8000-000000000001", "not-a-uuid"]}');
SELECT * FROM err('{"org_uuids": [17]}');

-- long and non-ASCII values are shown shortened, never cut inside a character
SELECT * FROM err(jsonb_build_object('status_conjunction', repeat('é', 100)));
SELECT * FROM err(jsonb_build_object(repeat('k', 80), 1));

\x off
-- JSON null as the whole request means every default, like SQL NULL and {}
SELECT pos('null') = pos('{}') AND pos(NULL) = pos('{}') AS same;
-- after all of that the backend still serves
SELECT pos('{"limit": 2}');
