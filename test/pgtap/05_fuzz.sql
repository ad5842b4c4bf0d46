-- A small run of the request fuzzer (test/fuzz/fuzz.sql; the full harness is
-- test/fuzz/run.sh): 3,000 mutated requests across crux_get_orders,
-- crux_export_rows and crux_export_orders. Every call answers or raises 22023, the
-- backend survives, and nothing is left behind. Then 3,000 mutated PostgREST claims:
-- the organization crux.acting_organization() reads from them is what jsonb reads
-- ("org_uuid" of the top-level object, as a uuid), NULL for anything else.
BEGIN;
SELECT plan(7);
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

-- the claims as the policies read them before 1.6 (jsonb, an exception block)
CREATE FUNCTION pg_temp.reference_org(claims text) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
    RETURN (claims::jsonb ->> 'org_uuid')::uuid;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
-- a valid claim mutated by a few random edits: characters deleted, replaced or
-- inserted (JSON's own, escapes, hex digits), keys duplicated, the whole wrapped
CREATE FUNCTION pg_temp.mutated_claims(org uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c text := (ARRAY[format('{"org_uuid": "%s"}', org),
                     format('{"role": "web", "org_uuid": "%s", "email": "a@b.example"}', org),
                     format('{"org_uuid": "%s", "org_uuid": "%s"}', gen_random_uuid(), org),
                     format('{"org_uuid": "{%s}"}', upper(org::text)),
                     format('{"org_uuid": "\u00%s%s"}', to_hex(ascii(left(org::text, 1))), substr(org::text, 2))
                    ])[1 + floor(random() * 5)::int];
    bits text[] := ARRAY['{', '}', '[', ']', '"', ':', ',', '\', '\u0000', '\u0041', '\n', ' ',
                         '-', '0', 'f', 'x', 'null', '7', 'é', '"org_uuid": 1,'];
    p int;
BEGIN
    FOR i IN 1 .. floor(random() * 3)::int LOOP
        p := 1 + floor(random() * length(c))::int;
        c := CASE floor(random() * 4)::int
                 WHEN 0 THEN overlay(c PLACING '' FROM p FOR 1)
                 WHEN 1 THEN overlay(c PLACING bits[1 + floor(random() * 20)::int] FROM p FOR 1)
                 WHEN 2 THEN overlay(c PLACING bits[1 + floor(random() * 20)::int] FROM p FOR 0)
                 ELSE (ARRAY['[' || c || ']', '{"x": ' || c || '}', c || ' ', upper(c)])[1 + floor(random() * 4)::int]
             END;
    END LOOP;
    RETURN c;
END $$;
CREATE FUNCTION pg_temp.claims_mismatches(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    claims text;
    got uuid;
    want uuid;
    bad text := '';
BEGIN
    PERFORM setseed(0.17);
    FOR i IN 1 .. n LOOP
        claims := pg_temp.mutated_claims(md5('org-1')::uuid);
        PERFORM set_config('request.jwt.claims', claims, true);
        got := crux.acting_organization();
        want := pg_temp.reference_org(claims);
        IF got IS DISTINCT FROM want THEN
            bad := bad || format(E'%s: %s, not %s\n', claims, got, want);
        END IF;
    END LOOP;
    RETURN bad;
END $$;
CREATE ROLE t_fuzz_web NOLOGIN;
GRANT crux_reader TO t_fuzz_web;
INSERT INTO crux.claim_roles VALUES ('t_fuzz_web');
SET LOCAL ROLE t_fuzz_web;
SELECT is(pg_temp.claims_mismatches(3000), '', '3,000 mutated claims: the acting organization is what jsonb reads from them');
SELECT isnt(pg_temp.reference_org(format('{"org_uuid": "%s"}', md5('org-1')::uuid)), NULL,
            'and the reference reads a valid claim');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
