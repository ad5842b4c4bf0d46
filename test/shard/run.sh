#!/usr/bin/env bash
# Sharding by retailer on PL/Proxy: against the server in PG*, databases of their
# own: crux_unsharded (the sample orders), crux_shard_0 and crux_shard_1 (the same
# orders split by retailer), and crux_proxy (plproxy and crux_orders_proxy, with
# the shard map and the cluster crux_shards). Tenants through the proxy get what
# they get from the unsharded database; forged claims see nothing; bad requests get
# the same errors; a shard that is down gives an error. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/tap.sh
orders=${CRUX_SHARD_TEST_ORDERS:-3000}
port=$(psql -X -At -c "SHOW port")
password=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))')
q() { psql -X -At -q -v ON_ERROR_STOP=1 -d "$@"; }
for db in crux_unsharded crux_shard_0 crux_shard_1 crux_proxy; do
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
q postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crux_shard_proxy') THEN
        CREATE ROLE crux_shard_proxy LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crux_shard_admin') THEN
        CREATE ROLE crux_shard_admin LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'x_web') THEN
        CREATE ROLE x_web NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'x_admin') THEN
        CREATE ROLE x_admin NOLOGIN;
    END IF;
END \$\$" -c "ALTER ROLE crux_shard_proxy PASSWORD '$password'" \
   -c "ALTER ROLE crux_shard_admin PASSWORD '$password'"

# every database gets the same sample orders; each shard then keeps its retailers'
# (a retailer's shard: the first byte of its uuid, odd or even)
shard_of_sql="get_byte(decode(replace(retailer_uuid::text, '-', ''), 'hex'), 0) % 2"
for db in crux_unsharded crux_shard_0 crux_shard_1; do
    q $db -c "CREATE EXTENSION crux_orders" -v orders="$orders" -f test/generate.sql >/dev/null
done
org_parity="get_byte(decode(replace(uuid::text, '-', ''), 'hex'), 0) % 2"
for k in 0 1; do
    q crux_shard_$k -c "DELETE FROM crux.orders WHERE $shard_of_sql <> $k" \
                    -c "DELETE FROM crux.users WHERE organization_uuid IN (
                            SELECT uuid FROM crux.organizations WHERE $org_parity <> $k)" \
                    -c "DELETE FROM crux.organizations WHERE $org_parity <> $k" \
                    -c "GRANT crux_reader TO crux_shard_proxy" \
                    -c "INSERT INTO crux.claim_roles VALUES ('crux_shard_proxy'), ('crux_shard_admin')" \
                    -c "GRANT crux_admin TO crux_shard_admin"
done
q crux_unsharded -c "GRANT crux_admin TO x_admin"
split=$(q crux_shard_0 -c "SELECT count(*) FROM crux.orders")/$(q crux_shard_1 -c "SELECT count(*) FROM crux.orders")
q crux_proxy -c "CREATE EXTENSION crux_orders_proxy CASCADE" \
    -c "CREATE SERVER crux_shards FOREIGN DATA WRAPPER plproxy OPTIONS (
            p0 'dbname=crux_shard_0 host=localhost port=$port',
            p1 'dbname=crux_shard_1 host=localhost port=$port')" \
    -c "CREATE USER MAPPING FOR PUBLIC SERVER crux_shards
            OPTIONS (user 'crux_shard_proxy', password '$password')" \
    -c "CREATE SERVER crux_shards_admin FOREIGN DATA WRAPPER plproxy OPTIONS (
            p0 'dbname=crux_shard_0 host=localhost port=$port',
            p1 'dbname=crux_shard_1 host=localhost port=$port')" \
    -c "CREATE USER MAPPING FOR PUBLIC SERVER crux_shards_admin
            OPTIONS (user 'crux_shard_admin', password '$password')"
