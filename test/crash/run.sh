#!/usr/bin/env bash
# Crash recovery (issue #6): while pgbench clients write line items (test/writers/),
# an export query runs and crux-export-worker is in the middle of a job (its two
# slices wait for a lock another session has asked for), one backend is killed with
# SIGKILL, which makes PostgreSQL restart every backend and recover from its WAL.
# Afterwards every status summary must be exact, no committed export job lost, and
# the worker's job done exactly once, complete, after its lease lapses. Prints TAP.
# Must run on the machine of the server (it signals a backend process).
set -uo pipefail
cd "$(dirname "$0")"
source ../tap.sh
until_true() {  # until_true SQL: poll (bounded, 60 s) until the query answers t
    for _ in $(seq 1 600); do
        [ "$(psql -X -At -c "$1" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    return 1
}

# earlier tests' unfinished jobs would only get in the way
psql -X -q -c "UPDATE crux.export_jobs SET status = 'failed', error = 'left by an earlier test'
                WHERE status IN ('queued', 'running')"

errors=$(mktemp)
PGAPPNAME=crux_crash_export psql -X -c "COPY (SELECT r.*, pg_sleep(0.01) FROM crux_export_rows(NULL) r) TO STDOUT" >/dev/null 2>"$errors" &
export_pid=$!
until_true "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'crux_crash_export' AND state = 'active'"
tap $? "an export query is running"

# a session asks for a lock the export holds a weaker one on: every later reader of
# crux.users, such as the worker's slices, queues behind it
holder_in=$(mktemp -u); mkfifo "$holder_in"
psql -X -q <"$holder_in" >/dev/null 2>&1 &
exec 7>"$holder_in"
echo "BEGIN; LOCK TABLE crux.users IN ACCESS EXCLUSIVE MODE;" >&7
job=$(psql -X -At -c "SELECT crux_export_orders('{\"sort\": {\"key\": \"sku_id\", \"dir\": \"asc\"}}') ->> 'uuid'")
outdir=$(mktemp -d)
"$(pg_config --bindir)/crux-export-worker" -o "$outdir" --jobs 2 --slice-orders 100 \
    --lease 2 --interval 1 --backoff 0 2>"$outdir/worker.log" &
worker=$!
until_true "SELECT count(*) = 2 FROM pg_stat_activity
             WHERE application_name = 'crux-export-worker' AND wait_event_type = 'Lock'"
tap $? "the worker is in the middle of the job (both slices started)"

psql -X -At -c "SELECT crux_export_orders(jsonb_build_object('term', 'crash-' || g)) FROM generate_series(1, 5) g" >/dev/null
jobs_before=$(psql -X -At -c "SELECT count(*) FROM crux.export_jobs")
pgbench -n -c 4 -j 2 -T 60 -D hot=200 -f ../writers/status.sql@5 -f ../writers/insert_delete.sql@2 \
        -f ../writers/move.sql@1 -f ../writers/two_orders.sql@2 >/dev/null 2>&1 &
bench=$!
until_true "SELECT count(*) = 4 FROM pg_stat_activity WHERE application_name = 'pgbench'"
tap $? "four writers are connected"
[ "$n" -gt 0 ] && grep -q . "$errors" && sed 's/^/# /' "$errors"

victim=$(psql -X -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'
                         ORDER BY state = 'active' DESC LIMIT 1")
kill -9 "$victim"
wait $bench 2>/dev/null
wait $export_pid 2>/dev/null
until_true "SELECT NOT pg_is_in_recovery()"
tap $? "the server recovered after SIGKILL of a writing backend"

wrong=$(psql -X -At -c "SELECT crux.recount_summaries()")
[ "$wrong" = 0 ]; tap $? "every status summary is exact after recovery (found ${wrong:-?} wrong)"
jobs_after=$(psql -X -At -c "SELECT count(*) FROM crux.export_jobs")
[ "$jobs_after" = "$jobs_before" ]; tap $? "no committed export job was lost ($jobs_before before, $jobs_after after)"
answer=$(psql -X -At -c "SELECT (crux_get_orders('{}') ->> 'total_results')::int > 0")
[ "$answer" = t ]; tap $? "crux_get_orders answers again"

exec 7>&-; rm -f "$holder_in"
until_true "SELECT count(*) = 0 FROM crux.export_jobs WHERE status IN ('queued', 'running')"
state=$(psql -X -At -F ' ' -c "SELECT status, row_count = (SELECT count(*) FROM crux_export_rows(request)),
                                      attempts > 1
                                 FROM crux.export_jobs WHERE uuid = '$job'")
[ "$state" = "done t t" ]
tap $? "the worker's job is done, complete, by a later attempt ($state); every other job too"
file=$(psql -X -At -c "SELECT file_path FROM crux.export_jobs WHERE uuid = '$job'")
[ -f "$file" ] && [ "$(find "$outdir" -name '*.tmp*' | wc -l)" = 0 ]
tap $? "its file is in place and no temporary file is left"
kill -TERM "$worker"; wait "$worker"
rm -rf "$outdir"
