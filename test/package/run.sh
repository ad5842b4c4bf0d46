#!/usr/bin/env bash
# Packaging, against the server in PG*: META.json (PGXN) and debian/changelog carry
# crux_orders.control's version; dpkg-buildpackage -us -uc -b builds both Debian
# packages from a clean copy of the tree; they install on this machine with their
# user, configuration file, unit and private output directory; autopkgtest's test
# (debian/tests/installcheck) passes against them; the extension is created from
# the packaged files; the worker runs as its unit runs it (systemctl where systemd
# runs, else the unit's ExecStart line as the unit's User) and completes an export.
# Afterwards the packages are purged and `make install` puts this tree's build
# back. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/tap.sh
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
tree=$PWD
q() { psql -X -At -q -v ON_ERROR_STOP=1 "$@"; }

# versions: one for the extension everywhere
control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" crux_orders.control)
proxy=$(sed -n "s/^default_version = '\(.*\)'/\1/p" crux_orders_proxy.control)
meta=$(/usr/bin/python3 -c 'import json; m = json.load(open("META.json"))
print(m["version"], m["provides"]["crux_orders"]["version"], m["provides"]["crux_orders_proxy"]["version"],
      m["provides"]["crux_orders"]["file"])')
# a release of the library alone (X.Y.P, P > 0) keeps the SQL version X.Y
[[ $meta =~ ^$control\.([0-9]+)\ $control\.([0-9]+)\ $proxy\.0\ src/crux_orders--$control\.sql$ &&
   ${BASH_REMATCH[1]} = "${BASH_REMATCH[2]}" ]]
tap $? "META.json's versions are the control files' ($control, crux_orders_proxy $proxy): $meta"
patch=${meta%% *}; patch=${patch#"$control".}
package=$(dpkg-parsechangelog -S Version)
[ "$package" = "$control.$patch" ] || { [ "$patch" = 0 ] && [ "$package" = "$control" ]; }
tap $? "debian/changelog's version ($package) is META.json's (crux_orders.control's $control, release $patch)"

# the build, from a copy of the tree as a checkout has it (no build outputs)
work=$(mktemp -d)
chmod 755 "$work"
mkdir "$work/src"
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
else
    cp -a . "$work/src" && make -s -C "$work/src" clean PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi
start=$(date +%s)
(cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
built=$?
seconds=$(($(date +%s) - start))
ext_deb=$(ls "$work"/postgresql-15-crux-orders_"$package"_*.deb 2>/dev/null)
worker_deb=$(ls "$work"/crux-export-worker_"$package"_*.deb 2>/dev/null)
[ $built = 0 ] && [ -n "$ext_deb" ] && [ -n "$worker_deb" ]
tap $? "dpkg-buildpackage -us -uc -b builds postgresql-15-crux-orders and crux-export-worker $package (${seconds} s)"
[ $built = 0 ] || tail -30 "$work/build.log" | sed 's/^/# /'

DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$ext_deb" "$worker_deb" >"$work/install.log" 2>&1
tap $? "both packages install (apt-get install)"
unit=/lib/systemd/system/crux-export-worker.service
[ "$(dpkg -S /usr/share/postgresql/15/extension/crux_orders.control | cut -d: -f1)" = postgresql-15-crux-orders ] &&
    [ "$(dpkg -S /usr/bin/crux-export-worker | cut -d: -f1)" = crux-export-worker ] &&
    getent passwd crux-export >/dev/null &&
    [ "$($sudo stat -c '%U %a' /var/lib/crux-export-worker/exports)" = "crux-export 700" ] &&
    [ "$($sudo stat -c '%U:%G %a' /etc/crux-export-worker.conf)" = "root:crux-export 640" ] &&
    grep -qx 'Restart=on-failure' $unit && grep -qx 'User=crux-export' $unit &&
    grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' $unit &&
    [ -f /usr/lib/tmpfiles.d/crux-export-worker.conf ]
tap $? "the packages' files: the extension, the program on PATH, user crux-export, /etc/crux-export-worker.conf 0640, /var/lib/crux-export-worker/exports 0700, a unit that restarts on failure and reloads on SIGHUP"

# what debian/tests/installcheck runs, on a port of its own: this test itself runs
# in a throwaway cluster, which pg_buildext's would otherwise collide with
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
grep -qx 'pg_buildext installcheck' "$work/src/debian/tests/installcheck" &&
    (cd "$work/src" && pg_buildext -c "--port=$port" installcheck) >"$work/installcheck.log" 2>&1
tap $? "autopkgtest's test, debian/tests/installcheck (pg_buildext installcheck), passes against the installed package"
grep -E "tests passed|tests failed" "$work/installcheck.log" | head -3 | sed 's/^/# /'
grep -q "tests passed" "$work/installcheck.log" || tail -15 "$work/installcheck.log" | sed 's/^/# /'

# the extension from the packaged files, and an export through the packaged worker
db=crux_package
PGOPTIONS="-c client_min_messages=warning" q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q -d $db -c "CREATE EXTENSION crux_orders" -v orders=200 -f test/generate.sql >/dev/null &&
    q -d $db -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'p_alice') THEN
                     CREATE ROLE p_alice NOLOGIN; GRANT crux_reader TO p_alice; END IF; END \$\$" \
             -c "INSERT INTO crux.role_organizations VALUES ('p_alice', md5('org-2')::uuid, NULL)"
version=$(q -d $db -c "SELECT extversion FROM pg_extension WHERE extname = 'crux_orders'")
[ "$version" = "$control" ]
tap $? "CREATE EXTENSION crux_orders from the packaged files: version $version"
uuid=$(q -d $db -c "SET ROLE p_alice" -c "SELECT crux_export_orders('{\"limit\": 20}') ->> 'uuid'")

printf '%s\n' "$PGPASSWORD" | $sudo tee /etc/crux-export-worker.password >/dev/null
$sudo chown root:crux-export /etc/crux-export-worker.password
$sudo chmod 640 /etc/crux-export-worker.password
$sudo tee /etc/crux-export-worker.conf >/dev/null <<CONF
dbname = host=${PGHOST:-localhost} port=${PGPORT:-5432} user=${PGUSER:-postgres} dbname=$db
password-file = /etc/crux-export-worker.password
output-dir = /var/lib/crux-export-worker/exports
interval = 1
CONF
if [ -d /run/systemd/system ]; then
    how="systemctl start crux-export-worker"
    $sudo systemctl daemon-reload && $sudo systemctl start crux-export-worker
else
    user=$(sed -n 's/^User=//p' $unit)
    exec_start=$(sed -n 's/^ExecStart=//p' $unit)
    how="the unit's ExecStart as $user (no systemd here)"
    $sudo runuser -u "$user" -- $exec_start 2>"$work/worker.log" &
fi
for _ in $(seq 600); do
    [ "$(q -d $db -c "SELECT status FROM crux.export_jobs WHERE uuid = '$uuid'")" = done ] && break
    sleep 0.1
done
file=$(q -d $db -c "SELECT file_path FROM crux.export_jobs WHERE uuid = '$uuid' AND status = 'done'")
owner=$([ -n "$file" ] && $sudo stat -c '%U %a' "$file")
if [ -d /run/systemd/system ]; then
    $sudo systemctl stop crux-export-worker
else
    $sudo pkill -TERM -u crux-export -f /usr/bin/crux-export-worker
    wait
fi
[ -n "$file" ] && [ "$owner" = "crux-export 600" ] && [[ $file == /var/lib/crux-export-worker/exports/* ]]
tap $? "the packaged worker, started by $how: the export is done, its file $owner in /var/lib/crux-export-worker/exports"
[ -n "$file" ] || tail -20 "$work/worker.log" 2>/dev/null | sed 's/^/# /'

# leave the machine as it was: no packages, this tree installed
DEBIAN_FRONTEND=noninteractive $sudo apt-get purge -y -q postgresql-15-crux-orders crux-export-worker \
    >>"$work/install.log" 2>&1
$sudo rm -f /etc/crux-export-worker.password
$sudo make -s -C "$tree" install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null
[ ! -e /etc/crux-export-worker.conf ] && [ ! -e /var/lib/crux-export-worker ] &&
    [ -f /usr/share/postgresql/15/extension/crux_orders.control ]
tap $? "purged: no configuration file, no exports left; this tree installed again"
q -d postgres -c "DROP DATABASE $db"
rm -rf "$work"
echo "1..$n"
