-- Behaviour of crux_get_orders as a function: its declaration, the equivalences
-- the contract promises (aliases, null and absent, dialects), exact totals, the
-- page cap, and errors that change nothing. Runs on the 1,000 sample orders.
BEGIN;
SELECT plan(38);

SELECT has_function('crux_get_orders', ARRAY['jsonb']);
SELECT volatility_is('crux_get_orders', ARRAY['jsonb'], 'stable');
SELECT isnt_strict('crux_get_orders', ARRAY['jsonb']);
SELECT isnt_definer('crux_get_orders', ARRAY['jsonb']);
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'crux_get_orders'), NULL,
          'the one parameter is unnamed, so PostgREST passes the whole body');
SELECT function_returns('crux_get_orders', ARRAY['jsonb'], 'jsonb');

-- defaults
SELECT is(crux_get_orders(NULL), crux_get_orders('{}'), 'SQL NULL means every default');
SELECT is(crux_get_orders('null'), crux_get_orders('{}'), 'JSON null means every default');
SELECT is(crux_get_orders('{"start": null, "limit": null, "sort": null, "line_item_status": null,
                            "status_conjunction": null, "start_date": null, "end_date": null,
                            "term": null, "org_uuids": null}'),
          crux_get_orders('{}'), 'keys whose value is null count as absent');
SELECT is(crux_get_orders('{}'),
          crux_get_orders('{"start": 0, "limit": 25, "sort": {"key": "date", "dir": "des"},
                            "status_conjunction": "or", "term": "", "org_uuids": []}'),
          'the documented defaults');
SELECT is(jsonb_array_length(crux_get_orders('{}') -> 'orders'), 25, 'a default page holds 25 orders');

