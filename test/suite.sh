#!/usr/bin/env bash
# Runs every test against the server in PG* (pg_virtualenv sets them):
#   1. pg_regress: sql/*.sql against expected/*.out (exact answers)
#   2. pgTAP: test/pgtap/*.sql with pg_prove (behaviour), on 1,000 sample orders
#   3. concurrent writers: test/writers/run.sh (8 clients, 5 s, 200 hot orders)
#   4. the export worker end to end: test/worker/test_worker.py (TAP), with real
#      LISTEN/NOTIFY and an SMTP server on loopback, on the same database
#   5. an export's backend memory, bounded whatever its size (test/memory/run.py,
#      200,000 orders in a database of their own)
#   6. a hot standby of that database (test/replica/run.sh): the same answers,
#      exports refused there, the worker reading exports from it
#   7. sharding by retailer on PL/Proxy (test/shard/run.sh): a proxy and two shards
#      against one unsharded database, in databases of their own
#   8. cancellation: statement_timeout and pg_cancel_backend (test/cancel/run.sh)
#   9. backup: pg_dump / pg_restore of that database (test/backup/run.sh)
#  10. upgrade: from 1.0 and every later released version up to 1.18, then ALTER
#      EXTENSION UPDATE, against a fresh install (test/upgrade/run.sh)
#  11. crash recovery: a writing backend killed with SIGKILL (test/crash/run.sh)
#  12. packaging: META.json, the Debian packages built, installed, autopkgtest's
#      installcheck, an export through the packaged worker, then purged
#      (test/package/run.sh)
# Each pg_regress file and each pgTAP assertion counts once in the closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp -d)
passed=0
failed=0

count() {	# count PASSED FAILED
    passed=$((passed + $1))
    failed=$((failed + $2))
}

echo "== pg_regress (sql/, expected/)"
make -s installcheck PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >"$log/regress.out" 2>&1
grep -E '^(ok|not ok|test) ' "$log/regress.out" | sed 's/^/   /'
count "$(grep -cE '^test .* \.\.\. ok|^ok ' "$log/regress.out")" \
      "$(grep -cE '^test .* \.\.\. FAILED|^not ok ' "$log/regress.out")"
if grep -q FAILED "$log/regress.out"; then
    [ -f regression.diffs ] && head -100 regression.diffs
fi

echo "== pgTAP (test/pgtap/)"
db=crux_pgtap
PGOPTIONS="-c client_min_messages=warning" psql -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -d $db -v ON_ERROR_STOP=1 \
     -c "CREATE EXTENSION crux_orders" -c "CREATE EXTENSION pgtap" \
     -v orders=1000 -f test/generate.sql -f test/baseline.sql -f test/fuzz/fuzz.sql -f test/fixture.sql \
     >"$log/fixture.out" 2>&1 \
    || { cat "$log/fixture.out"; count 0 1; }
pg_prove -v -d $db test/pgtap/*.sql >"$log/pgtap.out" 2>&1
grep -E '^(test/|not ok|Result|Files=)' "$log/pgtap.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/pgtap.out")" "$(grep -cE '^not ok [0-9]+' "$log/pgtap.out")"
if grep -qE 'Bad plan|Dubious|Parse errors|Wstat|Looks like you' "$log/pgtap.out"; then
    grep -E 'Bad plan|Dubious|Parse errors|Wstat|Looks like you|ERROR' "$log/pgtap.out" | sed 's/^/   /'
    count 0 1
fi

echo "== concurrent writers (test/writers/)"
PGDATABASE=$db bash test/writers/run.sh 8 5 200 >"$log/writers.out" 2>&1
grep -E '^(not )?ok ' "$log/writers.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/writers.out")" "$(grep -cE '^not ok [0-9]+' "$log/writers.out")"
grep -q '^not ok' "$log/writers.out" && cat "$log/writers.out"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/writers.out")" -eq 6 ] || { cat "$log/writers.out"; count 0 1; }

echo "== export worker (test/worker/)"
PGDATABASE=$db timeout 900 /usr/bin/python3 test/worker/test_worker.py >"$log/worker.out" 2>&1
status=$?
grep -E '^(not )?ok ' "$log/worker.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/worker.out")" "$(grep -cE '^not ok [0-9]+' "$log/worker.out")"
if [ $status -ne 0 ] && ! grep -q '^not ok' "$log/worker.out"; then
    tail -20 "$log/worker.out" | sed 's/^/   /'
    count 0 1
fi

echo "== export memory (test/memory/)"
timeout 600 /usr/bin/python3 test/memory/run.py >"$log/memory.out" 2>&1
grep -E '^(not )?ok ' "$log/memory.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/memory.out")" "$(grep -cE '^not ok [0-9]+' "$log/memory.out")"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/memory.out")" -eq 2 ] || { tail -20 "$log/memory.out"; count 0 1; }

echo "== read replica (test/replica/)"
PGDATABASE=$db timeout 600 bash test/replica/run.sh >"$log/replica.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/replica.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/replica.out")" "$(grep -cE '^not ok [0-9]+' "$log/replica.out")"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/replica.out")" -eq 8 ] || { tail -30 "$log/replica.out"; count 0 1; }

echo "== sharding by retailer (test/shard/)"
timeout 600 bash test/shard/run.sh >"$log/shard.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/shard.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/shard.out")" "$(grep -cE '^not ok [0-9]+' "$log/shard.out")"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/shard.out")" -eq 15 ] || { tail -30 "$log/shard.out"; count 0 1; }

echo "== cancellation (test/cancel/)"
PGDATABASE=$db timeout 300 bash test/cancel/run.sh >"$log/cancel.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/cancel.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/cancel.out")" "$(grep -cE '^not ok [0-9]+' "$log/cancel.out")"

echo "== backup and restore (test/backup/)"
PGDATABASE=$db bash test/backup/run.sh >"$log/backup.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/backup.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/backup.out")" "$(grep -cE '^not ok [0-9]+' "$log/backup.out")"

echo "== upgrade (test/upgrade/)"
bash test/upgrade/run.sh >"$log/upgrade.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/upgrade.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/upgrade.out")" "$(grep -cE '^not ok [0-9]+' "$log/upgrade.out")"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/upgrade.out")" -eq 101 ] || { cat "$log/upgrade.out"; count 0 1; }

echo "== crash recovery (test/crash/)"
PGDATABASE=$db timeout 300 bash test/crash/run.sh >"$log/crash.out" 2>&1
grep -E '^(not )?ok ' "$log/crash.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/crash.out")" "$(grep -cE '^not ok [0-9]+' "$log/crash.out")"

echo "== packaging (test/package/)"
timeout 900 bash test/package/run.sh >"$log/package.out" 2>&1
grep -E '^(not )?ok |^# ' "$log/package.out" | sed 's/^/   /'
count "$(grep -cE '^ok [0-9]+' "$log/package.out")" "$(grep -cE '^not ok [0-9]+' "$log/package.out")"
[ "$(grep -cE '^(not )?ok [0-9]+' "$log/package.out")" -eq 9 ] || { tail -30 "$log/package.out"; count 0 1; }

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
