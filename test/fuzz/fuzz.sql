-- Request fuzzing: valid requests mutated (wrong types, huge and negative numbers,
-- deep nesting, long and non-ASCII strings, unknown keys, each key of every
-- function), sent to crux_get_orders, crux_export_rows and crux_export_orders.
-- Each call must answer or raise SQLSTATE 22023; anything else is recorded. A
-- backend crash ends the session, which the caller notices.
--
--   psql -f test/fuzz/fuzz.sql                     creates schema crux_fuzz
--   SELECT * FROM crux_fuzz.run(100000, 0.42);     requests, seed
CREATE SCHEMA IF NOT EXISTS crux_fuzz;

-- Valid requests to start from: every key, alias and dialect.
CREATE OR REPLACE FUNCTION crux_fuzz.seeds() RETURNS SETOF jsonb LANGUAGE sql IMMUTABLE AS $$
    VALUES ('{}'::jsonb),
           ('{"start": 0, "limit": 25, "sort": {"key": "uuid", "dir": "des"}, "line_item_status": ["unallocated"], "status_conjunction": "or", "start_date": "2017-07-31T06:00:00.000Z", "end_date": "2018-08-03T06:00:00.000Z"}'),
           ('{"start": 0, "limit": 2, "line_item_statuses": ["Unallocated"], "line_item_status_conjunction": "or", "start_date": "2017-07-31T06:00:00.000Z", "end_date": "2018-08-03T06:00:00.000Z", "term": "", "org_uuids": [], "sort": {"key": "date", "value": "asc"}}'),
           ('{"line_item_status": "delivered", "status_conjunction": "only", "sort": {"key": "sku_id", "dir": "asc"}}'),
           ('{"line_item_status": ["allocated", "HasTracking"], "status_conjunction": "and", "term": "PO-00000042"}'),
           ('{"org_uuids": ["71f82408-0503-1caf-aec6-98e6445b893a"], "start": "5", "limit": "30", "sort": {"key": "status"}}'),
           ('{"term": "SKU000123", "end_date": "2018-01-01", "fields": ["purchase_order_id", "sku_id"]}')
$$;

-- A random JSON value of a random kind; depth bounds nesting.
CREATE OR REPLACE FUNCTION crux_fuzz.value(depth int) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k int := floor(random() * 22);
BEGIN
    RETURN CASE k
        WHEN 0 THEN 'null'::jsonb
        WHEN 1 THEN to_jsonb(random() < 0.5)
        WHEN 2 THEN to_jsonb(floor(random() * 100)::int)
        WHEN 3 THEN to_jsonb(-floor(random() * 1e6)::int)
        WHEN 4 THEN to_jsonb((random() * 1e18)::numeric)
        WHEN 5 THEN to_jsonb(1e300::numeric * random())
        WHEN 6 THEN to_jsonb(random())
        WHEN 7 THEN to_jsonb(''::text)
        WHEN 8 THEN to_jsonb(repeat('x', floor(random() * 5000)::int))
        WHEN 9 THEN to_jsonb(repeat('é€𝄞', floor(random() * 300)::int))
        WHEN 10 THEN to_jsonb((ARRAY['or', 'and', 'only', 'all', 'OR', 'xor', 'asc', 'des', 'desc',
                                     'date', 'status', 'sku_id', 'uuid', 'created_date', 'price'])[1 + floor(random() * 15)::int])
        WHEN 11 THEN to_jsonb((ARRAY['unallocated', 'Allocated', 'REJECTED', 'HasTracking', 'has_tracking',
                                     'backordered', 'delivered', 'Cancelled', 'has__tracking', '_', 'lost'])[1 + floor(random() * 11)::int])
        WHEN 12 THEN to_jsonb((ARRAY['2017-07-31T06:00:00.000Z', '2018-02-30', '9999-12-31T23:59:59.999999Z',
                                     '0001-01-01', '2018-01-01T10:00:00+14:00', '2018-01-01T10:00:00-15:59',
                                     '2018-01-01T24:00', '2018-1-1', '20180101', '2018-01-01T10:00:00.', 'T'])[1 + floor(random() * 11)::int])
        WHEN 13 THEN to_jsonb(gen_random_uuid()::text)
        WHEN 14 THEN to_jsonb(upper(replace(gen_random_uuid()::text, '-', '')))
        WHEN 15 THEN to_jsonb(floor(random() * 3000000000)::bigint::text)
        WHEN 16 THEN CASE WHEN depth > 0 THEN jsonb_build_array(crux_fuzz.value(depth - 1), crux_fuzz.value(depth - 1)) ELSE '[]' END
        WHEN 17 THEN CASE WHEN depth > 0 THEN jsonb_build_object('key', crux_fuzz.value(depth - 1), 'dir', crux_fuzz.value(depth - 1)) ELSE '{}' END
        WHEN 18 THEN CASE WHEN depth > 0 THEN jsonb_build_object(md5(random()::text), crux_fuzz.value(depth - 1)) ELSE '{}' END
        WHEN 19 THEN (SELECT (repeat('[', d) || repeat(']', d))::jsonb FROM (SELECT 100 + floor(random() * 900)::int AS d) x)
        WHEN 20 THEN to_jsonb(chr(1 + floor(random() * 1000)::int) || chr(65 + floor(random() * 60)::int))
        ELSE jsonb_build_array('sku_id', 'purchase_order_id', 'price', 'tracking_numbers')
    END;