tap $? "a proxy database and two shards ($split orders)"
retailers=$(q crux_unsharded -c "SELECT string_agg(format('(%L, %s)', retailer_uuid, $shard_of_sql), ',')
                                   FROM (SELECT DISTINCT retailer_uuid FROM crux.orders) r")
q crux_proxy -c "INSERT INTO crux_proxy.retailer_shards VALUES $retailers" \
             -c "INSERT INTO crux_proxy.claim_roles VALUES ('x_web')" \
             -c "GRANT crux_reader TO x_web"

# tenants: six retailers of both shards and of every size, as mapped roles at the
# proxy and on the unsharded database
tenants=$(q crux_unsharded -c "SELECT string_agg(retailer_uuid::text, ' ') FROM (
    SELECT retailer_uuid, count(*) FROM crux.orders GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 4) big" \
    -c "SELECT string_agg(retailer_uuid::text, ' ') FROM (
    SELECT retailer_uuid, count(*) FROM crux.orders GROUP BY 1 ORDER BY 2, 1 LIMIT 2) tiny" | tr '\n' ' ')
i=0
for t in $tenants; do
    i=$((i + 1))
    q postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'x_tenant_$i') THEN
            CREATE ROLE x_tenant_$i NOLOGIN; GRANT crux_reader TO x_tenant_$i;
        END IF; END \$\$"
    q crux_proxy -c "INSERT INTO crux_proxy.role_organizations VALUES ('x_tenant_$i', '$t')"
    q crux_unsharded -c "INSERT INTO crux.role_organizations VALUES ('x_tenant_$i', '$t', NULL)"
