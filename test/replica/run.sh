#!/usr/bin/env bash
# Read replicas: against the server in PG* (the primary, with crux_orders and the
# sample orders), a hot standby made by pg_basebackup -R on loopback, a cluster of
# its own in a temporary directory. The API's read functions answer on the standby
# as on the primary; crux_export_orders is refused there with 25006; the worker
# claims and finishes a job on the primary while it reads the export from the
# standby (--read-dsn). Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/tap.sh
bindir=$(pg_config --bindir)
worker=$bindir/crux-export-worker
role=$(psql -X -At -c "SELECT current_user")
datadir=$(psql -X -At -c "SHOW data_directory")
owner=$(stat -c %U "$datadir")
as_owner() { if [ "$(id -un)" = "$owner" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
work=$(mktemp -d)
chmod 755 "$work"
standby=$work/standby
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    as_owner "$bindir/pg_ctl" -D "$standby" -m immediate stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# the standby: a base backup of the primary with its primary_conninfo (-R), and the
# configuration files that a Debian cluster keeps outside its data directory
pg_basebackup -D "$standby" -R -X stream -c fast >"$work/basebackup.log" 2>&1
tap $? "pg_basebackup -R of the primary"
echo "local all all trust" >"$standby/pg_hba.conf"
: >"$standby/pg_ident.conf"
: >"$standby/postgresql.conf"
[ "$owner" = "$(id -un)" ] || chown -R "$owner" "$work"
chmod 700 "$standby"
as_owner "$bindir/pg_ctl" -D "$standby" -l "$work/standby.log" -w -t 60 start \
    -o "-p $port -c listen_addresses= -c unix_socket_directories=$work -c hot_standby=on" >/dev/null
tap $? "the standby starts (port $port)"
sb() { psql -X -At -q -h "$work" -p "$port" -U "$role" -d "${PGDATABASE:-postgres}" "$@"; }
caught_up() {   # the standby has replayed everything the primary has written
    local lsn
    lsn=$(psql -X -At -c "SELECT pg_current_wal_lsn()")
    for _ in $(seq 600); do
        [ "$(sb -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    return 1
}

# a tenant role and an export on the primary, then catch-up
psql -X -q -v ON_ERROR_STOP=1 -c "
    DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'r_tenant') THEN
            CREATE ROLE r_tenant NOLOGIN; GRANT crux_reader TO r_tenant;
        END IF;
    END \$\$;
    INSERT INTO crux.role_organizations VALUES ('r_tenant', md5('org-2')::uuid, md5('user-4')::uuid)
        ON CONFLICT DO NOTHING;" >/dev/null
job=$(psql -X -At -q -c "SET ROLE r_tenant" -c "SELECT crux_export_orders('{\"limit\": 5}') ->> 'uuid'")
caught_up
tap $? "the standby catches up with the primary"
[ "$(sb -c "SELECT pg_is_in_recovery()")" = t ]
tap $? "it is a hot standby (pg_is_in_recovery)"

# 20 requests, as an admin (the superuser) and as a tenant, answered the same
requests=('{}' '{"limit": 100}' '{"start": 40, "limit": 60}' '{"sort": {"key": "status", "dir": "asc"}}'
          '{"sort": {"key": "sku_id", "dir": "desc"}, "limit": 50}' '{"sort": {"key": "uuid", "dir": "asc"}}'
          '{"line_item_status": "delivered"}' '{"line_item_status": ["allocated", "rejected"], "status_conjunction": "and"}'
          '{"line_item_status": "backordered", "status_conjunction": "only"}'
          '{"start_date": "2017-03-04T05:06:07Z", "end_date": "2018-02-01"}'
          '{"term": "PO-00000042"}' '{"term": "SKU000123", "limit": 200}')
answers() {     # answers CLIENT: the answers of every request, admin then tenant
    for r in "${requests[@]}"; do
        "$@" -c "SELECT md5(crux_get_orders('$r')::text)"
    done
    for r in "${requests[@]:0:8}"; do
        "$@" -c "SET ROLE r_tenant" -c "SELECT md5(crux_get_orders('$r')::text)"
    done
    "$@" -c "SELECT md5(string_agg(x::text, '|')) FROM crux_export_rows('{\"limit\": 300}') x"
    "$@" -c "SET ROLE r_tenant" -c "SELECT crux_get_export('$job') ->> 'status'"
}
primary=$(answers psql -X -At -q)
[ "$(echo "$primary" | sort -u | wc -l)" -ge 15 ] && [ "$(answers sb)" = "$primary" ]
tap $? "20 requests (admin and tenant), crux_export_rows and crux_get_export: the same answers on the standby"

# crux_export_orders is refused on the standby, with the advice
refused=$(sb -v VERBOSITY=verbose -c "SET ROLE r_tenant" -c "SELECT crux_export_orders('{}')" 2>&1)
[[ $refused == *"ERROR:  25006: cannot queue an export on a standby"* && $refused == *"HINT:"*"primary"* ]]
tap $? "crux_export_orders on the standby: SQLSTATE 25006, queue it on the primary"
echo "$refused" | head -3 | sed 's/^/# /'

# the worker reads from the standby: with its replay paused, an order added on the
# primary is in the export read from the primary, not in the one read from the standby
out=$work/out
mkdir -m 700 "$out"
sb -c "SELECT pg_wal_replay_pause()" >/dev/null
psql -X -q -c "INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, created_date)
               VALUES ('00000000-0000-4000-8000-0000000ffff1', md5('org-2')::uuid, 'PO-REPLICA', '2030-01-01Z')"
request='{"sort": {"key": "date", "dir": "desc"}, "limit": 3, "fields": ["purchase_order_id"]}'
files=()
for source in standby primary; do
    uuid=$(psql -X -At -q -c "SET ROLE r_tenant" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
    extra=()
    [ $source = primary ] || extra=(--read-dsn "host=$work port=$port user=$role dbname=${PGDATABASE:-postgres}")
    "$worker" --once -o "$out" "${extra[@]}" 2>"$work/worker-$source.log"
    files+=("$(psql -X -At -c "SELECT file_path FROM crux.export_jobs WHERE uuid = '$uuid' AND status = 'done'")")
done
grep -q "PO-REPLICA" "${files[1]:-/dev/null}" && [ -s "${files[0]:-}" ] && ! grep -q "PO-REPLICA" "${files[0]}"
tap $? "the worker with --read-dsn reads the export from the standby (replay paused: without the newest order) and finishes the job on the primary"
sb -c "SELECT pg_wal_replay_resume()" >/dev/null
caught_up
uuid=$(psql -X -At -q -c "SET ROLE r_tenant" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
"$worker" --once -o "$out" --read-dsn "host=$work port=$port user=$role dbname=${PGDATABASE:-postgres}" 2>>"$work/worker-standby.log"
caught=$(psql -X -At -c "SELECT file_path FROM crux.export_jobs WHERE uuid = '$uuid' AND status = 'done'")
cmp -s "${caught:-/dev/null}" "${files[1]}"
tap $? "after catch-up, the export read from the standby is the same file as the primary's"
psql -X -q -c "DELETE FROM crux.orders WHERE purchase_order_id = 'PO-REPLICA'" \
           -c "DELETE FROM crux.role_organizations WHERE role_name = 'r_tenant'"
echo "1..$n"
