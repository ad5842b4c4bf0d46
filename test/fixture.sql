-- What the pgTAP files (test/pgtap/) share, loaded with their sample orders
-- (test/suite.sh): schema crux_test.
CREATE SCHEMA IF NOT EXISTS crux_test;
GRANT USAGE ON SCHEMA crux_test TO PUBLIC;

-- The index entries that each of seven calls of crux_get_orders(req) reads, in this
-- transaction, of rel: an index, or every index of a table. A walk should read what
-- it should on the first calls and on the plan cache's later (generic) plans alike.
CREATE OR REPLACE FUNCTION crux_test.index_reads_by_call(req jsonb, rel regclass)
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    reads bigint[] := '{}';
    before bigint;
BEGIN
    FOR i IN 1..7 LOOP
        before := (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                    WHERE rel IN (indrelid, indexrelid));
        PERFORM crux_get_orders(req);
        reads := reads || ((SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                             WHERE rel IN (indrelid, indexrelid)) - before);
    END LOOP;
    RETURN reads;
END
$$;

-- Orders for a sort's walks with a status filter: 3,000 of org-1 and 300 of org-2 to
-- org-6, named PREFIX-1 … PREFIX-3300 (uuids md5('prefix-g'), lower case), dated
-- every 157 minutes of 2017, in five order statuses (two that differ only in
-- case); every order has an allocated line item of SKU PREFIX-SKU, one in ten also
-- a cancelled one, and one in twenty only a cancelled one.
CREATE OR REPLACE FUNCTION crux_test.add_status_filter_orders(prefix text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date, status)
    SELECT md5(lower(prefix) || '-' || g)::uuid,
           md5('org-' || CASE WHEN g <= 3000 THEN 1 ELSE 2 + g % 5 END)::uuid,
           prefix || '-' || g,
           timestamptz '2017-01-01 00:00:00Z' + g * interval '157 minutes',
           (ARRAY['New', 'Pending', 'Complete', 'complete', 'Cancelled'])[1 + (g * 7 + g / 20) % 5]
      FROM generate_series(1, 3300) g;
    INSERT INTO crux.line_items (order_uuid, position, sku_id, quantity_ordered, status)
    SELECT o.uuid, p, prefix || '-SKU', 1, s
      FROM crux.orders o,
           LATERAL (SELECT substr(o.purchase_order_id, length(prefix) + 2)::int AS g) n,
           LATERAL (VALUES (1, CASE WHEN n.g % 20 = 0 THEN 'cancelled'::crux.line_item_status
                                    ELSE 'allocated' END),
                           (2, CASE WHEN n.g % 10 = 5 THEN 'cancelled'::crux.line_item_status END)) l(p, s)
     WHERE o.purchase_order_id LIKE prefix || '-%' AND s IS NOT NULL;
$$;

-- Pages of a status filter under sort_key: each conjunction, over all retailers,
-- for org-1, two organizations and seventeen, with and without a date range, both
-- directions, from positions 0, 40 and 290, ten orders each.
CREATE OR REPLACE FUNCTION crux_test.status_filter_requests(sort_key text)
RETURNS SETOF jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'line_item_status', s, 'status_conjunction', c, 'org_uuids', o,
               'start_date', sd, 'end_date', ed,
               'sort', jsonb_build_object('key', sort_key, 'dir', d), 'start', p, 'limit', p + 9))
      FROM (VALUES ('["cancelled"]'::jsonb, 'only'), ('["cancelled", "allocated"]', 'and'),
                   ('["cancelled"]', 'or'), ('["rejected", "backordered"]', 'or')) s(s, c),
           (VALUES (NULL::jsonb), (jsonb_build_array(md5('org-1')::uuid)),
                   (jsonb_build_array(md5('org-1')::uuid, md5('org-3')::uuid)),
                   ((SELECT jsonb_agg(md5('org-' || g)::uuid) FROM generate_series(1, 17) g))) o(o),
           (VALUES (NULL, NULL), ('2017-02-03T04:05:06.789Z', '2017-08-09T10:11:12Z')) r(sd, ed),
           (VALUES ('asc'), ('desc')) d(d),
           (VALUES (0), (40), (290)) p(p);
$$;

-- How many of the requests (those without org_uuids) the role answers otherwise
-- than the baseline does for the superuser, with org_uuids [org] when org is given
-- (a tenant's organization); answered as role, which must not be a superuser.
CREATE OR REPLACE FUNCTION crux_test.answers_differing_as(role name, requests jsonb[], org uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    expected jsonb[];
    differing bigint := 0;
BEGIN
    expected := ARRAY(SELECT crux_baseline.get_orders(
                                 CASE WHEN org IS NULL THEN r
                                      ELSE r || jsonb_build_object('org_uuids', jsonb_build_array(org)) END)
                        FROM unnest(requests) WITH ORDINALITY AS x(r, i) ORDER BY i);
    PERFORM set_config('role', role, true);
    FOR i IN 1 .. coalesce(array_length(requests, 1), 0) LOOP
        IF crux_get_orders(requests[i]) IS DISTINCT FROM expected[i] THEN
            differing := differing + 1;
        END IF;
    END LOOP;
    PERFORM set_config('role', 'none', true);
    RETURN differing;
END
$$;
