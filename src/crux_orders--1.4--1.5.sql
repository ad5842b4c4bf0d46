-- crux_orders 1.4 -> 1.5: the worker's CSV written by the extension (issue #5).
--
-- crux.export_csv(request, first, count, header) returns a slice of an export as
-- CSV text in chunks, the same bytes COPY of crux.export_rows writes, for
-- crux-export-worker. It reads each batch of orders and all their line items with
-- one query each instead of a B-tree descent per order, needs no window or sort,
-- and formats each order's columns once instead of once per line item.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.5'" to load this file. \quit

-- rows: how many CSV records the chunk holds (the header line is not one)
CREATE TYPE crux.export_csv_chunk AS (rows integer, csv text);

-- Call it in the select list (SELECT crux.export_csv(...)), so that its chunks
-- stream to the client one at a time; in FROM they would be gathered first. jit is
-- off for its queries: a slice's selection is costed high enough to be compiled,
-- which costs time and saves none in these simple scans.
CREATE FUNCTION crux.export_csv(request jsonb, first bigint, count bigint, header boolean)
RETURNS SETOF crux.export_csv_chunk
AS 'MODULE_PATHNAME', 'crux_export_csv'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off;
REVOKE EXECUTE ON FUNCTION crux.export_csv(jsonb, bigint, bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crux.export_csv(jsonb, bigint, bigint, boolean) TO crux_reader;
