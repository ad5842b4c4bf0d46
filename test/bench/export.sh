#!/usr/bin/env bash
# Export throughput (issue #5): N sample orders (default 1,000,000) in a throwaway
# server with the benchmark settings, then one export of every order run end to end
# by crux-export-worker --once (claim, CSV file on disk, no email) for each --jobs
# value given (default: 1 2), timed, with the worker's peak memory. Prints line-item
# rows per second for each run, then the median per --jobs value (give a value
# several times to repeat it: 1 2 2 2 2 2).
#   bash test/bench/export.sh [ORDERS [JOBS ...]]
#   CRUX_BENCH_HUGE_PAGES=1 bash test/bench/export.sh ...   # as root: huge pages, the
#                                                            # reference configuration
#   CRUX_SAMPLE_LAYOUT=random bash test/bench/export.sh ... # orders stored in random
#                                                            # order of their dates
set -euo pipefail
cd "$(dirname "$0")/../.."
orders=${1:-1000000}
shift || true
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(1 2)
bash test/setup.sh
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE   # a server of its own
source test/bench/server.sh
pg_virtualenv -t -v 15 "${bench_server_options[@]}" bash -c '
    set -euo pipefail
    out=$(mktemp -d)
    psql -X -q -c "CREATE EXTENSION crux_orders"
    bash test/generate.sh '"$orders"' >/dev/null
    psql -X -q -c "VACUUM ANALYZE" -c "CHECKPOINT"
    sync    # the load written back, so that its writes do not compete with the exports
    for j in '"${jobs[*]}"'; do
        uuid=$(psql -X -At -c "SELECT crux_export_orders(NULL) ->> '"'uuid'"'")
        start=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$out/rss" "$(pg_config --bindir)/crux-export-worker" --once \
            --jobs "$j" -o "$out" 2>"$out/log"
        end=$(date +%s.%N)
        read -r rows bytes path <<<"$(psql -X -At -F " " -c "SELECT row_count, bytes, file_path FROM crux.export_jobs WHERE uuid = '"'"'$uuid'"'"'")"
        awk -v j="$j" -v rows="$rows" -v bytes="$bytes" -v s="$start" -v e="$end" -v rss="$(cat "$out/rss")" "BEGIN {
            printf \"--jobs %d: %d rows, %d bytes in %.1f s: %.0f rows per second; worker max RSS %.1f MB\n\",
                   j, rows, bytes, e - s, rows / (e - s), rss / 1024 }"
        awk -v j="$j" -v s="$start" -v e="$end" "BEGIN { printf \"%d %.3f\n\", j, e - s }" >>"$out/times"
        md5sum "$path" | cut -c1-32 >>"$out/md5"
        rm -f "$path"
    done
    [ "$(sort -u "$out/md5" | wc -l)" = 1 ] && echo "every run wrote the same file (md5 $(head -1 "$out/md5"))"
    for j in $(cut -d" " -f1 "$out/times" | sort -un); do
        awk -v j="$j" -v rows="$rows" "\$1 == j { print \$2 }" "$out/times" | sort -n | awk -v j="$j" -v rows="$rows" "
            { t[NR] = \$1 }
            END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
                  printf \"median of %d runs with --jobs %d: %.1f s, %.0f rows per second\n\", NR, j, m, rows / m }"
    done
    rm -rf "$out"
'