END
$$;

CREATE OR REPLACE FUNCTION crux_fuzz.key() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT (ARRAY['start', 'limit', 'sort', 'line_item_status', 'line_item_statuses', 'status_conjunction',
                  'line_item_status_conjunction', 'start_date', 'end_date', 'term', 'org_uuids', 'fields',
                  'Start', 'statuses', '', repeat('k', 300), 'sort.key', 'é'])[1 + floor(random() * 18)::int]
$$;

-- One mutation of a request.
CREATE OR REPLACE FUNCTION crux_fuzz.mutate(req jsonb) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    keys text[];
    k text;
BEGIN
    IF jsonb_typeof(req) <> 'object' THEN
        RETURN CASE WHEN random() < 0.5 THEN crux_fuzz.value(3)
                    ELSE jsonb_build_object(crux_fuzz.key(), req) END;
    END IF;
    keys := ARRAY(SELECT jsonb_object_keys(req));
    CASE floor(random() * 6)::int
        WHEN 0 THEN RETURN req || jsonb_build_object(crux_fuzz.key(), crux_fuzz.value(3));
        WHEN 1 THEN
            IF cardinality(keys) = 0 THEN RETURN req; END IF;
            RETURN req - keys[1 + floor(random() * cardinality(keys))::int];
        WHEN 2 THEN
            IF cardinality(keys) = 0 THEN RETURN req; END IF;
            k := keys[1 + floor(random() * cardinality(keys))::int];
            RETURN jsonb_set(req, ARRAY[k], crux_fuzz.value(2));
        WHEN 3 THEN RETURN jsonb_set(req || '{"sort": {}}', '{sort}',
                                     (CASE WHEN jsonb_typeof(req -> 'sort') = 'object' THEN req -> 'sort' ELSE '{}' END)
                                     || jsonb_build_object((ARRAY['key', 'dir', 'value', 'other'])[1 + floor(random() * 4)::int],
                                                           crux_fuzz.value(2)));
        WHEN 4 THEN RETURN jsonb_build_object('line_item_status', jsonb_build_array(crux_fuzz.value(1), crux_fuzz.value(1)))
                           || req;
        ELSE RETURN crux_fuzz.value(3);
    END CASE;
END
$$;

-- Sends n mutated requests to the three functions; returns one row per outcome
-- kind (the function, "answered" or the SQLSTATE) with its count and an example.
CREATE OR REPLACE FUNCTION crux_fuzz.run(n int, seed float8 DEFAULT 0.42)
RETURNS TABLE (fn text, outcome text, calls bigint, example jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seeds jsonb[] := ARRAY(SELECT crux_fuzz.seeds());
    req jsonb;
    target text;
    state text;
BEGIN
    PERFORM setseed(seed);
    CREATE TEMP TABLE IF NOT EXISTS fuzz_outcomes (fn text, outcome text, req jsonb) ON COMMIT DROP;
    FOR i IN 1 .. n LOOP
        req := seeds[1 + floor(random() * cardinality(seeds))::int];
        FOR m IN 0 .. floor(random() * 3)::int LOOP
            req := crux_fuzz.mutate(req);
        END LOOP;
        target := (ARRAY['crux_get_orders', 'crux_export_rows', 'crux_export_orders'])[1 + i % 3];
        BEGIN
            CASE target
                WHEN 'crux_get_orders' THEN PERFORM crux_get_orders(req);
                WHEN 'crux_export_rows' THEN PERFORM * FROM crux_export_rows(req) LIMIT 1;
                ELSE PERFORM crux_export_orders(req);
            END CASE;
            state := 'answered';
            -- roll the export job back with the subtransaction
            RAISE SQLSTATE 'CXF00';
        EXCEPTION
            WHEN SQLSTATE 'CXF00' THEN NULL;
            WHEN OTHERS THEN state := SQLSTATE;
        END;
        INSERT INTO fuzz_outcomes VALUES (target, state, req);
    END LOOP;
    RETURN QUERY SELECT o.fn, o.outcome, count(*), (array_agg(o.req))[1]
                   FROM fuzz_outcomes o GROUP BY 1, 2 ORDER BY 1, 2;
    DROP TABLE fuzz_outcomes;
END
$$;
