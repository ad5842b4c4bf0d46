#!/usr/bin/python3
"""An export's backend memory stays bounded whatever the export's size (issue #18):
ORDERS sample orders (default 200,000) in a database of their own, then every order
through crux.export_csv in one psql session with work_mem 64kB, too little for the
tracking numbers in memory. While the export runs, the backend's private memory
(RssAnon in /proc/PID/status: its memory contexts and its own mappings) is sampled;
its growth must stay within 4 x work_mem + 16 MB. An export that held its whole
selection in memory (about 110 bytes per order) grows past that. Prints TAP.

    /usr/bin/python3 test/memory/run.py [ORDERS]      (PG* variables: the server)
"""
import os
import select
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import rss_anon_kb  # noqa: E402

orders = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
db = "crux_memory"
env = dict(os.environ, PGDATABASE=db)
n = 0


def tap(ok, name, detail=""):
    global n
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {name}", flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[:20]:
            print(f"# {line}", flush=True)


subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {db}",
                "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)
subprocess.run(["psql", "-X", "-q", "-c", "CREATE EXTENSION crux_orders"], env=env, check=True,
               capture_output=True)
subprocess.run(["bash", "test/generate.sh", str(orders)], env=env, check=True, capture_output=True)
subprocess.run(["psql", "-X", "-q", "-c", "VACUUM ANALYZE"], env=env, check=True, capture_output=True)

session = subprocess.Popen(["psql", "-X", "-At", "-q"], env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
session.stdin.write("SET work_mem = '64kB';\nSELECT pg_backend_pid();\n")
session.stdin.flush()
pid = int(session.stdout.readline())
before = peak = rss_anon_kb(pid)
session.stdin.write("SELECT sum((c).rows) FROM (SELECT crux.export_csv(NULL, 0, NULL, true) c) s;\n")
session.stdin.flush()
while not select.select([session.stdout], [], [], 0.01)[0]:
    peak = max(peak, rss_anon_kb(pid))
rows = session.stdout.readline().strip()
session.stdin.close()
session.wait()
expected = subprocess.run(["psql", "-X", "-At", "-c", "SELECT count(*) FROM crux_export_rows(NULL)"],
                          env=env, check=True, capture_output=True, text=True).stdout.strip()
tap(rows == expected and int(rows) > orders, f"an export of {orders} orders: {rows} rows, as crux_export_rows",
    f"{rows} != {expected}")
growth_mb = (peak - before) / 1024
bound_mb = 4 * 64 / 1024 + 16
tap(growth_mb <= bound_mb,
    f"its backend's private memory grew by {growth_mb:.1f} MB, within 4 x work_mem (64kB) + 16 MB",
    f"RssAnon {before} kB before, peak {peak} kB")
subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", f"DROP DATABASE {db}"], capture_output=True)
print(f"1..{n}")