-- freed memory kept for the next call: repeating a page of 1000 orders faults in
-- almost no new memory (minor page faults of this backend, from /proc); with the
-- setting at 0 the C library returns it to the kernel and every call faults again
CREATE FUNCTION pg_temp.minor_faults() RETURNS bigint LANGUAGE sql AS
$$SELECT split_part(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ', 8)::bigint$$;
CREATE FUNCTION pg_temp.faults_of_three_pages() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
BEGIN
    PERFORM crux_get_orders('{"limit": 1000}')::text FROM generate_series(1, 5);
    before := pg_temp.minor_faults();
    PERFORM crux_get_orders('{"limit": 1000}')::text FROM generate_series(1, 3);
    RETURN pg_temp.minor_faults() - before;
END
$$;
SELECT is(current_setting('crux_orders.retained_memory'), '32MB', 'crux_orders.retained_memory is 32MB by default');
CREATE TEMP TABLE faults AS SELECT pg_temp.faults_of_three_pages() AS kept;
SET LOCAL crux_orders.retained_memory = 0;
ALTER TABLE faults ADD COLUMN returned bigint;
UPDATE faults SET returned = pg_temp.faults_of_three_pages();
RESET crux_orders.retained_memory;
SELECT cmp_ok(returned, '>', 1000::bigint, format('three pages of 1000 orders fault in %s pages with the memory returned to the kernel', returned)) FROM faults;
SELECT cmp_ok(kept * 4, '<', returned, format('and in %s with it kept', kept)) FROM faults;
SELECT is(jsonb_array_length(crux_get_orders('{"start": 990}') -> 'orders'), 10,
          'the last page holds what is left');

-- aliases and dialects give the same answers
SELECT is(crux_get_orders('{"line_item_statuses": ["HasTracking", "Backordered"], "line_item_status_conjunction": "AND"}'),
          crux_get_orders('{"line_item_status": ["has_tracking", "backordered"], "status_conjunction": "and"}'),
          'v2 keys and CamelCase statuses equal v1 keys and names');
SELECT is(crux_get_orders('{"line_item_status": "delivered"}'),
          crux_get_orders('{"line_item_status": ["delivered"]}'),
          'one status as a string equals a one-element array');
SELECT is(crux_get_orders('{"line_item_status": ["rejected"], "status_conjunction": "all"}'),
          crux_get_orders('{"line_item_status": ["rejected"], "status_conjunction": "only"}'),
          '"all" is "only"');
SELECT is(crux_get_orders('{"sort": {"key": "created_date", "dir": "asc"}}'),
          crux_get_orders('{"sort": {"key": "DATE", "dir": "ASC"}}'),
          'created_date is date, keys and directions in any case');
SELECT is(crux_get_orders('{"sort": {"dir": "desc"}}'), crux_get_orders('{"sort": {"dir": "des"}}'),
          'des and desc both sort descending');
SELECT is(crux_get_orders('{"start": "5", "limit": "15"}'), crux_get_orders('{"start": 5, "limit": 15}'),
          'start and limit as strings of digits');

-- total_results counts every matching order, not the page
SELECT is((crux_get_orders('{"line_item_status": "backordered", "limit": 1}') ->> 'total_results')::bigint,
          (SELECT count(*) FROM crux.orders o
            WHERE EXISTS (SELECT 1 FROM crux.line_items li
                           WHERE li.order_uuid = o.uuid AND li.status = 'backordered')),
          'total_results is exact');
SELECT is((crux_get_orders('{"start": 2000, "limit": 2010}') ->> 'total_results')::bigint, 1000::bigint,
          'total_results is given past the end too');

-- paging: consecutive pages of every sort concatenate to the whole sorted list
SELECT is((SELECT jsonb_agg(o ORDER BY p, n) FROM generate_series(0, 975, 25) p,
                  jsonb_array_elements(crux_get_orders(jsonb_build_object(
                      'start', p, 'limit', p + 25, 'sort', '{"key": "sku_id", "dir": "asc"}'::jsonb)) -> 'orders')
                      WITH ORDINALITY x(o, n)),
          (SELECT jsonb_agg(o ORDER BY n) FROM jsonb_array_elements(crux_get_orders(
                      '{"start": 0, "limit": 1000, "sort": {"key": "sku_id", "dir": "asc"}}') -> 'orders')
                      WITH ORDINALITY x(o, n)),
          'forty pages of 25 are the page of 1000, in order');

-- the page cap
SELECT lives_ok($$SELECT crux_get_orders('{"start": 0, "limit": 1000}')$$, 'a page of max_page_size is fine');
SELECT throws_ok($$SELECT crux_get_orders('{"start": 0, "limit": 1001}')$$, '22023',
                 'invalid "limit": 1001', 'one more is refused');
SET LOCAL crux_orders.max_page_size = 5000;
SELECT lives_ok($$SELECT crux_get_orders('{"start": 0, "limit": 5000}')$$, 'the cap follows the setting');
RESET crux_orders.max_page_size;

-- errors carry 22023 and the key path
SELECT throws_ok($$SELECT crux_get_orders('{"status_conjunction": "xor"}')$$, '22023',
                 'invalid "status_conjunction": "xor"', 'the documented example message');
SELECT throws_ok($$SELECT crux_get_orders('{"sort": {"key": "price"}}')$$, '22023',
                 'invalid "sort.key": "price"', 'a nested key path');
SELECT throws_ok($$SELECT crux_get_orders('{"line_item_statuses": ["allocated", "x"]}')$$, '22023',
                 'invalid "line_item_statuses[1]": "x"', 'an array element path');
SELECT throws_ok($$SELECT crux_get_orders('{"limits": 5}')$$, '22023',
                 'unrecognized request key "limits"', 'a typo is an error, never a wider report');
SELECT throws_ok($$SELECT crux_get_orders('{"term": "x", "line_item_status": "allocated", "status_conjunction": "only", "org_uuids": ["nope"]}')$$,
                 '22023', 'invalid "org_uuids[0]": "nope"', 'the first bad key of an otherwise valid request');

-- a failed call changes nothing and the session goes on
SELECT is((SELECT count(*) FROM crux.orders), 1000::bigint, 'the orders are untouched');
SELECT is(crux.recount_summaries(), 0::bigint, 'the summaries of the sample data are exact');
SELECT is((crux_get_orders('{"limit": 1}') ->> 'total_results')::int, 1000, 'the session still answers');

-- is_allocated (contract: at least one line item, none unallocated), from the line items
SELECT is((SELECT count(*) FROM jsonb_array_elements(crux_get_orders('{"limit": 1000}') -> 'orders') o
            WHERE (o ->> 'is_allocated')::boolean IS DISTINCT FROM
                  (EXISTS (SELECT FROM crux.line_items li WHERE li.order_uuid = (o ->> 'uuid')::uuid)
                   AND NOT EXISTS (SELECT FROM crux.line_items li
                                    WHERE li.order_uuid = (o ->> 'uuid')::uuid AND li.status = 'unallocated'))),
          0::bigint, 'is_allocated of every order: at least one line item and none unallocated');
SELECT is((SELECT array_agg(DISTINCT o ->> 'is_allocated' ORDER BY o ->> 'is_allocated')
             FROM jsonb_array_elements(crux_get_orders('{"limit": 1000}') -> 'orders') o),
          ARRAY['false', 'true'], 'the sample orders have both values');
-- (the answer is kept in a psql variable: rolling back to the savepoint would undo
-- pgTAP's count of an assertion made inside it)
SAVEPOINT without_line_items;
DELETE FROM crux.line_items
 WHERE order_uuid = (crux_get_orders('{"limit": 1}') -> 'orders' -> 0 ->> 'uuid')::uuid;
SELECT crux_get_orders('{"limit": 1}') -> 'orders' -> 0 -> 'is_allocated' AS without_line_items \gset
ROLLBACK TO SAVEPOINT without_line_items;
SELECT is(:'without_line_items'::jsonb, 'false'::jsonb, 'an order without line items is not allocated');

SELECT * FROM finish();
ROLLBACK;
