#!/usr/bin/env bash
# Memory errors (issue #6): the pg_regress suite (sql/, expected/) against a
# throwaway server running under valgrind memcheck, every backend traced. Counts
# the errors whose stack passes through crux_orders.so; fails if there is one.
# Run by hand (it takes a few minutes):
#   bash test/valgrind/run.sh
# Debian's PostgreSQL is not built with USE_VALGRIND, so memcheck sees palloc'd
# memory only as large malloc'd blocks: it finds reads of uninitialised memory,
# reads and writes outside malloc'd blocks and bad frees, not overruns inside a
# memory context. Errors inside PostgreSQL itself are listed but not counted.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/setup.sh
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/crux-valgrind.XXXXXX)
chown postgres "$work"
port=54${RANDOM:0:2}
as_postgres() { su postgres -s /bin/bash -c "$*"; }

as_postgres "$bindir/initdb -A trust -U postgres -D $work/data" >"$work/initdb.log" 2>&1
as_postgres "valgrind --quiet --trace-children=yes --track-origins=yes --num-callers=40 \
    --error-limit=no --read-var-info=no --log-file=$work/valgrind.%p.log \
    $bindir/postgres -D $work/data -p $port -k $work -c listen_addresses= \
    -c shared_buffers=32MB -c max_connections=20 -c jit=off -c autovacuum=off" \
    >"$work/server.log" 2>&1 &
for _ in $(seq 1 600); do     # wait for the server to accept connections
    pg_isready -q -h "$work" -p "$port" && break
    sleep 0.5
done
pg_isready -q -h "$work" -p "$port" || { cat "$work/server.log"; exit 1; }

status=0
PGHOST=$work PGPORT=$port PGUSER=postgres make -s installcheck \
    PG_CONFIG="$bindir/pg_config" >"$work/regress.out" 2>&1 || status=$?
grep -E '^(ok|not ok|test) ' "$work/regress.out" || true
as_postgres "$bindir/pg_ctl -D $work/data -m fast -w stop" >/dev/null

# One valgrind error is a block of "==PID==" lines up to an empty "==PID==" line.
awk -v out="$work/errors" '
    /^==[0-9]+== [A-Z]/ && !inblock { inblock = 1; block = "" }
    inblock { block = block $0 "\n" }
    inblock && /^==[0-9]+== *$/ {
        inblock = 0
        if (block ~ /HEAP SUMMARY|LEAK SUMMARY|ERROR SUMMARY|in use at exit/) next
        ours = (block ~ /crux_orders\.so|\((crux_orders|request|query|output|export|summaries)\.c:[0-9]+\)/) ? "crux" : "postgres"
        n[ours]++
        print "---- " ours "\n" block > out
    }
    END { printf "%d %d\n", n["crux"] + 0, n["postgres"] + 0 }
' "$work"/valgrind.*.log >"$work/counts"
read -r ours theirs <"$work/counts"
echo "valgrind: $ours errors in crux_orders code, $theirs inside PostgreSQL itself" \
     "($(ls "$work"/valgrind.*.log | wc -l) processes traced; logs in $work)"
[ "$ours" -gt 0 ] && grep -A40 -- '^---- crux' "$work/errors" | head -120
[ "$status" -eq 0 ] && [ "$ours" -eq 0 ]
