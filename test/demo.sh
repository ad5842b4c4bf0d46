#!/usr/bin/env bash
# The first README command: install what is missing, build, start a throwaway
# PostgreSQL 15 (pg_virtualenv), load 1,000 sample orders and show a real answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup.sh
# a UTF-8 server whatever the caller's locale (cron and `su -` leave LANG unset, which
# would give an SQL_ASCII cluster)
if [ -z "${LC_ALL:-}${LC_CTYPE:-}${LANG:-}" ] || ! locale charmap 2>/dev/null | grep -qi 'utf-\?8'; then
    export LC_ALL=C.UTF-8
fi
# a throwaway server of its own, whatever PG* variables the caller has set
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE
pg_virtualenv -t -v 15 bash -c '
    set -e
    psql -X -q -c "CREATE EXTENSION crux_orders"
    psql -X -q -v orders=1000 -f test/generate.sql
    psql -X -A -t -c "SELECT jsonb_pretty(crux_get_orders(\$\$
        {\"limit\": 2, \"line_item_statuses\": [\"HasTracking\"],
         \"sort\": {\"key\": \"date\", \"dir\": \"desc\"}}\$\$))"
'
