#!/usr/bin/python3
"""End-to-end tests of crux-export-worker against the real server in PG* (with
crux_orders and the 1,000 sample orders loaded), real LISTEN/NOTIFY, and a real SMTP
server on loopback (aiosmtpd). Prints TAP ("ok N - ...", "not ok N - ...").

    /usr/bin/python3 test/worker/test_worker.py
"""
import asyncio
import csv
import email
import email.policy
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import operations  # noqa: E402
import safety  # noqa: E402

WORKER = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                        check=True).stdout.strip() + "/crux-export-worker"
# the test build (make builds it, never installs it): the hooks of CRUX_EXPORT_WORKER_TEST_JOIN
WORKER_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                           "crux-export-worker-test")
results = []


def check(ok, name, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}", flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[:20]:
            print(f"# {line}", flush=True)


def psql(sql, role=None, check_rc=True):
    """Runs SQL (as ROLE if given); returns stdout, unaligned without headers."""
    if role:
        sql = f"SET ROLE {role};\n{sql}"
    p = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-q"],
                       input=sql, capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError(p.stderr)
    return p.stdout.strip()


def wait_for(condition, seconds=60):
    """Polls a condition (a database state) until it holds or time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


class Sink:
    """An SMTP server on loopback that keeps every message; it can be told to hold
    the next message until released, to catch a worker in the middle of a job."""

    def __init__(self):
        self.messages = []
        self.hold = None            # threading.Event while holding
        self.holding = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        hold = self.hold
        if hold is not None:
            self.holding.set()
            while not hold.is_set():
                await asyncio.sleep(0.05)
        self.messages.append((envelope.rcpt_tos,
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def run_worker(outdir, smtp, *extra, timeout=120, env=None, binary=WORKER):
    return subprocess.run([binary, "--once", "-o", outdir, "-s", smtp, *extra],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def worker_waiting():
    """A worker is connected, listening and idle (waiting for notifications)."""
    return psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crux-export-worker'"
                " AND state = 'idle'") != "0"


def job(uuid):
    row = psql(f"SELECT status, attempts, coalesce(row_count, -1), coalesce(error, ''), "
               f"coalesce(file_path, '') FROM crux.export_jobs WHERE uuid = '{uuid}'")
    return row.split("|") if row else None


def main():
    sink = Sink()
    with socket.socket() as probe:          # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = f"smtp://127.0.0.1:{port}"
    outdir = tempfile.mkdtemp(prefix="crux-exports-")
    os.chmod(outdir, 0o755)

    psql("""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'w_alice') THEN
                CREATE ROLE w_alice NOLOGIN; GRANT crux_reader TO w_alice;
            END IF;
        END $$;
        INSERT INTO crux.role_organizations VALUES ('w_alice', md5('org-2')::uuid, md5('user-4')::uuid)
            ON CONFLICT DO NOTHING;
        -- an order whose text needs quoting in CSV
        INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, notes, created_date)
        VALUES ('00000000-0000-4000-8000-00000000c5f0', md5('org-2')::uuid, 'PO-CSV',
                E'comma, "quote", new\\nline, é€𝄞', '2017-01-01Z') ON CONFLICT DO NOTHING;
        INSERT INTO crux.line_items (order_uuid, sku_id, sku_name, quantity_ordered)
        SELECT '00000000-0000-4000-8000-00000000c5f0', 'SKU-CSV', E'naïve; "x"\\r\\n,y', 1
         WHERE NOT EXISTS (SELECT FROM crux.line_items WHERE sku_id = 'SKU-CSV');
    """)

    # 1. notifications: a rolled back export sends none and leaves no job; a
    #    committed one sends its uuid.
    listener = subprocess.Popen(["psql", "-X", "-At", "-q"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listener.stdin.write("LISTEN crux_orders_export;\n\\echo listening\n")
    listener.stdin.flush()
    while listener.stdout.readline().strip() != "listening":
        pass
    jobs_before = psql("SELECT count(*) FROM crux.export_jobs")
    psql("BEGIN; SELECT crux_export_orders('{\"term\": \"rolled-back\"}'); ROLLBACK;", role="w_alice")
    committed = psql("SELECT crux_export_orders('{\"term\": \"PO-CSV\"}') ->> 'uuid'", role="w_alice")
    listener.stdin.write("SELECT 'marker';\n\\echo done\n")
    listener.stdin.flush()
    heard = []
    while True:
        line = listener.stdout.readline()
        if not line or line.strip() == "done":
            break
        heard.append(line.strip())
    listener.stdin.close()
    listener.wait()
    notes = [h for h in heard if h.startswith("Asynchronous notification")]
    check(psql("SELECT count(*) FROM crux.export_jobs WHERE request ->> 'term' = 'rolled-back'") == "0",
          "rollback: no job")
    check(len(notes) == 1 and committed in notes[0],
          "rollback: no notification; commit: one notification with the export's uuid", heard)

    # 2. the worker exports the job as its requester, writes the CSV, emails it
    r = run_worker(outdir, smtp)
    state = job(committed)
    check(r.returncode == 0 and state[0] == "done" and state[1] == "1",
          "export then worker: done in one attempt", r.stderr + str(state))
    path = state[4]
    with open(path, "rb") as f:
        produced_bytes = f.read()
    produced = produced_bytes.decode("utf-8")
    expected = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", "SET ROLE w_alice",
         "-c", "SELECT string_agg((c).csv, '') FROM (SELECT crux.export_csv('{\"term\": \"PO-CSV\"}',"
               " 0, NULL, true) c) s"], capture_output=True, check=True).stdout
    check(produced_bytes + b"\n" == expected, "the CSV is crux.export_csv's for the request, byte for byte",
          produced + "\n---\n" + expected.decode())
    rows = list(csv.DictReader(io.StringIO(produced, newline="")))
    api = psql("SELECT o ->> 'created_date' FROM jsonb_array_elements(crux_get_orders('{\"term\": \"PO-CSV\"}')"
               " -> 'orders') o", role="w_alice")
    check(len(rows) == 1 and rows[0]["created_date"] == api == "2017-01-01T00:00:00.000000Z",
          "its created_date is written as the API writes it", rows[0]["created_date"] if rows else rows)
    check(len(rows) == 1 and rows[0]["notes"] == 'comma, "quote", new\nline, é€𝄞'
          and rows[0]["sku_name"] == 'naïve; "x"\r\n,y',
          "commas, quotes, newlines and non-ASCII text survive the CSV round trip", rows)
    check(state[2] == "1", "the job records its row count", state)
    got = [m for rcpt, m in sink.messages if committed in m["Subject"]]
    attachment = None
    if got:
        for part in got[0].iter_attachments():
            attachment = part.get_content()
    check(len(got) == 1 and sink.messages[-1][0] == [psql("SELECT email FROM crux.users WHERE uuid = md5('user-4')::uuid")],
          "one email, to the requester's address", [m[0] for m in sink.messages])
    check(attachment is not None and (attachment.decode() if isinstance(attachment, bytes) else attachment) == produced,
          "the email carries the file", str(attachment)[:200])

    # 3. exports hold what the requester sees: alice's export has only her organization
    uuid = psql("SELECT crux_export_orders('{\"fields\": [\"retailer_uuid\"]}') ->> 'uuid'", role="w_alice")
    run_worker(outdir, smtp)
    with open(job(uuid)[4], encoding="utf-8") as f:
        retailers = set(line.strip() for line in f.readlines()[1:])
    check(retailers == {psql("SELECT md5('org-2')::uuid")}, "an export holds only its requester's organization",
          retailers)

    # 3b. over the attachment limit the email names the file; no address: the file alone
    uuid = psql("SELECT crux_export_orders('{\"limit\": 20}') ->> 'uuid'", role="w_alice")
    sent_before = len(sink.messages)
    run_worker(outdir, smtp, "--attach-limit", "100")
    state = job(uuid)
    msg = sink.messages[-1][1] if len(sink.messages) > sent_before else None
    check(state[0] == "done" and msg is not None and not list(msg.iter_attachments())
          and state[4] in msg.get_body(("plain",)).get_content(),
          "a file over the attachment limit is named in the email, not attached", state)
    uuid = psql("SELECT crux_export_orders('{\"limit\": 2}') ->> 'uuid'")   # a superuser: no user, no email
    sent_before = len(sink.messages)
    run_worker(outdir, smtp)
    state = job(uuid)
    check(state[0] == "done" and os.path.exists(state[4]) and len(sink.messages) == sent_before,
          "a requester without an email address gets the file alone", state)

    # 3c. a large selection is exported in slices, in parallel and in one snapshot,
    #     joined into the same file one COPY would give
    request = '{"start": 1, "sort": {"key": "sku_id", "dir": "desc"}}'   # alice sees 8 orders
    uuid = psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role="w_alice")
    run_worker(outdir, smtp, "-j", "1")
    with open(job(uuid)[4], "rb") as f:
        expected = f.read()
    uuid = psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role="w_alice")
    r = run_worker(outdir, smtp, "-j", "3", "--slice-orders", "2")
    state = job(uuid)
    with open(state[4], "rb") as f:
        produced_bytes = f.read()
    expected_rows = len(list(csv.reader(io.StringIO(expected.decode(), newline="")))) - 1
    check(state[0] == "done" and "in 3 slices" in r.stderr and produced_bytes == expected
          and state[2] == str(expected_rows) and expected_rows > 6,
          "3 slices in parallel give the file one piece gives, byte for byte", r.stderr[-1500:] + str(state))

    # 3c'. the two ways slices are joined (worker_output.c), each forced by the test
    #      build's hook (the installed worker has none): a later slice that ends after the ones before it is
    #      copied up to where it is, then appends the rest in place; one that ends
    #      first is copied whole. Both give the same bytes.
    copied = {}
    for order in ("while-running", "after-end"):
        uuid = psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role="w_alice")
        r = run_worker(outdir, smtp, "-j", "3", "--slice-orders", "2",
                       env={"CRUX_EXPORT_WORKER_TEST_JOIN": order}, binary=WORKER_TEST)
        state = job(uuid)
        with open(state[4] or os.devnull, "rb") as f:
            same = f.read() == expected
        m = re.search(r"3 slices joined, (\d+) bytes copied", r.stderr)
        copied[order] = int(m.group(1)) if m else -1
        check(state[0] == "done" and same and copied[order] > 0,
              f"slices joined {order}: the same file, byte for byte", r.stderr[-1500:] + str(state))
    check(copied["while-running"] < copied["after-end"],
          "a slice still running when the ones before it end is copied only up to there",
          str(copied))

    # 3d. --work-mem: too little for the tracking numbers in memory, the slices look
    #     them up one by one and give the same bytes; a value the server refuses
    #     fails the attempt with the server's reason
    uuid = psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role="w_alice")
    r = run_worker(outdir, smtp, "-j", "3", "--slice-orders", "2", "--work-mem", "64kB")
    state = job(uuid)
    with open(state[4], "rb") as f:
        small_bytes = f.read()
    check(state[0] == "done" and small_bytes == expected,
          "--work-mem 64kB: the same file, byte for byte", r.stderr[-1500:] + str(state))
    uuid = psql("SELECT crux_export_orders('{\"limit\": 2}') ->> 'uuid'", role="w_alice")
    r = run_worker(outdir, smtp, "--work-mem", "lots", "--max-attempts", "1")
    state = job(uuid)
    check(state[0] == "failed" and "work_mem" in state[3],
          "--work-mem the server refuses: the job fails with the reason", r.stderr[-1500:] + str(state))

    # 3e. a database still at version 1.4: the job fails with the reason, which names
    #     the update; after ALTER EXTENSION crux_orders UPDATE a new job is done
    env14 = dict(os.environ, PGDATABASE="w_v14")
    subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", "DROP DATABASE IF EXISTS w_v14",
                    "-c", "CREATE DATABASE w_v14"], check=True, capture_output=True)
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "CREATE EXTENSION crux_orders VERSION '1.4'", "-v", "orders=200",
                    "-f", "test/generate.sql"], env=env14, check=True, capture_output=True)

    def job14(sql):
        return subprocess.run(["psql", "-X", "-At", "-c", sql], env=env14, capture_output=True,
                              text=True, check=True).stdout.strip()
    states = []
    for update in (False, True):
        if update:
            job14("ALTER EXTENSION crux_orders UPDATE")
        uuid14 = job14("SELECT crux_export_orders('{\"limit\": 150}') ->> 'uuid'")
        r = subprocess.run([WORKER, "--once", "-o", outdir, "-d", "dbname=w_v14", "--max-attempts", "1"],
                           capture_output=True, text=True, timeout=120)
        states.append(job14(f"SELECT status || ' ' || coalesce(error, '') FROM crux.export_jobs"
                            f" WHERE uuid = '{uuid14}'"))
    check(states[0].startswith("failed") and "version 1.4" in states[0]
          and "ALTER EXTENSION crux_orders UPDATE" in states[0] and states[1].strip() == "done",
          "a database at 1.4: the job fails naming ALTER EXTENSION crux_orders UPDATE; after it, done",
          r.stderr[-1500:] + str(states))
    subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", "DROP DATABASE w_v14"], capture_output=True)

    # 4. 50 jobs queued while no worker runs: all done once a worker starts
    uuids = psql("SELECT string_agg(crux_export_orders(jsonb_build_object('term', 'PO-' || lpad(g::text, 8, '0'))) ->> 'uuid', ' ')"
                 " FROM generate_series(1, 50) g", role="w_alice").split()
    r = run_worker(outdir, smtp)
    done = psql("SELECT count(*) FROM crux.export_jobs WHERE uuid = ANY (string_to_array('%s', ' ')::uuid[]) "
                "AND status = 'done' AND attempts = 1" % " ".join(uuids))
    check(done == "50", "50 jobs queued while no worker ran are all done", r.stderr[-2000:])

    # 5. 4 workers, 200 jobs: each done exactly once
    uuids = psql("SELECT string_agg(crux_export_orders(jsonb_build_object('start', g, 'limit', g + 3)) ->> 'uuid', ' ')"
                 " FROM generate_series(1, 200) g", role="w_alice").split()
    workers = [subprocess.Popen([WORKER, "--once", "-o", outdir], stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    logs = [w.communicate(timeout=300)[1] for w in workers]
    done_lines = [line for log in logs for line in log.splitlines() if " done: " in line]
    per_job = {u: sum(1 for line in done_lines if f"export {u} done" in line) for u in uuids}
    check(all(n == 1 for n in per_job.values()) and
          psql("SELECT count(*) FROM crux.export_jobs WHERE uuid = ANY (string_to_array('%s', ' ')::uuid[]) "
               "AND status = 'done' AND attempts = 1" % " ".join(uuids)) == "200",
          "4 workers, 200 jobs: each done exactly once",
          [u for u, n in per_job.items() if n != 1][:5])
    check(sum(1 for log in logs if " done: " in log) >= 2, "the jobs were shared between workers",
          [log.count(" done: ") for log in logs])

    # 6. a worker killed with SIGKILL in the middle of a job: after its lease lapses
    #    the job is taken up again and done exactly once
    uuid = psql("SELECT crux_export_orders('{\"limit\": 5}') ->> 'uuid'", role="w_alice")
    sink.hold = threading.Event()
    sink.holding.clear()
    victim = subprocess.Popen([WORKER, "--once", "-o", outdir, "-s", smtp, "--lease", "2"],
                              stderr=subprocess.DEVNULL)
    caught = sink.holding.wait(60)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    sink.hold.set()
    sink.hold = None
    check(caught and job(uuid)[0] == "running", "a worker killed mid-job leaves it running", job(uuid))
    lapsed = wait_for(lambda: psql(f"SELECT lease_until < now() FROM crux.export_jobs WHERE uuid = '{uuid}'") == "t")
    r = run_worker(outdir, smtp)
    state = job(uuid)
    check(lapsed and state[0] == "done" and state[1] == "2" and r.stderr.count(f"export {uuid} done") == 1,
          "after the lease lapses another worker does it, exactly once", r.stderr[-1000:] + str(state))

    # 7. SMTP down: retried, then failed with the reason
    uuid = psql("SELECT crux_export_orders('{\"limit\": 1}') ->> 'uuid'", role="w_alice")
    r = run_worker(outdir, "smtp://127.0.0.1:9", "--max-attempts", "3", "--backoff", "0")
    state = job(uuid)
    check(state[0] == "failed" and state[1] == "3" and "email" in state[3] and r.stderr.count("failed") >= 3,
          "SMTP down: three attempts, then failed with the reason", r.stderr[-1500:] + str(state))

    # 7b. fenced workers, private files, checked addresses and identity, stable and
    #     formula-safe CSV, cancel, progress and retention (safety.py)
    safety.run(check, psql, job, wait_for, run_worker, sink, smtp, outdir, WORKER)

    # 7c. operating it: configuration file, secrets, JSON logs, SIGHUP, --status
    #     (operations.py)
    operations.run(check, psql, job, wait_for, sink, smtp, outdir, WORKER, worker_waiting)

    # 8. SIGTERM stops a waiting worker cleanly
    w = subprocess.Popen([WORKER, "-o", outdir, "--interval", "3600"], stderr=subprocess.PIPE, text=True)
    started = wait_for(worker_waiting)
    w.send_signal(signal.SIGTERM)
    try:
        err = w.communicate(timeout=30)[1]
        clean = w.returncode == 0 and "stopping" in err
    except subprocess.TimeoutExpired:
        w.kill()
        clean = False
    check(started and clean, "SIGTERM stops a listening worker cleanly")

    # 9. a LISTENing worker picks up a new job from its notification alone
    w = subprocess.Popen([WORKER, "-o", outdir, "-s", smtp, "--interval", "3600"],
                         stderr=subprocess.PIPE, text=True)
    wait_for(worker_waiting)
    uuid = psql("SELECT crux_export_orders('{\"limit\": 2}') ->> 'uuid'", role="w_alice")
    done = wait_for(lambda: job(uuid)[0] == "done", 30)
    w.send_signal(signal.SIGTERM)
    err = w.communicate(timeout=30)[1]
    check(done and f"notified of export {uuid}" in err, "a listening worker acts on the notification", err[-1000:])

    # 10. the server restarts under a listening worker: it reconnects and goes on
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    ours = [line.split() for line in clusters.splitlines()
            if len(line.split()) > 2 and line.split()[1] == "regress" and line.split()[2] == os.environ.get("PGPORT")]
    if ours:
        w = subprocess.Popen([WORKER, "-o", outdir, "--interval", "3600"], stderr=subprocess.PIPE, text=True)
        wait_for(worker_waiting)
        subprocess.run(["pg_ctlcluster", os.environ.get("PGVERSION", "15"), "regress", "restart", "-m", "fast"],
                       check=True, capture_output=True)
        uuid = None
        if wait_for(lambda: psql("SELECT 1", check_rc=False) == "1"):
            uuid = psql("SELECT crux_export_orders('{\"limit\": 3}') ->> 'uuid'", role="w_alice")
        done = uuid is not None and wait_for(lambda: job(uuid)[0] == "done", 60)
        w.send_signal(signal.SIGTERM)
        err = w.communicate(timeout=30)[1]
        check(done and "reconnecting" in err, "after a server restart the worker reconnects and goes on",
              err[-1500:])
    else:
        print("ok %d - # SKIP server restart: not in a pg_virtualenv cluster" % (len(results) + 1))
        results.append(True)

    controller.stop()
    failed = results.count(False)
    print(f"1..{len(results)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
