-- crux_orders 1.10 -> 1.11: the tracking numbers of a page's line items read
-- without probing their line items again.
--
-- The tracking numbers' policy first tests crux.line_item_in_page(line_item_uuid),
-- true only while the API (crux_get_orders, crux.get_orders_by_uuid) reads the
-- tracking numbers of the line items it has just read through row-level security
-- (only for those, and only for the role that read them), then, as before, probes
-- the line item; writes are checked by the probe alone (WITH CHECK).

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.11'" to load this file. \quit

CREATE FUNCTION crux.line_item_in_page(uuid) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crux_line_item_in_page';
REVOKE ALL ON FUNCTION crux.line_item_in_page(uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION crux.line_item_in_page(uuid) TO crux_reader;

ALTER POLICY organization ON crux.tracking_numbers
    USING (crux.line_item_in_page(line_item_uuid)
           OR EXISTS (SELECT FROM crux.line_items li
                       WHERE li.uuid = tracking_numbers.line_item_uuid OFFSET 0))
    WITH CHECK (EXISTS (SELECT FROM crux.line_items li
                         WHERE li.uuid = tracking_numbers.line_item_uuid OFFSET 0));
