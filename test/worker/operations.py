"""Operating the export worker (called by test_worker.py, which supplies its
helpers, the SMTP sink and the output directory): its configuration file and the
command line over it, passwords from files (never the command line), JSON log
lines, SIGHUP reloading the file, --status, and the file's parser fuzzed."""
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Lines:
    """A running worker's stderr, read line by line as it comes."""

    def __init__(self, proc):
        self.lines = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, text, seconds=30):
        with self.changed:
            return self.changed.wait_for(lambda: any(text in line for line in self.lines), seconds)


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def run(check, psql, job, wait_for, sink, smtp, outdir, worker, worker_waiting):
    def export(request='{"limit": 1}'):
        return psql("SELECT crux_export_orders('%s') ->> 'uuid'" % request, role="w_alice")

    def sender_of(uuid):
        found = [str(m["From"]).strip("<>") for _, m in sink.messages if uuid in m["Subject"]]
        return found[0] if found else None

    work = tempfile.mkdtemp(prefix="crux-worker-conf-")
    conf = os.path.join(work, "worker.conf")

    # the configuration file: the long options' names; the command line wins
    write(conf, f"# crux-export-worker\noutput-dir = {outdir}\nsmtp-url = {smtp}\n"
                "from = conf@shop.example\nonce = true\n")
    uuid = export()
    r = subprocess.run([worker, "-c", conf], capture_output=True, text=True, timeout=120)
    by_file = job(uuid)[0] == "done" and sender_of(uuid) == "conf@shop.example"
    uuid = export()
    r2 = subprocess.run([worker, "-c", conf, "--from", "flag@shop.example"],
                        capture_output=True, text=True, timeout=120)
    check(by_file and job(uuid)[0] == "done" and sender_of(uuid) == "flag@shop.example",
          "the configuration file's settings apply; a command-line flag overrides them",
          r.stderr[-600:] + r2.stderr[-600:])
    write(os.path.join(work, "bad.conf"), "intervall = 5\n")
    r = subprocess.run([worker, "-c", os.path.join(work, "bad.conf")], capture_output=True, text=True)
    check(r.returncode == 2 and "invalid line 1" in r.stderr,
          "an unknown setting in the file stops the worker (exit 2) naming its line", r.stderr)

    # the file's parser, fuzzed: any file gives a clear exit (0, 1 or 2), never a crash
    rnd = random.Random(21)
    names = ["dbname", "output-dir", "smtp-url", "from", "once", "interval", "lease", "jobs",
             "keep-days", "log-format", "no-formula-escape", "work-mem", "password-file", "config"]
    pieces = ["=", " = ", "#", "\t", "\n", "true", "json", "-1", "99999999999999999999", "0",
              "dbname=postgres", "x@y", "\x00", "é", "=" * 3, "\r\n", " " * 5]
    crashed, statuses = [], set()
    for i in range(150):
        text = "".join(rnd.choice([rnd.choice(names), rnd.choice(pieces), chr(rnd.randrange(1, 256))])
                       for _ in range(rnd.randrange(1, 30)))
        path = os.path.join(work, "fuzz.conf")
        with open(path, "w", encoding="utf-8", errors="replace") as f:
            f.write(text.replace("\x00", ""))
        r = subprocess.run([worker, "-c", path, "--status"], capture_output=True, timeout=60)
        statuses.add(r.returncode)
        if r.returncode not in (0, 1, 2):
            crashed.append((r.returncode, text))
    check(not crashed and 2 in statuses,
          "150 fuzzed configuration files: each read or refused (exit 0, 1 or 2), none crashes"
          f" (exits seen: {sorted(statuses)})", crashed[:3])

    # secrets: the database password from a file, the SMTP password from a file or
    # the environment; never on the command line; a file everyone may read is refused
    password = os.environ.get("PGPASSWORD", "")
    secret = os.path.join(work, "db.password")
    write(secret, password + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    without = subprocess.run([worker, "--status"], capture_output=True, text=True, env=env)
    with_file = subprocess.run([worker, "--status", "--password-file", secret],
                               capture_output=True, text=True, env=env)
    on_line = subprocess.run([worker, "--status", "-d", f"dbname=postgres password={password}"],
                             capture_output=True, text=True, env=env)
    os.chmod(secret, 0o644)
    readable = subprocess.run([worker, "--status", "--password-file", secret],
                              capture_output=True, text=True, env=env)
    check(password != "" and without.returncode != 0 and with_file.returncode == 0
          and on_line.returncode == 2 and "refused" in on_line.stderr
          and readable.returncode == 2 and "readable by everyone" in readable.stderr,
          "the database password from --password-file; on the command line or in a file everyone"
          " may read it is refused", without.stderr + with_file.stderr + on_line.stderr + readable.stderr)

    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret smtp")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth_smtp = Controller(sink, hostname="127.0.0.1", port=port, authenticator=authenticate,
                           auth_require_tls=False, auth_required=True)
    auth_smtp.start()
    smtp_secret = os.path.join(work, "smtp.password")
    write(smtp_secret, "s3cret smtp\n")
    url = f"smtp://127.0.0.1:{port}"
    uuid_file = export()
    subprocess.run([worker, "--once", "-o", outdir, "-s", url, "--smtp-user", "mailer",
                    "--smtp-password-file", smtp_secret], capture_output=True, text=True, timeout=120)
    uuid_env = export()
    subprocess.run([worker, "--once", "-o", outdir, "-s", url, "--smtp-user", "mailer"],
                   capture_output=True, text=True, timeout=120,
                   env=dict(os.environ, CRUX_SMTP_PASSWORD="s3cret smtp"))
    in_url = subprocess.run([worker, "--once", "-o", outdir, "-s", f"smtp://mailer:x@127.0.0.1:{port}"],
                            capture_output=True, text=True)
    auth_smtp.stop()
    check(job(uuid_file)[0] == "done" and job(uuid_env)[0] == "done"
          and sender_of(uuid_file) and sender_of(uuid_env)
          and logins.count(("mailer", "s3cret smtp")) == 2
          and in_url.returncode == 2 and "refused" in in_url.stderr,
          "SMTP login with the password from --smtp-password-file or CRUX_SMTP_PASSWORD;"
          " a password in --smtp-url on the command line is refused", str(logins) + in_url.stderr)

    # one JSON object per log line
    uuid = export()
    r = subprocess.run([worker, "--once", "-o", outdir, "-s", smtp, "--log-format", "json"],
                       capture_output=True, text=True, timeout=120)
    try:
        lines = [json.loads(line) for line in r.stderr.splitlines()]
    except ValueError:
        lines = []
    check(len(lines) >= 3 and all({"time", "pid", "message"} <= set(x) for x in lines)
          and any(x["message"].startswith(f"export {uuid} done") for x in lines),
          "--log-format json: every log line is one JSON object with time, pid and message", r.stderr[-800:])

    # SIGHUP reads the file again: the next job is sent from the new address
    write(conf, f"output-dir = {outdir}\nsmtp-url = {smtp}\nfrom = before@shop.example\n"
                "interval = 3600\n")
    w = subprocess.Popen([worker, "-c", conf], stderr=subprocess.PIPE, text=True)
    log = Lines(w)
    wait_for(worker_waiting)
    first = export()
    wait_for(lambda: job(first)[0] == "done", 30)
    write(conf, f"output-dir = {outdir}\nsmtp-url = {smtp}\nfrom = after@shop.example\n"
                "interval = 3600\n")
    w.send_signal(signal.SIGHUP)
    reloaded = log.wait_for("configuration reloaded")
    second = export()
    wait_for(lambda: job(second)[0] == "done", 30)
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=30)
    check(reloaded and sender_of(first) == "before@shop.example"
          and sender_of(second) == "after@shop.example" and w.returncode == 0,
          "SIGHUP reloads the configuration file: the next job uses the new sender",
          "".join(log.lines[-10:]))

    # --status: queue depth, the oldest queued job's age, running jobs and their
    # progress, failures in the last day
    queued = export()
    running = export()
    failed = export()
    psql(f"""UPDATE crux.export_jobs SET created_at = now() - interval '1 hour' WHERE uuid = '{queued}';
             UPDATE crux.export_jobs SET status = 'running', attempts = 1, row_count = 4242,
                    started_at = now(), lease_until = now() + interval '1 hour', worker = 'host:1'
              WHERE uuid = '{running}';
             UPDATE crux.export_jobs SET status = 'failed', finished_at = now(), error = 'x'
              WHERE uuid = '{failed}';""")
    counts = psql("SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'),"
                  "       count(*) FILTER (WHERE status = 'failed' AND finished_at > now() - interval '1 day')"
                  "  FROM crux.export_jobs").split("|")
    text = subprocess.run([worker, "--status"], capture_output=True, text=True)
    as_json = subprocess.run([worker, "--status", "--log-format", "json"], capture_output=True, text=True)
    psql(f"DELETE FROM crux.export_jobs WHERE uuid IN ('{queued}', '{running}', '{failed}')")
    try:
        status = json.loads(as_json.stdout)
    except ValueError:
        status = {}
    jobs = {j["uuid"]: j for j in status.get("running_jobs", [])}
    check(text.returncode == 0 and int(counts[0]) >= 1 and int(counts[1]) >= 1
          and f"{counts[0]} queued (oldest 36" in text.stdout and f"{counts[1]} running" in text.stdout
          and f"{counts[2]} failed in the last day" in text.stdout
          and f"running {running}: attempt 1, 4242 rows so far" in text.stdout
          and status.get("queued") == int(counts[0]) and status.get("failed_last_day") == int(counts[2])
          and jobs.get(running, {}).get("rows") == 4242,
          "--status shows the queue: queued and the oldest's age, running with progress, failures"
          " in the last day (text and JSON)", text.stdout + text.stderr + as_json.stdout)
