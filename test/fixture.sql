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
