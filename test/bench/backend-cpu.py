#!/usr/bin/env python3
"""Backend CPU time per statement, by hand: the statements of FILE (separated by lines
"-- name"; what comes before the first is setup) run REPS times in one psql session
against DB (the server in PG*), and for each the median of the backend's CPU time
(user + system, from /proc; run on the server's machine) and of the wall time.

    python3 test/bench/backend-cpu.py DB test/bench/export-slice.sql 5
"""
import os
import re
import subprocess
import sys
import time


def main():
    db, path = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    parts = re.split(r"^-- (\S+)\s*$", open(path).read(), flags=re.M)
    setup, statements = parts[0], list(zip(parts[1::2], parts[2::2]))
    psql = subprocess.Popen(["psql", "-X", "-q", "-At", "-d", db], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(sql, marker):
        psql.stdin.write(sql + "\n\\echo " + marker + "\n")
        psql.stdin.flush()
        out = []
        while True:
            line = psql.stdout.readline()
            if line.strip() == marker or not line:
                return out
            out.append(line)

    pid = int(run("SELECT pg_backend_pid();", "crux-marker-pid")[0])
    run(setup, "crux-marker-setup")
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    results = {name: [] for name, _ in statements}
    for _ in range(reps):
        for name, sql in statements:
            c0, w0 = cpu(), time.time()
            run(sql, "crux-marker-run")
            results[name].append((cpu() - c0, time.time() - w0))
    for name, runs in results.items():
        cpus = sorted(r[0] for r in runs)
        walls = sorted(r[1] for r in runs)
        print(f"{name:12s} CPU median {cpus[len(cpus) // 2]:.2f} s, wall median "
              f"{walls[len(walls) // 2]:.2f} s; CPU of each run {[round(r[0], 2) for r in runs]}")


if __name__ == "__main__":
    main()
