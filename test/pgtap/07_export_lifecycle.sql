-- An export's lifecycle on the database side: crux_cancel_export cancels a queued
-- or running job the caller sees (a tenant its organization's, an admin any), is
-- not an error again, and refuses a finished job; nobody but the worker changes
-- anything else of a job; the statuses cancelled and expired exist.
BEGIN;
SELECT plan(16);

SELECT has_function('crux_cancel_export', ARRAY['uuid']);
SELECT isnt_definer('crux_cancel_export', ARRAY['uuid']);
SELECT is((SELECT count(*) FROM pg_proc p, aclexplode(p.proacl) a
            WHERE p.proname = 'crux_cancel_export' AND a.grantee = 0), 0::bigint,
          'PUBLIC cannot cancel exports');

CREATE ROLE t_carol NOLOGIN;
CREATE ROLE t_dave NOLOGIN;
CREATE ROLE t_admin NOLOGIN;
GRANT crux_reader TO t_carol, t_dave;
GRANT crux_admin TO t_admin;
INSERT INTO crux.role_organizations (role_name, organization_uuid, user_uuid) VALUES
    ('t_carol', md5('org-1')::uuid, md5('user-1')::uuid),
    ('t_dave', md5('org-2')::uuid, md5('user-4')::uuid);

SET LOCAL ROLE t_carol;
CREATE TEMP TABLE t_jobs AS
SELECT (crux_export_orders('{}') ->> 'uuid')::uuid AS queued,
       (crux_export_orders('{"limit": 1}') ->> 'uuid')::uuid AS running,
       (crux_export_orders('{"limit": 2}') ->> 'uuid')::uuid AS done;
RESET ROLE;
GRANT SELECT ON t_jobs TO PUBLIC;
UPDATE crux.export_jobs SET status = 'running', attempts = 1, lease_until = now() + interval '1 minute'
 WHERE uuid = (SELECT running FROM t_jobs);
UPDATE crux.export_jobs SET status = 'done', attempts = 1, row_count = 3, finished_at = now()
 WHERE uuid = (SELECT done FROM t_jobs);

SET LOCAL ROLE t_dave;
SELECT throws_ok($$SELECT crux_cancel_export((SELECT queued FROM t_jobs))$$, '42704', NULL,
                 'another organization''s export does not exist for its tenant');
RESET ROLE;
SET LOCAL ROLE t_carol;
SELECT is(crux_cancel_export((SELECT queued FROM t_jobs)) ->> 'status', 'cancelled',
          'a tenant cancels its queued export');
SELECT is(crux_cancel_export((SELECT queued FROM t_jobs)) ->> 'status', 'cancelled',
          'cancelling it again is not an error');
SELECT ok(crux_get_export((SELECT queued FROM t_jobs)) ->> 'finished_at' IS NOT NULL,
          'a cancelled export has finished');
SELECT throws_ok($$SELECT crux_cancel_export((SELECT done FROM t_jobs))$$, '55000', NULL,
                 'a done export cannot be cancelled');
SELECT throws_ok($$SELECT crux_cancel_export(NULL)$$, '22004', NULL, 'a NULL uuid is an error');
SELECT throws_ok($$SELECT crux_cancel_export('00000000-0000-0000-0000-000000000000')$$, '42704', NULL,
                 'an unknown export is an error');
SELECT throws_ok($$UPDATE crux.export_jobs SET status = 'done' WHERE uuid = (SELECT running FROM t_jobs)$$,
                 '42501', NULL, 'a tenant cannot set another status');
SELECT throws_ok($$UPDATE crux.export_jobs SET email = 'x@example.com' WHERE uuid = (SELECT running FROM t_jobs)$$,
                 '42501', NULL, 'nor change anything else');
RESET ROLE;
SELECT is((SELECT array[status, coalesce(email, '-')] FROM crux.export_jobs WHERE uuid = (SELECT running FROM t_jobs)),
          ARRAY['running', (SELECT coalesce(email, '-') FROM crux.users WHERE uuid = md5('user-1')::uuid)],
          'the running job is unchanged');

SET LOCAL ROLE t_admin;
SELECT is(crux_cancel_export((SELECT running FROM t_jobs)) ->> 'status', 'cancelled',
          'an admin cancels any organization''s running export');
RESET ROLE;
SELECT is((SELECT array[status, coalesce(lease_until::text, '-'), attempts::text]
             FROM crux.export_jobs WHERE uuid = (SELECT running FROM t_jobs)),
          ARRAY['cancelled', '-', '1'], 'cancelled: its lease ends, its attempts stay');
SELECT lives_ok($$UPDATE crux.export_jobs SET status = 'expired' WHERE uuid = (SELECT done FROM t_jobs)$$,
                'the worker (a superuser) marks a done export expired');

SELECT * FROM finish();
ROLLBACK;