done
shards=$(q crux_proxy -c "SELECT count(DISTINCT s.shard) FROM crux_proxy.retailer_shards s
                           JOIN crux_proxy.role_organizations r ON r.organization_uuid = s.retailer_uuid")
[ "$i" = 6 ] && [ "$shards" = 2 ]
tap $? "six tenants, on both shards"

# 60 generated requests for each caller: every sort key both ways, each conjunction,
# dates, terms, organizations, first, deep and past-the-end pages
requests=$(ORGS="$tenants" /usr/bin/python3 - <<'EOF'
import json, os, random
ORGS = os.environ["ORGS"].split()
rnd = random.Random(7)
statuses = ["unallocated", "allocated", "rejected", "has_tracking", "backordered", "delivered", "cancelled"]
out = []
for n in range(60):
    r = {}
    if n % 2 == 0:
        r["sort"] = {"key": ["date", "status", "sku_id", "uuid"][n // 2 % 4], "dir": ["asc", "desc"][n // 8 % 2]}
    if n % 3 == 0:
        r["line_item_status"] = rnd.sample(statuses, 1 + n % 3)
        r["status_conjunction"] = ["or", "and"][n // 3 % 2] if len(r["line_item_status"]) > 1 else "only"
    if n % 5 == 0:
        r["start_date"] = "2017-0%d-1%dT0%d:00:00Z" % (1 + n % 9, n % 10, n % 10)
    if n % 7 == 0:
        r["end_date"] = "2018-0%d-01" % (1 + n % 9)
    if n % 11 == 0:
        r["term"] = ["SKU000123", "PO-00000042", "SKU000001"][n // 11 % 3]
    if n % 13 == 0:
        r["org_uuids"] = ORGS[: 1 + n // 13 % 3]
    start = [0, 0, 5, 30, 200, 5000][n % 6]
    r["start"], r["limit"] = start, start + [1, 25, 100][n % 3]
    out.append(json.dumps(r))
print("\n".join(out))
EOF
)
same=0 total=0 differ=""
for caller in x_tenant_1 x_tenant_2 x_tenant_3 x_tenant_4 x_tenant_5 x_tenant_6 x_admin "$(q postgres -c "SELECT current_user")"; do
    sql="SET ROLE \"$caller\";"$'\n'
    while IFS= read -r r; do
        sql+="SELECT md5(crux_get_orders('$r')::text);"$'\n'
    done <<<"$requests"
    a=$(q crux_proxy <<<"$sql" 2>&1)
    b=$(q crux_unsharded <<<"$sql" 2>&1)
    while IFS='|' read -r x y; do
        total=$((total + 1))
        if [ "$x" = "$y" ] && [ ${#x} = 32 ]; then same=$((same + 1)); else differ="$caller: $x / $y"; fi
    done < <(paste -d'|' <(echo "$a") <(echo "$b"))
done
[ "$same" = "$total" ] && [ "$total" = 480 ]
tap $? "480 requests through the proxy, as 6 tenants, crux_admin and a superuser: the same answers as the unsharded database ($same of $total)"
[ -z "$differ" ] || echo "# first difference: $differ"

# claims: trusted for a claim-carrying role, which reaches the retailer's shard;
# forged by any other role, they count for nothing
t=${tenants%% *}
claims="{\"org_uuid\": \"$t\"}"
a=$(q crux_proxy -c "SET ROLE x_web" -c "SELECT set_config('request.jwt.claims', '$claims', false)" \
         -c "SELECT md5(crux_get_orders('{\"limit\": 50}')::text)" | tail -1)
b=$(q crux_unsharded -c "SET ROLE x_tenant_1" -c "SELECT md5(crux_get_orders('{\"limit\": 50}')::text)")
[ "$a" = "$b" ]
tap $? "a claim-carrying role's claims reach its retailer's shard"
forged=$(q crux_proxy -c "SET ROLE x_tenant_2" -c "SELECT set_config('request.jwt.claims', '$claims', false)" \
              -c "SELECT crux_get_orders('{}')" | tail -1)
own=$(q crux_proxy -c "SET ROLE x_tenant_2" -c "SELECT crux_get_orders('{}')")
nobody=$(q crux_proxy -c "SET ROLE crux_reader" -c "SELECT crux_get_orders('{}') ->> 'total_results'")
[ "$forged" = "$own" ] && [ "$nobody" = 0 ]
tap $? "claims forged by a mapped role change nothing; a role that acts for no one sees nothing"
direct=$(q crux_shard_0 -c "SET ROLE x_tenant_1" -c "SELECT crux.get_orders_for('{}', '$t') ->> 'total_results'" 2>&1)
[ "$direct" = 0 ]
tap $? "crux.get_orders_for called by a role the shards do not trust gives nothing"

# errors: the same SQLSTATE and message as one server; a shard that is down
err=$(q crux_proxy -v VERBOSITY=verbose -c "SET ROLE x_tenant_1" -c "SELECT crux_get_orders('{\"status_conjunction\": \"xor\"}')" 2>&1)
[[ $err == *"ERROR:  22023:"*'invalid "status_conjunction": "xor"'* ]]
tap $? "a bad request through the proxy: 22023 with the shard's message"
echo "$err" | head -1 | sed 's/^/# /'
q postgres -c "ALTER DATABASE crux_shard_1 WITH ALLOW_CONNECTIONS false"
down=""
for k in $(seq 6); do
    shard=$(q crux_proxy -c "SELECT s.shard FROM crux_proxy.retailer_shards s JOIN crux_proxy.role_organizations r
                              ON r.organization_uuid = s.retailer_uuid WHERE r.role_name = 'x_tenant_$k'")
    [ "$shard" = 1 ] && { down=$(q crux_proxy -c "SET ROLE x_tenant_$k" -c "SELECT crux_get_orders('{}')" 2>&1); break; }
done
down_admin=$(q crux_proxy -c "SET ROLE x_admin" -c "SELECT crux_get_orders('{}')" 2>&1)
q postgres -c "ALTER DATABASE crux_shard_1 WITH ALLOW_CONNECTIONS true"
[[ $down == *ERROR*crux_shard_1* ]] && [[ $down != *'"total_results"'* ]] &&
    [[ $down_admin == *ERROR*crux_shard_1* ]] && [[ $down_admin != *'"total_results"'* ]]
tap $? "a shard that is down: its tenant and an admin get an error naming it, never a partial answer"
echo "$down" | head -1 | sed 's/^/# /'
echo "$down_admin" | head -1 | sed 's/^/# /'

# exports through the proxy: a tenant's is queued on its shard, an admin's on
# shard 0 across both; one worker serving both shards writes the files one server
# would write; crux_get_export and crux_cancel_export reach them, for the tenant
# and for an admin
shard_1=$(q crux_proxy -c "SELECT crux_proxy.shard_of('$t')")
out=$(mktemp -d)
request='{"sort": {"key": "uuid", "dir": "asc"}, "limit": 40}'
via_proxy=$(q crux_proxy -c "SET ROLE x_tenant_1" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
direct=$(q crux_unsharded -c "SET ROLE x_tenant_1" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
queued=$(q crux_proxy -c "SET ROLE x_tenant_1" -c "SELECT crux_get_export('$via_proxy') ->> 'status'")
for k in $(seq 6); do      # a tenant on the other shard
    [ "$(q crux_proxy -c "SELECT s.shard FROM crux_proxy.retailer_shards s JOIN crux_proxy.role_organizations r
                           ON r.organization_uuid = s.retailer_uuid WHERE r.role_name = 'x_tenant_$k'")" != "$shard_1" ] && break
done
via_proxy_2=$(q crux_proxy -c "SET ROLE x_tenant_$k" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
direct_2=$(q crux_unsharded -c "SET ROLE x_tenant_$k" -c "SELECT crux_export_orders('$request') ->> 'uuid'")
orgs=$(q crux_unsharded -c "SELECT jsonb_agg(x ORDER BY x) FROM unnest(string_to_array(trim('$tenants'), ' ')) x")
admin_requests=("{}" '{"sort": {"key": "sku_id", "dir": "asc"}, "start": 10, "limit": 700}'
    '{"sort": {"key": "status", "dir": "desc"}, "line_item_status": ["delivered", "cancelled"], "limit": 400}'
    '{"sort": {"key": "uuid", "dir": "desc"}, "start": 100, "limit": 350, "start_date": "2017-06-01"}'
    '{"sort": {"key": "date", "dir": "asc"}, "term": "SKU000123"}'
    '{"org_uuids": '"$orgs"', "sort": {"key": "status", "dir": "asc"}}'
    '{"start": 100000, "limit": 100010}')
admin_pairs=()
for r in "${admin_requests[@]}"; do
    a=$(q crux_proxy -c "SET ROLE x_admin" -c "SELECT crux_export_orders('$r') ->> 'uuid'")
    b=$(q crux_unsharded -c "SET ROLE x_admin" -c "SELECT crux_export_orders('$r') ->> 'uuid'")
    admin_pairs+=("$a:$b")
done
worker=$(pg_config --bindir)/crux-export-worker
"$worker" --once -o "$out" -d "dbname=crux_shard_0" -d "dbname=crux_shard_1" 2>"$out/shards.log"
"$worker" --once -o "$out" -d "dbname=crux_unsharded" 2>"$out/unsharded.log"
done_tenant=$(q crux_proxy -c "SET ROLE x_tenant_1" -c "SELECT crux_get_export('$via_proxy') ->> 'status'")
done_admin=$(q crux_proxy -c "SET ROLE x_admin" -c "SELECT crux_get_export('$via_proxy') ->> 'status'")
other=$(q crux_proxy -c "SET ROLE x_tenant_2" -c "SELECT crux_get_export('$via_proxy')")
[ "$queued" = queued ] && [ "$done_tenant" = done ] && [ "$done_admin" = done ] && [ -z "$other" ] &&
    cmp -s "$out/crux-orders-$via_proxy.csv" "$out/crux-orders-$direct.csv" &&
    cmp -s "$out/crux-orders-$via_proxy_2.csv" "$out/crux-orders-$direct_2.csv"
tap $? "tenants' exports through the proxy, on both shards: one worker serving both writes the files one server writes; the status for the tenant and an admin, not for another tenant"
same=0 rows=""
for i in "${!admin_pairs[@]}"; do
    a=${admin_pairs[$i]%%:*} b=${admin_pairs[$i]##*:}
    status=$(q crux_proxy -c "SET ROLE x_admin" -c "SELECT crux_get_export('$a') ->> 'status'")
    if [ "$status" = done ] && [ -s "$out/crux-orders-$b.csv" ] &&
        cmp -s "$out/crux-orders-$a.csv" "$out/crux-orders-$b.csv"; then
        same=$((same + 1))
    else
        echo "# differs ($status): ${admin_requests[$i]}"
    fi
    rows+="$(($(wc -l <"$out/crux-orders-$b.csv") - 1)) "
done
[ "$same" = ${#admin_pairs[@]} ] && grep -q "merging 2 shards" "$out/shards.log"
tap $? "an admin's exports across shards (every sort key, both directions, filters, term, org_uuids, deep and past-the-end ranges): the worker merges both shards into the file one server writes ($same of ${#admin_pairs[@]}; rows: $rows)"
c1=$(q crux_proxy -c "SET ROLE x_tenant_1" -c "SELECT crux_cancel_export((crux_export_orders('{}') ->> 'uuid')::uuid) ->> 'status'")
queued2=$(q crux_proxy -c "SET ROLE x_tenant_1" -c "SELECT crux_export_orders('{}') ->> 'uuid'")
c2=$(q crux_proxy -c "SET ROLE x_admin" -c "SELECT crux_cancel_export('$queued2') ->> 'status'")
q crux_shard_0 -c "DELETE FROM crux.claim_roles WHERE role_name = 'crux_shard_admin'"
refused=$(q crux_proxy -v VERBOSITY=verbose -c "SET ROLE x_admin" -c "SELECT crux_export_orders('{}')" 2>&1)
q crux_shard_0 -c "INSERT INTO crux.claim_roles VALUES ('crux_shard_admin')"
jobs=$(q crux_shard_0 -c "SELECT count(*) FROM crux.export_jobs WHERE status = 'queued'")
[ "$c1" = cancelled ] && [ "$c2" = cancelled ] && [[ $refused == *"ERROR:  55000:"*crux.claim_roles* ]] && [ "$jobs" = 0 ]
tap $? "crux_cancel_export through the proxy, by the tenant and by an admin; an admin's export across shards refused (55000, nothing queued) while shard 0 cannot keep its claims"
echo "$refused" | head -1 | sed 's/^/# /'

# the proxy extension's update from 1.0 gives what a fresh install gives
q postgres -c "DROP DATABASE IF EXISTS crux_proxy_upgraded" -c "CREATE DATABASE crux_proxy_upgraded"
q crux_proxy_upgraded -c "CREATE EXTENSION crux_orders_proxy VERSION '1.0' CASCADE" \
                      -c "ALTER EXTENSION crux_orders_proxy UPDATE"
fingerprint() { q "$1" -v extension=crux_orders_proxy -v schema=crux_proxy -f test/upgrade/fingerprint.sql; }
[ "$(fingerprint crux_proxy_upgraded)" = "$(fingerprint crux_proxy)" ] &&
    [ "$(fingerprint crux_proxy | grep -c '^member ')" -gt 20 ]
tap $? "crux_orders_proxy 1.0 updated: the same objects, definitions and grants as a fresh install"
q postgres -c "DROP DATABASE crux_proxy_upgraded"

# PostgREST at the proxy: each API function's comment names every request key
missing=$(q crux_proxy -c "SELECT count(*) FROM (VALUES ('crux_get_orders(jsonb)'), ('crux_export_orders(jsonb)')) f(f),
    unnest('{start,limit,sort,line_item_status,line_item_statuses,status_conjunction,line_item_status_conjunction,start_date,end_date,term,org_uuids}'::text[]) k
    WHERE coalesce(obj_description(f::regprocedure, 'pg_proc'), '') NOT LIKE '%' || k || '%'")
described=$(q crux_proxy -c "SELECT count(*) FROM pg_proc WHERE proname IN ('crux_get_export', 'crux_cancel_export')
                              AND obj_description(oid, 'pg_proc') LIKE '%export_uuid%'")
[ "$missing" = 0 ] && [ "$described" = 2 ]
tap $? "the proxy's API functions are described for PostgREST: every request key named ($missing missing)"
[ -n "${CRUX_SHARD_KEEP:-}" ] || rm -rf "$out"

# a row written to the wrong shard is refused: a shard holds only its retailers'
# organizations, which the orders reference
other_shard=$((1 - shard_1))
wrong=$(q crux_shard_$other_shard -v VERBOSITY=verbose -c "INSERT INTO crux.orders (retailer_uuid, purchase_order_id)
                                                           VALUES ('$t', 'PO-WRONG-SHARD')" 2>&1)
[[ $wrong == *"ERROR:  23503:"*orders_retailer_uuid_fkey* ]]
tap $? "an order written to a shard that does not hold its retailer is refused (23503)"

# loaders find a retailer's shard at the proxy: the shard that holds its orders
holder=$(for k in 0 1; do [ "$(q crux_shard_$k -c "SELECT count(*) > 0 FROM crux.orders WHERE retailer_uuid = '$t'")" = t ] && echo $k; done)
[ -n "$holder" ] && [ "$(q crux_proxy -c "SELECT crux_proxy.shard_of('$t')")" = "$holder" ]
tap $? "crux_proxy.shard_of gives the shard that holds a retailer's orders"

for db in crux_unsharded crux_shard_0 crux_shard_1 crux_proxy; do
    [ -n "${CRUX_SHARD_KEEP:-}" ] || q postgres -c "DROP DATABASE $db"
done
echo "1..$n"
