#!/usr/bin/env bash
# An export's backend memory and time (issue #18), run by hand on the workload
# cluster of ORDERS orders (made by: bash test/bench/workload.sh load ORDERS): every
# order through crux.export_csv in one backend with work_mem WORK_MEM (default 4MB),
# RUNS times (default 3), sampling the backend's private memory (test/bench/
# export-memory.py). Updates the extension first (ALTER EXTENSION crux_orders UPDATE)
# unless CRUX_BENCH_NO_UPDATE=1.
#   bash test/bench/export-memory.sh ORDERS [WORK_MEM [RUNS]]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
orders=$1 work_mem=${2:-4MB} runs=${3:-3}
cluster=crux_bench_$orders
port=$(pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $3 }')
[ -n "$port" ] || { echo "no cluster $cluster: bash test/bench/workload.sh load $orders" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
[ "$(pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $4 }')" = online ] \
    || as_root pg_ctlcluster 15 "$cluster" start
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
export PGHOST=/var/run/postgresql PGPORT=$port PGUSER=$(id -un) PGDATABASE=bench
[ "${CRUX_BENCH_NO_UPDATE:-0}" = 1 ] || psql -X -q -c "ALTER EXTENSION crux_orders UPDATE"
/usr/bin/python3 test/bench/export-memory.py "$work_mem" "$runs"
