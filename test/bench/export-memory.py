#!/usr/bin/python3
"""One export's backend memory and time (issue #18), run by export-memory.sh: every
order through crux.export_csv in one backend (as the worker's one-piece export
does), with work_mem WORK_MEM, RUNS times. While it runs, the backend's private
memory (RssAnon in /proc/PID/status: its memory contexts and its own mappings, not
the shared buffers) is sampled every 10 ms; the peak is compared with the bound
4 x work_mem + 64 MB.

    /usr/bin/python3 test/bench/export-memory.py WORK_MEM RUNS    (PG* variables set)
"""
import os
import sys
import threading
import time

import psycopg2
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "memory"))
from procstat import rss_anon_kb  # noqa: E402

work_mem = sys.argv[1] if len(sys.argv) > 1 else "4MB"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def one_run():
    conn = psycopg2.connect("")
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid(), pg_size_bytes(%s),"
                " to_regprocedure('crux.export_csv(jsonb,bigint,bigint,boolean,boolean)') IS NOT NULL,"
                " (SELECT extversion FROM pg_extension WHERE extname = 'crux_orders')", (work_mem,))
    pid, work_mem_bytes, has_1_8, version = cur.fetchone()
    cur.execute("SET work_mem = %s", (work_mem,))
    before = rss_anon_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon_kb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.time()
    args = "NULL, 0, NULL, true" + (", true" if has_1_8 else "")
    cur.execute(f"SELECT sum((c).rows), sum(octet_length((c).csv))"
                f"  FROM (SELECT crux.export_csv({args}) c) s")
    rows, size = cur.fetchone()
    elapsed = time.time() - start
    done.set()
    sampler.join()
    conn.close()
    bound_mb = 4 * work_mem_bytes / 1048576 + 64
    print(f"crux_orders {version}, work_mem {work_mem}: {rows} rows, {size / 1e9:.2f} GB in {elapsed:.1f} s;"
          f" backend RssAnon {before / 1024:.1f} MB before, peak {peak[0] / 1024:.1f} MB"
          f" (bound 4 x work_mem + 64 MB = {bound_mb:.0f} MB: {'within' if peak[0] / 1024 <= bound_mb else 'OVER'})",
          flush=True)
    return elapsed, peak[0]


results = [one_run() for _ in range(runs)]
times = sorted(t for t, _ in results)
print(f"median {times[len(times) // 2]:.1f} s, peak RssAnon {max(p for _, p in results) / 1024:.1f} MB over {runs} runs")
