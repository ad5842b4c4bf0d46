#!/usr/bin/env bash
# The generated workload benchmark of crux_get_orders (test/bench/workload.py), run by
# hand on a persistent benchmark cluster per size, one command per step:
#
#   bash test/bench/workload.sh load ORDERS [--force]
#       Creates the cluster crux_bench_ORDERS (Debian's pg_createcluster: the settings
#       of test/bench/server.sh, on 4 kB pages; a port of its own; started by hand
#       only, never at boot), database "bench" with crux_orders and the baseline
#       (test/baseline.sql), ORDERS sample orders (test/generate.sh, one session per
#       core, each inserting its orders in one statement, with a work_mem that holds
#       their summaries until their line items come, as the README advises for big
#       loads: each summary is written once, as those of orders that arrive in
#       smaller statements are), crux.track_skus() (the popular SKUs' orders),
#       VACUUM ANALYZE, and prints how long each took. With the cluster
#       present it says so and stops; --force drops it and loads again.
#   bash test/bench/workload.sh run ORDERS [--seed S] [--per-class N] [--baseline-sample N]
#                                          [--baseline-timeout SECONDS] [--repeat R]
#       Starts the cluster if it is stopped, updates the extension to the newest
#       installed version (ALTER EXTENSION crux_orders UPDATE) and the baseline, tracks
#       the SKUs that became popular (crux.track_skus()),
#       generates the workload from seed S (default 1; N requests per class, default
#       8) and runs it: every request checked against the baseline (with
#       --baseline-sample N, only N per class: at 10M orders a baseline call takes
#       seconds to minutes; with --baseline-timeout S a baseline call is stopped
#       after S seconds and counts as S, a lower bound), then, once every request
#       is checked, each one's warm-up call and R timed calls (default 10). The
#       report goes to
#       the terminal and to test/bench/results/workload-ORDERS.md, the requests to
#       workload-ORDERS.tsv, every timed call to workload-ORDERS.csv.
#       CRUX_BENCH_HUGE_PAGES=1 (as root or with sudo): the cluster is restarted with
#       its shared memory in 2 MB huge pages (huge_pages=on), as PostgreSQL
#       recommends for a 4 GB shared_buffers; the kernel reserves them
#       (vm.nr_hugepages) for the run, the reservation goes back to what it was
#       when the script exits, and the pages the cluster holds go back to the
#       kernel when it stops.
#   bash test/bench/workload.sh drop ORDERS
#       Stops the cluster and deletes it with its data.
#   bash test/bench/workload.sh compare SMALLER BIGGER
#       Prints the per-class table of the last runs at both sizes side by side
#       (test/bench/results/workload-SMALLER.csv and -BIGGER.csv), with the growth of
#       each class's median and the targets it misses.
#
# Run as root or as a user with sudo: the cluster commands run as root, and the
# clients as the user running this script, connected over the unix socket as a
# superuser role of the same name (created with the cluster). The benchmark's callers
# are login roles that connect over TCP to localhost with passwords that each run
# sets anew. Data lives in /var/lib/postgresql/15/crux_bench_ORDERS, or in
# $CRUX_BENCH_DIR/crux_bench_ORDERS, readable by postgres only. The extension must
# be installed (make install); this script installs python3-psycopg2 if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
    sed -n '5,41p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -ge 2 ] || usage
step=$1 orders=$2
shift 2
bigger=
if [ "$step" = compare ]; then
    [ $# -ge 1 ] || usage
    bigger=$1
    shift
fi
[[ $orders =~ ^[1-9][0-9]*$ ]] || usage
force=0 seed=1 per_class=8 repeat=10 baseline_sample=()
while [ $# -gt 0 ]; do
    case $1 in
        --force) force=1; shift ;;
        --seed) seed=$2; shift 2 ;;
        --per-class) per_class=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --baseline-sample) baseline_sample+=(--baseline-sample "$2"); shift 2 ;;
        --baseline-timeout) baseline_sample+=(--baseline-timeout "$2"); shift 2 ;;
        *) usage ;;
    esac
done

cluster=crux_bench_$orders
huge_pages=${CRUX_BENCH_HUGE_PAGES:-0}
unset CRUX_BENCH_HUGE_PAGES             # server.sh's own reservation is for throwaway servers
source test/bench/server.sh             # bench_server_options, bench_huge_pages
me=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
    as_postgres() { runuser -u postgres -- "$@"; }
else
    as_root() { sudo "$@"; }
    as_postgres() { sudo -u postgres "$@"; }
fi
# the cluster's port and status (online, down), nothing when there is no such cluster
port() { pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $3 }'; }
status() { pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $4 }'; }
connect() {     # the client environment: this user's superuser role, database bench
    unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSERVICEFILE PGPASSFILE
    export PGHOST=/var/run/postgresql PGPORT=$(port) PGUSER=$me PGDATABASE=bench
    export PGOPTIONS="-c client_min_messages=warning"
}
start() { [ "$(status)" = online ] || as_root pg_ctlcluster 15 "$cluster" start; }
# the cluster restarted with its shared memory in huge pages, reserved until the script exits
start_on_huge_pages() {
    local previous
    previous=$(cat /proc/sys/vm/nr_hugepages)
    as_root sysctl -q -w vm.nr_hugepages="$bench_huge_pages"
    trap "as_root sysctl -q -w vm.nr_hugepages=$previous" EXIT
    [ "$(status)" != online ] || as_root pg_ctlcluster 15 "$cluster" stop
    as_root pg_ctlcluster 15 "$cluster" start -o "-c huge_pages=on" \
        || { echo "$cluster does not start on huge pages: $(grep HugePages_Total /proc/meminfo)" >&2; exit 1; }
}
drop() { as_root pg_dropcluster --stop 15 "$cluster"; }

