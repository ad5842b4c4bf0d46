#!/usr/bin/env bash
# Times loading N sample orders (default 1,000,000) with test/generate.sh into a
# throwaway server with the benchmark settings (test/bench/server.sh), ROUNDS times
# (default 3) each: into bare tables (the extension's triggers on orders and line
# items disabled: no summaries, no counts) and as users load, with them. Prints
# every round, the medians and their ratio, and checks summaries and counts. Each
# load runs alone (the previous one's database is dropped first, so that its
# autovacuum does not compete). With "tracked", the side with the extension starts
# with the sample data's popular SKUs tracked (the 1,000 SKUs of its hot set, about
# 2% of the line items; crux.track_skus() picks the most popular of them), so that
# the load also writes their crux.sku_orders rows. With CRUX_LOAD_ALSO_VERSION=X.Y,
# each round also loads with the extension created at that older version (which
# the library still serves), for a comparison in the same run.
# test/bench/load-profile.sh shows where the time goes.
#   bash test/bench/load.sh [ORDERS [ROUNDS [tracked]]]
#   CRUX_LOAD_ALSO_VERSION=1.14 bash test/bench/load.sh 1000000 3
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=${1:-1000000}
rounds=${2:-3}
tracked=${3:-}
case $tracked in "" | tracked) ;; *) echo "the third argument is tracked or nothing" >&2; exit 2 ;; esac
also=${CRUX_LOAD_ALSO_VERSION:-}
[[ -z $also || $also =~ ^1\.(8|9|[1-9][0-9])$ ]] \
    || { echo "CRUX_LOAD_ALSO_VERSION: a version this library serves (1.8 on), such as 1.14" >&2; exit 2; }
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    orders='"$orders"' rounds='"$rounds"' tracked='"$tracked"' also='"$also"'
    timed() {   # timed DB: seconds to load $orders orders into a new database DB
        local start end
        # each load alone: dropping the previous load stops autovacuum working on it
        psql -X -q -c "DROP DATABASE IF EXISTS bare" -c "DROP DATABASE IF EXISTS crux" \
             -c "DROP DATABASE IF EXISTS older" -c "CREATE DATABASE $1" 2>/dev/null
        if [ $1 = older ]; then
            psql -X -q -d older -c "CREATE EXTENSION crux_orders VERSION '"'"'$also'"'"'"
        else
            psql -X -q -d $1 -c "CREATE EXTENSION crux_orders"
        fi
        if [ $1 != bare ] && [ -n "$tracked" ]; then
            psql -X -q -d $1 -c "INSERT INTO crux.tracked_skus SELECT '"'"'SKU'"'"' || lpad((123 * k)::text, 6, '"'"'0'"'"') FROM generate_series(1, 1000) k"
        fi
        if [ $1 = bare ]; then
            psql -X -q -d bare -c "ALTER TABLE crux.line_items DISABLE TRIGGER USER" \
                               -c "ALTER TABLE crux.orders DISABLE TRIGGER USER"
        fi
        psql -X -q -c "CHECKPOINT"
        start=$(date +%s.%N)
        PGDATABASE=$1 bash test/generate.sh "$orders" >/dev/null
        end=$(date +%s.%N)
        awk "BEGIN { print $end - $start }"
    }
    median() { sort -n | awk "{ v[NR] = \$1 } END { print v[int((NR + 1) / 2)] }"; }
    : >/tmp/load-bare.$$; : >/tmp/load-crux.$$; : >/tmp/load-older.$$
    wrong=0 wrong_older=0
    for r in $(seq 1 $rounds); do
        b=$(timed bare); echo "$b" >>/tmp/load-bare.$$
        c=$(timed crux); echo "$c" >>/tmp/load-crux.$$
        wrong=$((wrong + $(psql -X -At -d crux -c "SELECT crux.recount_summaries()")))
        if [ -n "$also" ]; then
            o=$(timed older); echo "$o" >>/tmp/load-older.$$
            wrong_older=$((wrong_older + $(psql -X -At -d older -c "SELECT crux.recount_summaries()")))
            printf "round %d: bare %.1f s, crux_orders %.1f s, crux_orders %s %.1f s\n" $r $b $c "$also" $o
        else
            printf "round %d: bare %.1f s, crux_orders %.1f s\n" $r $b $c
        fi
    done
    bare=$(median </tmp/load-bare.$$); crux=$(median </tmp/load-crux.$$)
    printf "orders: %s, rounds: %s\nbare tables (median): %.1f s\nwith crux_orders summaries and counts (median): %.1f s\nratio: %.2f\nsummaries and counts wrong after the loads: %s\n" \
        "$orders" "$rounds" "$bare" "$crux" "$(awk "BEGIN { print $crux / $bare }")" "$wrong"
    if [ -n "$also" ]; then
        older=$(median </tmp/load-older.$$)
        printf "with crux_orders %s (median): %.1f s\nratio: %.2f\nwrong after the loads: %s\n" \
            "$also" "$older" "$(awk "BEGIN { print $older / $bare }")" "$wrong_older"
    fi
    rm -f /tmp/load-bare.$$ /tmp/load-crux.$$ /tmp/load-older.$$
'
