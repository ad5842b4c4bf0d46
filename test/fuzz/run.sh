#!/usr/bin/env bash
# The full fuzzing harness: N mutated requests (default 100,000) against the
# database in PG* (with crux_orders and sample orders loaded), then the outcomes per
# function. Exits non-zero if any call ended otherwise than with an answer or
# SQLSTATE 22023, or if the backend died (psql then fails).
#   bash test/fuzz/run.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100000}
seed=${2:-0.42}
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -f test/fuzz/fuzz.sql
start=$(date +%s)
out=$(PGOPTIONS="-c client_min_messages=error" psql -X -At -F ' | ' -v ON_ERROR_STOP=1 \
      -c "SELECT fn, outcome, calls, left(example::text, 100) FROM crux_fuzz.run($n, $seed)")
echo "$out"
echo "$n requests in $(( $(date +%s) - start )) s"
if echo "$out" | awk -F ' [|] ' '$2 != "answered" && $2 != "22023" { bad = 1 } END { exit bad }'; then
    echo "every call answered or raised 22023; the backend survived"
else
    echo "UNEXPECTED OUTCOMES above" >&2
    exit 1
fi
