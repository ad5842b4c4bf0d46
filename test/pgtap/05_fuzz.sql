-- A small run of the request fuzzer (test/fuzz/fuzz.sql; the full harness is
-- test/fuzz/run.sh): 3,000 mutated requests across crux_get_orders,
-- crux_export_rows and crux_export_orders. Every call answers or raises 22023, the
-- backend survives, and nothing is left behind.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = error;
CREATE TEMP TABLE t_fuzz AS SELECT * FROM crux_fuzz.run(3000, 0.42);
SELECT is((SELECT coalesce(string_agg(fn || ': ' || outcome || ' on ' || left(example::text, 200), E'\n'), '')
             FROM t_fuzz WHERE outcome NOT IN ('answered', '22023')), '',
          'every call answers or raises 22023');
SELECT is((SELECT sum(calls) FROM t_fuzz), 3000::numeric, 'all 3,000 requests were sent');
SELECT is((SELECT count(DISTINCT fn) FROM t_fuzz WHERE outcome = 'answered'), 3::bigint,
          'each function answered some');
SELECT is((SELECT count(DISTINCT fn) FROM t_fuzz WHERE outcome = '22023'), 3::bigint,
          'and rejected some');
SELECT is((SELECT count(*) FROM crux.export_jobs), 0::bigint, 'no export job was left behind');
SELECT * FROM finish();
ROLLBACK;
