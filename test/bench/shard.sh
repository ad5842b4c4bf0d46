#!/usr/bin/env bash
# Sharding overhead (by hand), on the workload cluster of ORDERS orders (made by:
# bash test/bench/workload.sh load ORDERS): its database "bench" is copied into two
# shards (each keeps the retailers of one parity of their uuid's first byte) and a
# proxy database with crux_orders_proxy in front of them, then for each request of
# a fixed list, as a tenant and as an admin:
#   tenant: through the proxy against the same request on the tenant's shard directly;
#   admin:  through the proxy (both shards, merged) against the unsharded database;
# medians of RUNS calls each (pgbench, one client), and the ratio; then an admin's
# export of every order, merged from both shards by one worker, against the same
# export on the unsharded database (seconds; the files compared). The shards and the
# proxy are kept for later runs; --force makes them again.
#   bash test/bench/shard.sh ORDERS [RUNS] [--force]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
orders=$1 runs=${2:-200} force=${3:-}
cluster=crux_bench_$orders
port=$(pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $3 }')
[ -n "$port" ] || { echo "no cluster $cluster: bash test/bench/workload.sh load $orders" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
[ "$(pg_lsclusters -h | awk -v c="$cluster" '$1 == 15 && $2 == c { print $4 }')" = online ] \
    || as_root pg_ctlcluster 15 "$cluster" start
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
export PGHOST=/var/run/postgresql PGPORT=$port PGUSER=$(id -un)
q() { psql -X -At -q -v ON_ERROR_STOP=1 -d "$@"; }
password=crux-bench-shard
parity="get_byte(decode(replace(retailer_uuid::text, '-', ''), 'hex'), 0) % 2"

q bench -c "ALTER EXTENSION crux_orders UPDATE"
if [ -n "$force" ] || [ -z "$(q postgres -c "SELECT 1 FROM pg_database WHERE datname = 'bench_proxy'")" ]; then
    for db in bench_proxy bench_shard_0 bench_shard_1; do
        q postgres -c "DROP DATABASE IF EXISTS $db"
    done
    q postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crux_shard_proxy') THEN CREATE ROLE crux_shard_proxy LOGIN; END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crux_shard_admin') THEN CREATE ROLE crux_shard_admin LOGIN; END IF;
    END \$\$" -c "ALTER ROLE crux_shard_proxy PASSWORD '$password'" -c "ALTER ROLE crux_shard_admin PASSWORD '$password'"
    for k in 0 1; do
        begin=$(date +%s)
        q postgres -c "CREATE DATABASE bench_shard_$k TEMPLATE bench"
        q bench_shard_$k -c "DELETE FROM crux.orders WHERE $parity <> $k" -c "VACUUM ANALYZE" \
            -c "GRANT crux_reader TO crux_shard_proxy" -c "INSERT INTO crux.claim_roles VALUES ('crux_shard_proxy')" \
            -c "GRANT crux_admin TO crux_shard_admin"
        echo "shard $k: $(q bench_shard_$k -c "SELECT count(*) FROM crux.orders") orders, made in $(($(date +%s) - begin)) s"
    done
    q postgres -c "CREATE DATABASE bench_proxy"
    q bench_proxy -c "CREATE EXTENSION crux_orders_proxy CASCADE"
    for server in crux_shards crux_shards_admin; do
        user=crux_shard_proxy
        [ $server = crux_shards ] || user=crux_shard_admin
        q bench_proxy -c "CREATE SERVER $server FOREIGN DATA WRAPPER plproxy OPTIONS (
                              p0 'dbname=bench_shard_0 host=localhost port=$port',
                              p1 'dbname=bench_shard_1 host=localhost port=$port')" \
                      -c "CREATE USER MAPPING FOR PUBLIC SERVER $server OPTIONS (user '$user', password '$password')"
    done
    q bench_proxy -c "INSERT INTO crux_proxy.retailer_shards VALUES $(q bench -c "
        SELECT string_agg(format('(%L, %s)', uuid, get_byte(decode(replace(uuid::text, '-', ''), 'hex'), 0) % 2), ',')
          FROM crux.organizations")"
fi

# an admin's claims (email, shards) are kept by the shards: its role carries claims
for k in 0 1; do
    q bench_shard_$k -c "INSERT INTO crux.claim_roles VALUES ('crux_shard_admin') ON CONFLICT DO NOTHING"
done

