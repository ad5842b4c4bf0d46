-- The plain-SQL baseline: crux_get_orders written the way a user (or PostgREST's
-- resource embedding) would write it, with EXISTS sub-queries on line items,
-- jsonb_build_object / jsonb_agg, OFFSET / LIMIT and count(*), reading only the
-- contract's columns (none of the extension's summaries).
--
-- Two uses: the pgTAP suite checks that crux_get_orders returns exactly the same
-- jsonb for many requests, and the benchmark (test/bench/) times it against
-- crux_get_orders. It assumes a valid request: validation is not its business.
--
--   psql -f test/baseline.sql      creates schema crux_baseline

CREATE SCHEMA IF NOT EXISTS crux_baseline;

-- "HasTracking", "has_tracking" -> 'has_tracking'
CREATE OR REPLACE FUNCTION crux_baseline.status_label(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT e::text FROM unnest(enum_range(NULL::crux.line_item_status)) e
     WHERE replace(e::text, '_', '') = lower(replace(s, '_', ''))
$$;

CREATE OR REPLACE FUNCTION crux_baseline.utc(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- One order in the documented shape.
CREATE OR REPLACE FUNCTION crux_baseline.order_json(order_uuid uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'uuid', o.uuid,
        'status', o.status,
        'is_allocated', EXISTS (SELECT 1 FROM crux.line_items li WHERE li.order_uuid = o.uuid)
                        AND NOT EXISTS (SELECT 1 FROM crux.line_items li
                                         WHERE li.order_uuid = o.uuid AND li.status = 'unallocated'),
        'purchase_order_id', o.purchase_order_id,
        'created_date', crux_baseline.utc(o.created_date),
        'notes', o.notes,
        'fees', jsonb_build_object('estimated_shipping_cost', trim_scale(o.estimated_shipping_cost),
                                   'drop_ship_fee', trim_scale(o.drop_ship_fee),
                                   'order_fee', trim_scale(o.order_fee)),
        'retailer', jsonb_build_object(
            'name', (SELECT r.name FROM crux.organizations r WHERE r.uuid = o.retailer_uuid),
            'uuid', o.retailer_uuid,
            'user', jsonb_build_object(
                'name', (SELECT u.name FROM crux.users u WHERE u.uuid = o.user_uuid),
                'email', (SELECT u.email FROM crux.users u WHERE u.uuid = o.user_uuid))),
        'address', jsonb_build_object(
            'name', o.address_name, 'business_name', o.address_business_name,
            'address1', o.address_address1, 'address2', o.address_address2,
            'city', o.address_city, 'state', o.address_state,
            'postal_code', o.address_postal_code, 'phone_number', o.address_phone_number),
        'requested_shipping', jsonb_build_object('shipping_carrier', o.shipping_carrier,
                                                 'shipping_method', o.shipping_method),
        'line_items', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'uuid', li.uuid, 'status', li.status, 'item_uuid', li.item_uuid,
                       'item_name', li.item_name, 'sku_uuid', li.sku_uuid,
                       'sku_id', li.sku_id, 'sku_name', li.sku_name,
                       'cost', trim_scale(li.cost), 'supplier_uuid', li.supplier_uuid,
                       'supplier_name', li.supplier_name,
                       'tracking_numbers', coalesce((
                           SELECT jsonb_agg(jsonb_build_object(
                                      'tracking_number', t.tracking_number,
                                      'shipping_carrier', t.shipping_carrier,
                                      'shipping_method', t.shipping_method,
                                      'shipping_weight', t.shipping_weight,
                                      'shipping_cost', trim_scale(t.shipping_cost),
                                      'shipping_date', crux_baseline.utc(t.shipping_date),
                                      'quantity', t.quantity)
                                  ORDER BY t.shipping_date NULLS LAST,
                                           t.tracking_number COLLATE "C", t.uuid)
                             FROM crux.tracking_numbers t WHERE t.line_item_uuid = li.uuid),
                           '[]'::jsonb),
                       'allocation', jsonb_build_object(
                           'quantity_ordered', li.quantity_ordered,
                           'quantity_allocated', li.quantity_allocated,
                           'quantity_backordered', li.quantity_backordered,
                           'quantity_rejected', li.quantity_rejected,
                           'backorder_date', li.backorder_date))
                   ORDER BY li.position, li.uuid)
              FROM crux.line_items li WHERE li.order_uuid = o.uuid), '[]'::jsonb))
      FROM crux.orders o WHERE o.uuid = order_uuid
