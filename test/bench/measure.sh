#!/usr/bin/env bash
# Inside pg_virtualenv (see run.sh): load ORDERS sample orders, check, then time.
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=$1
work=$(mktemp -d)
export PGDATABASE=bench
PGDATABASE=postgres psql -X -q -c "CREATE DATABASE bench"
psql -X -q -c "CREATE EXTENSION crux_orders" -f test/baseline.sql
bash test/generate.sh "$orders" >/dev/null
psql -X -q -c "VACUUM ANALYZE"
psql -X -q <<SQL
CREATE ROLE bench_tenant LOGIN PASSWORD '$PGPASSWORD';
GRANT crux_reader TO bench_tenant;
GRANT USAGE ON SCHEMA crux_baseline TO bench_tenant;
INSERT INTO crux.role_organizations VALUES ('bench_tenant', md5('org-1')::uuid);
SQL

printf 'orders: %s, clients: %s, seconds per run: %s\n' "$orders" "$CLIENTS" "$SECONDS_PER_RUN"
printf '%-18s %-6s %8s %8s %8s | %10s %10s %8s | %7s\n' query as median p95 calls/s \
       base_med base_p95 calls/s ratio
# stats FILE: median and p95 (ms) of pgbench's per-transaction log, and calls/s
stats() {
    awk '{ print $3 / 1000 }' "$1"* | sort -n | awk -v secs="$SECONDS_PER_RUN" '
        { v[NR] = $1 }
        END { if (NR == 0) { print "- - 0"; exit }
              printf "%.2f %.2f %.1f\n", v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.999)], NR / secs }'
}
failed=0
grep -v '^#' test/bench/queries.tsv | while IFS=$'\t' read -r name as request; do
    user=postgres
    [ "$as" = tenant ] && user=bench_tenant
    same=$(echo "SELECT crux_get_orders(:'req') = crux_baseline.get_orders(:'req')" |
           PGUSER=$user psql -X -At -v req="$request")
    if [ "$same" != t ]; then
        printf '%-18s %-6s MISMATCH: crux_get_orders and the baseline differ\n' "$name" "$as"
        continue
    fi
    quoted=${request//\'/\'\'}
    echo "SELECT crux_get_orders('$quoted');" >"$work/crux.sql"
    echo "SELECT crux_baseline.get_orders('$quoted');" >"$work/base.sql"
    (cd "$work" && rm -f pgbench_log.* && PGUSER=$user pgbench -n -c "$CLIENTS" -T "$SECONDS_PER_RUN" \
        -f crux.sql -l --log-prefix=crux >/dev/null 2>&1)
    (cd "$work" && PGUSER=$user pgbench -n -c "$CLIENTS" -T "$SECONDS_PER_RUN" \
        -f base.sql -l --log-prefix=base >/dev/null 2>&1)
    read -r c_med c_p95 c_tps <<<"$(stats "$work/crux.")"
    read -r b_med b_p95 b_tps <<<"$(stats "$work/base.")"
    ratio=$(awk -v b="$b_med" -v c="$c_med" 'BEGIN { if (c > 0) printf "%.1f", b / c; else print "-" }')
    printf '%-18s %-6s %8s %8s %8s | %10s %10s %8s | %6sx\n' "$name" "$as" "$c_med" "$c_p95" "$c_tps" \
           "$b_med" "$b_p95" "$b_tps" "$ratio"
    rm -f "$work"/crux.* "$work"/base.*
done