case $step in
load)
    [ -f /usr/share/postgresql/15/extension/crux_orders.control ] \
        || { echo "crux_orders is not installed: make install (or bash test/setup.sh) first" >&2; exit 1; }
    if [ -n "$(port)" ]; then
        if [ $force = 0 ]; then
            echo "cluster $cluster exists (port $(port), $(status)): nothing done;" \
                 "'run $orders' to benchmark it, 'load $orders --force' to load it again"
            [ "$(status)" != online ] || { connect; psql -X -At -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'bench'"; }
            exit 0
        fi
        drop
    fi
    dir=()
    [ -z "${CRUX_BENCH_DIR:-}" ] || { as_root mkdir -p "$CRUX_BENCH_DIR"; dir=(-d "$CRUX_BENCH_DIR/$cluster"); }
    as_root pg_createcluster 15 "$cluster" "${dir[@]}" --start-conf=manual "${bench_server_options[@]}" >/dev/null
    datadir=$(pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $6 }')
    as_root chmod 700 "$datadir"        # customer-like data: postgres only
    start
    as_postgres psql -X -q -p "$(port)" -d postgres -c "CREATE ROLE \"$me\" SUPERUSER LOGIN" 2>/dev/null || true
    connect
    psql -X -q -d postgres -c "CREATE DATABASE bench"
    psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION crux_orders" -f test/baseline.sql
    echo "cluster $cluster: port $PGPORT, data in $datadir ($(stat -c %A "$datadir"))"
    begin=$(date +%s.%N)
    # summaries held in memory: 88 bytes each (README), with room to spare
    held_mb=$((orders / $(nproc) * 128 / 1048576 + 1))
    [ "$held_mb" -ge 256 ] || held_mb=256
    PGOPTIONS="-c work_mem=${held_mb}MB" bash test/generate.sh "$orders" >/dev/null
    loaded=$(date +%s.%N)
    psql -X -q -c "SELECT crux.track_skus()" >/dev/null
    tracked=$(date +%s.%N)
    psql -X -q -c "VACUUM ANALYZE"
    done_at=$(date +%s.%N)
    summary=$(awk -v b="$begin" -v l="$loaded" -v t="$tracked" -v d="$done_at" -v n="$orders" \
                  'BEGIN { printf "%d sample orders loaded in %.1f s, crux.track_skus() %.1f s, VACUUM ANALYZE %.1f s", n, l - b, t - l, d - t }')
    psql -X -q -c "COMMENT ON DATABASE bench IS '$summary ($(date '+%Y-%m-%d %H:%M'))'"
    echo "$summary"
    ;;
run)
    [ -n "$(port)" ] || { echo "no cluster $cluster: bash test/bench/workload.sh load $orders" >&2; exit 1; }
    if ! dpkg-query -W -f='${Status}' python3-psycopg2 2>/dev/null | grep -q "install ok installed"; then
        install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-psycopg2)
        as_root "${install[@]}" || { as_root apt-get update -q && as_root "${install[@]}"; }
    fi
    if [ "$huge_pages" = 1 ]; then start_on_huge_pages; else start; fi
    connect
    [ -n "$(psql -X -At -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'bench'")" ] \
        || { echo "the load of $cluster did not finish: bash test/bench/workload.sh load $orders --force" >&2; exit 1; }
    psql -X -q -v ON_ERROR_STOP=1 -c "ALTER EXTENSION crux_orders UPDATE" -f test/baseline.sql
    psql -X -q -c "SELECT crux.track_skus()" -c "VACUUM ANALYZE crux.sku_orders" >/dev/null
    echo "cluster $cluster (port $PGPORT): crux_orders $(psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'crux_orders'"), huge_pages $(psql -X -At -c "SHOW huge_pages")"
    mkdir -p test/bench/results
    out=test/bench/results/workload-$orders
    begin=$(date +%s)
    /usr/bin/python3 test/bench/workload.py generate --seed "$seed" --per-class "$per_class" --out "$out.tsv"
    rc=0
    /usr/bin/python3 test/bench/workload.py run "$out.tsv" --repeat "$repeat" "${baseline_sample[@]}" \
        --csv "$out.csv" --md "$out.md" || rc=$?
    echo "workload generated and run in $(($(date +%s) - begin)) s; report in $out.md, calls in $out.csv"
    exit $rc
    ;;
compare)
    [[ $bigger =~ ^[1-9][0-9]*$ ]] || usage
    name() { awk -v n="$1" 'BEGIN { if (n % 1000000 == 0) print n / 1000000 "M"; else print n }'; }
    exec /usr/bin/python3 test/bench/workload.py compare test/bench/results/workload-"$orders".csv \
        test/bench/results/workload-"$bigger".csv --sizes "$(name "$orders")" "$(name "$bigger")"
    ;;
drop)
    [ -n "$(port)" ] || { echo "no cluster $cluster" >&2; exit 1; }
    drop
    echo "cluster $cluster dropped"
    ;;
*) usage ;;
esac
