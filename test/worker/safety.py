"""The export worker's safety and lifecycle, end to end (called by test_worker.py,
which supplies its helpers, the SMTP sink and the output directory): fenced
workers under a short lease, attempts counted when workers die, private files and
directories, checked addresses and identity, the same CSV whatever the settings,
formula-safe cells, cancel (queued and running), progress and retention.

A job is held in the middle of its export by a session that holds an ACCESS
EXCLUSIVE lock on crux.orders: the export waits for it, which the tests see in
pg_stat_activity, and goes on when the session ends."""
import os
import signal
import subprocess
import tempfile

ORG2 = "md5('org-2')::uuid"


class Hold:
    """A session holding crux.orders locked until release()."""

    def __init__(self):
        self.p = subprocess.Popen(["psql", "-X", "-At", "-q"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN;\nLOCK TABLE crux.orders IN ACCESS EXCLUSIVE MODE;\n\\echo locked\n")
        self.p.stdin.flush()
        while self.p.stdout.readline().strip() != "locked":
            pass

    def release(self):
        self.p.stdin.write("ROLLBACK;\n")
        self.p.stdin.close()
        self.p.wait()


def run(check, psql, job, wait_for, run_worker, sink, smtp, outdir, worker):
    def export(request, role="w_alice"):
        return psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role=role)

    def waiting_exports():
        return int(psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crux-export-worker'"
                        " AND wait_event_type = 'Lock'"))

    def files_of(uuid):
        return sorted(f for f in os.listdir(outdir) if uuid in f)

    def mails_for(uuid):
        return [m for _, m in sink.messages if uuid in m["Subject"]]

    def start(*extra):
        return subprocess.Popen([worker, "--once", "-o", outdir, "-s", smtp, *extra],
                                stderr=subprocess.PIPE, text=True)

    # files are 0600; a missing directory is created 0700; a world-writable one is refused
    uuid = export('{"limit": 3}')
    private = os.path.join(outdir, "private")
    r = run_worker(private, smtp)
    state = job(uuid)
    check(state[0] == "done" and os.stat(state[4]).st_mode & 0o777 == 0o600
          and os.stat(private).st_mode & 0o777 == 0o700,
          "the file is 0600, in a directory created 0700", r.stderr[-800:] + str(state))
    open_dir = tempfile.mkdtemp(prefix="crux-open-")
    os.chmod(open_dir, 0o777)
    uuid = export('{"limit": 1}')
    r = run_worker(open_dir, smtp)
    check(r.returncode != 0 and "writable by everyone" in r.stderr and job(uuid)[0] == "queued",
          "a world-writable output directory is refused; nothing is claimed", r.stderr[-800:])
    run_worker(outdir, smtp)

    # the same file whatever the server's settings, its timestamps as the API's
    request = '{"sort": {"key": "created_date", "dir": "asc"}, "limit": 5}'
    files = []
    for options in ("", "-c TimeZone=America/New_York -c DateStyle=SQL,DMY -c extra_float_digits=-3"
                        " -c IntervalStyle=sql_standard"):
        uuid = export(request)
        run_worker(outdir, smtp, env={"PGOPTIONS": options})
        with open(job(uuid)[4] or os.devnull, "rb") as f:
            files.append(f.read())
    first = psql("SELECT crux_get_orders('%s') -> 'orders' -> 0 ->> 'created_date'" % request, role="w_alice")
    check(len(files[0]) > 100 and files[0] == files[1] and f",{first}," in files[0].decode(),
          "TimeZone America/New_York and DateStyle SQL, DMY: the same bytes, timestamps as the API's",
          files[1][:600])

    # formula cells: made safe by default, raw with --no-formula-escape
    psql("""INSERT INTO crux.orders (uuid, retailer_uuid, purchase_order_id, notes, created_date)
            VALUES ('00000000-0000-4000-8000-00000000f0a1', md5('org-2')::uuid, 'PO-FORMULA', '=1+1',
                    '2018-01-01Z') ON CONFLICT DO NOTHING""")
    notes = []
    for extra in ([], ["--no-formula-escape"]):
        uuid = export('{"term": "PO-FORMULA", "fields": ["purchase_order_id", "notes"]}')
        run_worker(outdir, smtp, *extra)
        with open(job(uuid)[4] or os.devnull, encoding="utf-8") as f:
            notes.append(f.read())
    check(notes == ["purchase_order_id,notes\nPO-FORMULA,'=1+1\n", "purchase_order_id,notes\nPO-FORMULA,=1+1\n"],
          "a cell =1+1 is written '=1+1, and raw with --no-formula-escape", notes)

    # an address holding CR/LF (or more than one address, a display name, no @) fails
    # its job at once; nothing is sent, no file kept; a bad --from stops the worker
    bad = ["a@example.com\\r\\nBcc: thief@example.com", "a@example.com, b@example.com",
           "Eve <eve@example.com>", "no-at-sign", "a@b@example.com", "a@example.com\\n"]
    uuids = []
    for address in bad:
        uuid = export('{"limit": 1}')
        psql(f"UPDATE crux.export_jobs SET email = E'{address}' WHERE uuid = '{uuid}'")
        uuids.append(uuid)
    sent = len(sink.messages)
    r = run_worker(outdir, smtp)
    states = [job(u) for u in uuids]
    check(all(st[0] == "failed" and st[1] == "1" and "address" in st[3] for st in states)
          and len(sink.messages) == sent and not any(files_of(u) for u in uuids),
          "an address with CR/LF, two addresses, a display name or no single @ fails its job at once;"
          " the SMTP server receives nothing", r.stderr[-800:] + str(states))
    r = run_worker(outdir, smtp, "--from", "Eve <eve@example.com>")
    check(r.returncode == 2 and "invalid --from" in r.stderr, "a --from that is not one plain address is refused",
          r.stderr[-400:])

    # a mapping changed between queueing and running fails the job
    uuid = export('{"limit": 2}')
    psql("UPDATE crux.role_organizations SET organization_uuid = md5('org-3')::uuid WHERE role_name = 'w_alice'")
    r = run_worker(outdir, smtp)
    psql(f"UPDATE crux.role_organizations SET organization_uuid = {ORG2} WHERE role_name = 'w_alice'")
    state = job(uuid)
    check(state[0] == "failed" and state[1] == "1" and "no longer acts" in state[3] and not files_of(uuid)
          and not mails_for(uuid),
          "a requester mapped to another organization since: failed, no file, no email", r.stderr[-800:] + str(state))

    # a queued job cancelled: the worker leaves it
    uuid = export('{"limit": 2}')
    answer = psql(f"SELECT crux_cancel_export('{uuid}') ->> 'status'", role="w_alice")
    run_worker(outdir, smtp)
    state = job(uuid)
    check(answer == "cancelled" and state[0] == "cancelled" and state[1] == "0" and not files_of(uuid),
          "a cancelled queued job is never run", str(state))

    # two workers, a lease of 2 s, an export held longer than that: the heartbeat keeps
    # it with the first; exactly one file and one email, no temporary file left
    uuid = export('{"limit": 4}')
    hold = Hold()
    first_worker = start("--lease", "2")
    held = wait_for(lambda: waiting_exports() >= 1)
    outlived = wait_for(lambda: psql(f"SELECT now() > started_at + interval '3 s' AND lease_until > now()"
                                     f" FROM crux.export_jobs WHERE uuid = '{uuid}'") == "t", 30)
    second = run_worker(outdir, smtp, "--lease", "2")
    hold.release()
    err = first_worker.communicate(timeout=60)[1]
    state = job(uuid)
    check(held and outlived and state[0] == "done" and state[1] == "1" and len(mails_for(uuid)) == 1
          and files_of(uuid) == [f"crux-orders-{uuid}.csv"] and f"export {uuid}" not in second.stderr,
          "two workers, a 2 s lease, an export held 3 s: one attempt, one file, one email, no temporary file",
          err[-800:] + second.stderr[-400:] + str(state) + str(files_of(uuid)))

    # a worker whose job passes to another attempt stops, removes its file, sends nothing
    uuid = export('{"limit": 4}')
    hold = Hold()
    w = start("--lease", "2")
    held = wait_for(lambda: waiting_exports() >= 1)
    psql(f"UPDATE crux.export_jobs SET attempts = attempts + 1 WHERE uuid = '{uuid}'")   # another claim
    try:
        err = w.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        w.kill()
        err = w.communicate()[1]
    hold.release()
    check(held and "no longer carries this attempt" in err and not files_of(uuid) and not mails_for(uuid),
          "a worker that lost its job stops at once: no file, no email", err[-800:] + str(files_of(uuid)))
    psql(f"UPDATE crux.export_jobs SET status = 'failed', lease_until = NULL WHERE uuid = '{uuid}'")

    # a running job cancelled: its worker stops within seconds, no file, no email
    uuid = export('{"limit": 4}')
    hold = Hold()
    w = start()
    held = wait_for(lambda: waiting_exports() >= 1 and job(uuid)[0] == "running")
    answer = psql(f"SELECT crux_cancel_export('{uuid}') ->> 'status'", role="w_alice")
    try:
        err = w.communicate(timeout=20)[1]
        stopped = w.returncode == 0
    except subprocess.TimeoutExpired:
        w.kill()
        err, stopped = w.communicate()[1], False
    hold.release()
    state = job(uuid)
    check(held and answer == "cancelled" and stopped and "cancelled" in err and state[0] == "cancelled"
          and not files_of(uuid) and not mails_for(uuid),
          "a running job cancelled: its worker stops within seconds, no file, no email",
          err[-800:] + str(state))

    # progress: while the job runs (its email is held by the SMTP server), row_count
    # shows the rows written so far
    uuid = export('{"limit": 6}')
    sink.hold = __import__("threading").Event()
    sink.holding.clear()
    w = start("--lease", "2")
    caught = sink.holding.wait(60)
    progress = wait_for(lambda: job(uuid)[0] == "running" and int(job(uuid)[2]) > 0, 10)
    during = job(uuid)
    sink.hold.set()
    sink.hold = None
    w.communicate(timeout=60)
    after = job(uuid)
    check(caught and progress and during[0] == "running" and during[2] == after[2] and after[0] == "done",
          "progress: a running job shows the rows written so far", str(during) + str(after))

    # a job whose worker is killed at every attempt fails after --max-attempts
    uuid = export('{"limit": 4}')
    hold = Hold()
    killed = 0
    for attempt in (1, 2):
        w = start("--lease", "1", "--max-attempts", "2")
        if wait_for(lambda: job(uuid)[1] == str(attempt) and waiting_exports() >= attempt):
            os.kill(w.pid, signal.SIGKILL)
            w.wait()
            killed += 1
        wait_for(lambda: psql(f"SELECT lease_until < now() FROM crux.export_jobs WHERE uuid = '{uuid}'") == "t")
    r = run_worker(outdir, smtp, "--max-attempts", "2")
    hold.release()
    state = job(uuid)
    check(killed == 2 and state[0] == "failed" and state[1] == "2" and "stopped" in state[3]
          and not files_of(uuid),
          "a job whose worker is killed at every attempt fails after --max-attempts, no file left",
          r.stderr[-800:] + str(state) + str(files_of(uuid)))

    # retention: files of jobs done more than --keep-days ago are removed, the jobs expired
    old, recent = export('{"limit": 1}'), export('{"limit": 2}')
    run_worker(outdir, smtp)
    old_path, recent_path = job(old)[4], job(recent)[4]
    psql(f"UPDATE crux.export_jobs SET finished_at = now() - interval '8 days' WHERE uuid = '{old}'")
    r = run_worker(outdir, smtp, "--keep-days", "7")
    check(job(old)[0] == "expired" and not os.path.exists(old_path) and job(recent)[0] == "done"
          and os.path.exists(recent_path) and psql(f"SELECT crux_get_export('{old}') ->> 'status'",
                                                   role="w_alice") == "expired",
          "--keep-days 7: an 8-day-old file is removed and its job expired; a recent one stays",
          r.stderr[-800:] + str(job(old)))
