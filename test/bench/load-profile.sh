#!/usr/bin/env bash
# Where the time of a bulk load goes: loads N sample orders (default 1,000,000) once
# into bare tables and once with the extension's triggers, in a throwaway server
# with the benchmark settings, under auto_explain (nested statements and trigger
# times), and prints, per loading session, the time of each statement of
# test/generate.sql, of each trigger it fired, and of the statements the
# extension's triggers ran. auto_explain's timing adds overhead: this explains the
# figures of test/bench/load.sh, it does not replace them.
#   bash test/bench/load-profile.sh [ORDERS]
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=${1:-1000000}
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    orders='"$orders"'
    for db in bare crux; do
        psql -X -q -c "DROP DATABASE IF EXISTS bare" -c "DROP DATABASE IF EXISTS crux" \
             -c "CREATE DATABASE $db" 2>/dev/null
        psql -X -q -d $db -c "CREATE EXTENSION crux_orders"
        if [ $db = bare ]; then
            psql -X -q -d bare -c "ALTER TABLE crux.line_items DISABLE TRIGGER USER" \
                               -c "ALTER TABLE crux.orders DISABLE TRIGGER USER"
        fi
        psql -X -q -c CHECKPOINT
        start=$(date +%s.%N)
        # auto_explain reports at LOG level; client_min_messages brings it to stderr
        PGDATABASE=$db PGOPTIONS="-c session_preload_libraries=auto_explain
            -c auto_explain.log_min_duration=300 -c auto_explain.log_analyze=on
            -c auto_explain.log_nested_statements=on -c auto_explain.log_triggers=on
            -c client_min_messages=log" \
            bash test/generate.sh "$orders" >/dev/null 2>/tmp/load-profile-$db.$$
        end=$(date +%s.%N)
        printf "\n== %s: %.1f s in all (under auto_explain) ==\n" $db \
               "$(awk "BEGIN { print $end - $start }")"
        python3 test/bench/load-profile.py </tmp/load-profile-$db.$$
        rm -f /tmp/load-profile-$db.$$
    done
'