# the tenant: the retailer with a third of the orders, and a small one
big=$(q bench -c "SELECT retailer_uuid FROM crux.orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
small=$(q bench -c "SELECT md5('org-2')::uuid")
q postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_tenant_big') THEN CREATE ROLE bench_tenant_big; GRANT crux_reader TO bench_tenant_big; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_tenant_small') THEN CREATE ROLE bench_tenant_small; GRANT crux_reader TO bench_tenant_small; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_admin') THEN CREATE ROLE bench_admin; GRANT crux_admin TO bench_admin; END IF;
END \$\$"
q bench_proxy -c "INSERT INTO crux_proxy.role_organizations VALUES ('bench_tenant_big', '$big'), ('bench_tenant_small', '$small')
                  ON CONFLICT (role_name) DO UPDATE SET organization_uuid = excluded.organization_uuid"
for k in 0 1; do
    q bench_shard_$k -c "INSERT INTO crux.role_organizations VALUES ('bench_tenant_big', '$big', NULL), ('bench_tenant_small', '$small', NULL)
                         ON CONFLICT (role_name) DO UPDATE SET organization_uuid = excluded.organization_uuid"
done
shard_big=$(q bench_proxy -c "SELECT crux_proxy.shard_of('$big')")
shard_small=$(q bench_proxy -c "SELECT crux_proxy.shard_of('$small')")

median() {  # median DB ROLE REQUEST: median latency (ms) of RUNS calls
    local f
    f=$(mktemp)
    echo "SET ROLE $2; SELECT crux_get_orders('$3');" >"$f"
    pgbench -n -t "$runs" -f "$f" -r -l --log-prefix="$f.log" "$1" >/dev/null 2>&1
    cat "$f".log* | awk '{ print $3 / 1000 }' | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }'
    rm -f "$f" "$f".log*
}
requests=('{}' '{"limit": 100}' '{"sort": {"key": "sku_id", "dir": "asc"}}'
          '{"line_item_status": "backordered", "status_conjunction": "only"}'
          '{"start": 1000, "limit": 1025}' '{"term": "SKU000123"}')
echo
echo "| caller | request | through the proxy (ms) | direct (ms) | ratio |"
echo "| --- | --- | ---: | ---: | ---: |"
for r in "${requests[@]}"; do
    for who in big small; do
        role=bench_tenant_$who shard=shard_$who
        p=$(median bench_proxy $role "$r"); d=$(median bench_shard_${!shard} $role "$r")
        echo "| tenant ($who retailer) | \`$r\` | $p | $d (its shard) | $(awk -v p="$p" -v d="$d" 'BEGIN { printf "%.2f", p / d }') |"
    done
    p=$(median bench_proxy bench_admin "$r"); d=$(median bench bench_admin "$r")
    echo "| admin | \`$r\` | $p (2 shards) | $d (unsharded) | $(awk -v p="$p" -v d="$d" 'BEGIN { printf "%.2f", p / d }') |"
done

# an admin's export of every order: through the proxy, merged by one worker from
# both shards, against the same export on the unsharded database (one worker, in
# one piece and in two slices); seconds, and whether the files are the same
out=$(mktemp -d)
worker=$(pg_config --bindir)/crux-export-worker
timed_export() {   # timed_export DB WORKER-ARGS...: an admin's export queued in DB, run; seconds
    local db=$1 start
    shift
    q "$db" -c "SET ROLE bench_admin" -c "SELECT crux_export_orders('{}')" >/dev/null
    start=$(date +%s.%N)
    "$worker" --once -o "$out" "$@" 2>>"$out/worker.log"
    awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
}
merged=$(timed_export bench_proxy -d dbname=bench_shard_0 -d dbname=bench_shard_1)
merged_file=$(ls -t "$out"/crux-orders-*.csv | head -1)
whole=$(timed_export bench -d dbname=bench --jobs 1)
whole_file=$(ls -t "$out"/crux-orders-*.csv | head -1)
sliced=$(timed_export bench -d dbname=bench --jobs 2)
same=no
cmp -s "$merged_file" "$whole_file" && same=yes
echo
echo "| an admin's export of every order ($(($(wc -l <"$whole_file") - 1)) rows) | seconds |"
echo "| --- | ---: |"
echo "| through the proxy, merged from 2 shards by one worker | $merged |"
echo "| unsharded, one piece (\`--jobs 1\`) | $whole |"
echo "| unsharded, two slices (\`--jobs 2\`) | $sliced |"
echo
echo "merged file the same as the unsharded one: $same"
rm -rf "$out"
