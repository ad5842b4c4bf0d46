-- What the pgTAP files (test/pgtap/) share, loaded with their sample orders
-- (test/suite.sh): schema crux_test.
CREATE SCHEMA IF NOT EXISTS crux_test;
GRANT USAGE ON SCHEMA crux_test TO PUBLIC;

-- The index entries of crux.orders that each of seven calls of crux_get_orders(req)
-- reads, in this transaction: a walk that reads what it should on the first calls
-- and on the plan cache's later (generic) plans alike.
CREATE OR REPLACE FUNCTION crux_test.orders_index_reads_by_call(req jsonb) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    reads bigint[] := '{}';
    before bigint;
BEGIN
    FOR i IN 1..7 LOOP
        before := (SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                    WHERE indrelid = 'crux.orders'::regclass);
        PERFORM crux_get_orders(req);
        reads := reads || ((SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
                             WHERE indrelid = 'crux.orders'::regclass) - before);
    END LOOP;
    RETURN reads;
END
$$;
