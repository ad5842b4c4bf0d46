#!/usr/bin/env bash
# Installs what crux_orders needs from Debian 12's packages (only what is missing),
# then builds and installs the extension and the worker. Used by demo.sh and run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(make gcc postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl
          postgresql-15-plproxy
          dpkg-dev debhelper fakeroot postgresql-server-dev-all
          libpq-dev libjson-c-dev libcurl4-openssl-dev python3 python3-aiosmtpd time)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

make -s PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
$sudo make -s install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null