$$;

-- The whole answer for a (valid) request.
CREATE OR REPLACE FUNCTION crux_baseline.get_orders(req jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH p AS (
        SELECT coalesce((req ->> 'start')::int, 0) AS start,
               (req ->> 'limit')::int AS lim,
               lower(coalesce(req #>> '{sort,key}', 'date')) AS sort_key,
               lower(coalesce(req #>> '{sort,dir}', 'des')) = 'asc' AS sort_asc,
               (SELECT array_agg(DISTINCT crux_baseline.status_label(s))
                  FROM jsonb_array_elements_text(
                           CASE jsonb_typeof(coalesce(req -> 'line_item_status',
                                                      req -> 'line_item_statuses'))
                               WHEN 'array' THEN coalesce(req -> 'line_item_status',
                                                          req -> 'line_item_statuses')
                               WHEN 'string' THEN jsonb_build_array(coalesce(
                                   req -> 'line_item_status', req -> 'line_item_statuses'))
                               ELSE '[]'::jsonb END) s) AS statuses,
               lower(coalesce(req ->> 'status_conjunction',
                              req ->> 'line_item_status_conjunction', 'or')) AS conj,
               (req ->> 'start_date')::timestamptz AS start_date,
               (req ->> 'end_date')::timestamptz AS end_date,
               nullif(btrim(req ->> 'term'), '') AS term,
               (SELECT array_agg(x::uuid) FROM jsonb_array_elements_text(req -> 'org_uuids') x)
                   AS orgs
    ), matching AS (
        SELECT o.*,
               CASE p.sort_key
                   WHEN 'status' THEN o.status COLLATE "C"
                   WHEN 'sku_id' THEN (SELECT min(li.sku_id COLLATE "C") FROM crux.line_items li
                                        WHERE li.order_uuid = o.uuid)
                   WHEN 'uuid' THEN o.uuid::text COLLATE "C"
                   ELSE crux_baseline.utc(o.created_date) COLLATE "C" END AS sort_value
          FROM crux.orders o, p
         WHERE (p.statuses IS NULL OR CASE
                  WHEN p.conj = 'or' THEN EXISTS (
                      SELECT 1 FROM crux.line_items li
                       WHERE li.order_uuid = o.uuid AND li.status::text = ANY (p.statuses))
                  WHEN p.conj = 'and' THEN NOT EXISTS (
                      SELECT 1 FROM unnest(p.statuses) s
                       WHERE NOT EXISTS (SELECT 1 FROM crux.line_items li
                                          WHERE li.order_uuid = o.uuid AND li.status::text = s))
                  ELSE EXISTS (SELECT 1 FROM crux.line_items li WHERE li.order_uuid = o.uuid)
                       AND NOT EXISTS (SELECT 1 FROM crux.line_items li
                                        WHERE li.order_uuid = o.uuid
                                          AND li.status::text <> p.statuses[1]) END)
           AND (p.start_date IS NULL OR o.created_date >= p.start_date)
           AND (p.end_date IS NULL OR o.created_date < p.end_date)
           AND (p.term IS NULL
                OR o.uuid::text = lower(p.term)
                OR o.purchase_order_id = p.term
                OR EXISTS (SELECT 1 FROM crux.line_items li
                            WHERE li.order_uuid = o.uuid AND li.sku_id = p.term))
           AND (p.orgs IS NULL OR o.retailer_uuid = ANY (p.orgs))
    ), page AS (
        SELECT m.uuid,
               row_number() OVER (ORDER BY
                   CASE WHEN p.sort_asc THEN m.sort_value END ASC NULLS LAST,
                   CASE WHEN p.sort_asc THEN m.uuid END ASC,
                   CASE WHEN NOT p.sort_asc THEN m.sort_value END DESC NULLS FIRST,
                   CASE WHEN NOT p.sort_asc THEN m.uuid END DESC) AS ordinal
          FROM matching m, p
         ORDER BY ordinal
        OFFSET (SELECT start FROM p)
         LIMIT (SELECT coalesce(lim, start + 25) - start FROM p)
    )
    SELECT jsonb_build_object(
        'total_results', (SELECT count(*) FROM matching),
        'orders', coalesce((SELECT jsonb_agg(crux_baseline.order_json(pg.uuid) ORDER BY pg.ordinal)
                              FROM page pg), '[]'::jsonb))
$$;
