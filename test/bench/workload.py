#!/usr/bin/python3
"""A generated, seeded workload for crux_get_orders, run by hand (test/bench/workload.sh
sets up the server and calls this).

    workload.py generate --seed S [--per-class N] --out requests.tsv
    workload.py run requests.tsv [--repeat R] [--baseline-sample N] [--csv calls.csv] [--md report.md]
    workload.py compare smaller.csv bigger.csv [--sizes 1M 10M]

generate and run connect as a superuser through libpq's PG* variables. The database holds the
sample data (test/generate.sh) and the plain-SQL baseline (test/baseline.sql).

generate reads the data to choose callers and values: retailers by their order counts
(big: the one with a fifth or more of all orders; small: 0.4% to 2% of all orders;
tiny: at most 100 orders and under 0.4%), SKUs by how many line items hold them (the
most popular ones, and rare ones in at most 5), orders (uuids and purchase order ids)
and the range of created dates. It writes a TSV: "#caller" lines (role, kind,
organization), then one request a line: class, caller, request json. A class is a
caller class (tenant_tiny, tenant_small, tenant_big: a login role mapped to that
organization through row-level security; admin_all, admin_one, admin_many,
admin_list: a login role in crux_admin, with no org_uuids, one, 2 to 4 of mixed
sizes, or 17 to 40: the small and tiny callers', other retailers', and sometimes the
big one) times a kind:

    first     the first page: {}, a sort, or a date range
    sort      every sort key (date, status, sku_id, uuid), both directions, some with
              a status filter, a date range, or both
    status    each conjunction (or, and, only) with 1 to 3 statuses, rare and popular
    date      ranges with partial days, some with a status filter, a sort, or both
    term      an order uuid, a purchase order id, a rare SKU, a popular SKU; the
              caller's own (tenants) or its organizations' (admin_one, admin_many,
              admin_list: of those of its organizations that are callers)
    deep      start between 1,000 and 10,000
    page1000  a page of 1,000 orders (limit - start = 1000)

Pages hold 25 to 100 orders, except page1000's. Most requests add a random other
part (a status filter, a sort, a date range, a later start), so that a class is not
one shape. Every choice comes from random.Random seeded with the seed and the class,
and the values from queries in a fixed order: the same seed on the same data gives
the same requests.

run creates the callers' login roles (each run sets new random passwords; callers
connect over TCP to --caller-host, default localhost), and then goes through the
requests, each request on its caller's own connection. The first pass checks
that crux_get_orders and crux_baseline.get_orders return equal jsonb (the baseline's
call is its timing; a mismatch is printed and counted). The second makes one untimed
warm-up call of crux_get_orders per request. Then come R rounds of timed calls
(default 10), each calling every request once, in an order shuffled anew each
round (seeded): a slow or a fast period of the machine then falls on every class
alike, and no request is timed right after its own previous call. Every check comes
before the first timed call, so that no timed call follows a baseline's call, which
at 10M orders reads gigabytes and leaves the caches and the backend's memory unlike
the steady state being measured. Times are client-side: execute and fetch of the
answer as text. The client keeps up to --client-retained-memory MB (default 32, at
most 64) of freed memory for its next answers, as a backend does with
crux_orders.retained_memory (glibc's M_TRIM_THRESHOLD, and M_MMAP_THRESHOLD at half
of it); with 0 it leaves its allocator as it started, which on glibc's defaults gives
freed memory back to the kernel and faults it in again for later answers of megabytes. With --baseline-sample N only the first N requests of each class get
the baseline (check and timing). It prints a markdown report (per class: requests,
crux_get_orders and baseline p50/p95/p99 in ms, the ratio of the medians,
mismatches; then the classes that miss a target, and the slowest requests) and
writes every timed call to a CSV.

compare reads the CSVs of two runs (1M and 10M orders) and prints their per-class
table side by side (markdown): p50, p95, p99, the baseline's p50 and the ratio at
each size ("≥" where a baseline call was stopped), the growth of the median, and
the targets each class misses, the growth of its median (at most 1.5 times) among
them.
"""
import argparse
import collections
import csv
import datetime
import hashlib
import json
import math
import os
import secrets
import sys
import time
import uuid
import random

import psycopg2

STATUSES = ["unallocated", "allocated", "rejected", "has_tracking", "backordered",
            "delivered", "cancelled"]
POPULAR_STATUSES = ["unallocated", "allocated", "has_tracking", "delivered"]
RARE_STATUSES = ["backordered", "rejected", "cancelled"]
# other spellings the API accepts for some statuses
STATUS_SPELLINGS = {"has_tracking": ["HasTracking", "Has_Tracking"], "delivered": ["Delivered"],
                    "cancelled": ["Cancelled"], "unallocated": ["Unallocated"]}
SORT_KEYS = ["date", "status", "sku_id", "uuid"]
KINDS = ["first", "sort", "status", "date", "term", "deep", "page1000"]
CALLER_CLASSES = ["tenant_tiny", "tenant_small", "tenant_big", "admin_all", "admin_one",
                  "admin_many", "admin_list"]
LIST_SIZES = (17, 40)       # admin_list: more organizations than crux_orders merges (16)
TENANTS_PER_CLASS = {"tiny": 3, "small": 3, "big": 1}
ADMIN_ROLE = "crux_wl_admin"

# targets: every class p95 <= 10 ms and p50 <= 3 ms (page1000: p95 <= 50 ms), and at
# least 10 times faster than the baseline, unless the baseline's median is under
# 1 ms: then p95 <= 2 ms
P95_MS, P50_MS, PAGE1000_P95_MS = 10.0, 3.0, 50.0
MIN_RATIO, FAST_BASELINE_MS, FAST_BASELINE_P95_MS = 10.0, 1.0, 2.0
# and from 1M to 10M orders, no class's median grows more than 1.5 times
MAX_GROWTH = 1.5


# ---------------------------------------------------------------- generate

def discover(cur, seed):
    """What generate needs from the data: callers and the values of their requests."""
    d = {}
    cur.execute("SELECT count(*), min(created_date), max(created_date) FROM crux.orders")
    d["orders"], d["first_date"], d["last_date"] = cur.fetchone()
    if not d["orders"]:
        sys.exit("workload: no orders in the database")
    cur.execute("""SELECT r.uuid::text, r.name, count(o.uuid)
                     FROM crux.organizations r LEFT JOIN crux.orders o ON o.retailer_uuid = r.uuid
                    GROUP BY r.uuid, r.name ORDER BY 3 DESC, 1""")
    retailers = cur.fetchall()
    total = d["orders"]
    sizes = {
        "big": [r for r in retailers[:1] if r[2] >= 0.2 * total],
        "small": [r for r in retailers if 0.004 * total <= r[2] < 0.02 * total],
        "tiny": [r for r in retailers if 1 <= r[2] <= 100 and r[2] < 0.004 * total],
    }
    rng = random.Random(f"{seed}:callers")
    d["orgs"] = {}          # size -> [(uuid, name, orders)]
    for size, n in TENANTS_PER_CLASS.items():
        d["orgs"][size] = rng.sample(sizes[size], min(n, len(sizes[size])))
        if not d["orgs"][size]:
            print(f"workload: no {size} retailer in the data; its classes are left out",
                  file=sys.stderr)
    callers = {org for size in d["orgs"] for org, _, _ in d["orgs"][size]}
    # the other retailers that admin_list names, in an order of the seed
    d["others"] = sorted((r[0] for r in retailers[1:] if r[0] not in callers),
                         key=lambda org: (hashlib.md5(f"{seed}:{org}".encode()).hexdigest(), org))

    # line items per SKU, once
    cur.execute("""CREATE TEMP TABLE wl_sku AS
                   SELECT sku_id, count(*) AS n FROM crux.line_items
                    WHERE sku_id IS NOT NULL GROUP BY sku_id""")
    cur.execute("CREATE INDEX ON wl_sku (sku_id)")
    cur.execute("ANALYZE wl_sku")

    def skus(org):
        """(popular, rare) SKUs of org's orders (None: of all): the popular ones are
        held by most of these orders' line items (ties: most line items overall); the
        rare ones by fewest line items overall, at most 5 where there are such."""
        source = ("SELECT li.sku_id, count(*) AS own, g.n AS global FROM crux.orders o"
                  " JOIN crux.line_items li ON li.order_uuid = o.uuid"
                  " JOIN wl_sku g ON g.sku_id = li.sku_id"
                  " WHERE o.retailer_uuid = %(org)s GROUP BY li.sku_id, g.n") if org else \
                 "SELECT sku_id, n AS own, n AS global FROM wl_sku"
        cur.execute(f"""WITH s AS ({source})
            (SELECT 'popular', sku_id, own, global FROM s ORDER BY own DESC, global DESC, sku_id LIMIT 3)
            UNION ALL
            (SELECT 'rare', sku_id, own, global FROM s
              ORDER BY least(global, 6), md5(sku_id || %(seed)s), sku_id LIMIT 8)""",
                    {"seed": str(seed), "org": org})
        rows = cur.fetchall()
        return ([(s, own, glob) for k, s, own, glob in rows if k == "popular"],
                [(s, own, glob) for k, s, own, glob in rows if k == "rare"])

    def sample_orders(org):
        cur.execute("""SELECT uuid::text, purchase_order_id FROM crux.orders
                        WHERE retailer_uuid = %s ORDER BY md5(uuid::text || %s), uuid LIMIT 12""",
                    (org, str(seed)))
        return cur.fetchall()

    d["values"] = {}        # org uuid or None (every organization) -> term values
    for size in TENANTS_PER_CLASS:
        for org, name, n in d["orgs"][size]:
            popular, rare = skus(org)
            d["values"][org] = {"orders": sample_orders(org), "popular": popular, "rare": rare}
    popular, rare = skus(None)
    picked = []
    for _ in range(12):     # orders after random uuids: uniform, as the uuids are hashes
        cur.execute("""SELECT uuid::text, purchase_order_id FROM crux.orders
                        WHERE uuid >= %s ORDER BY uuid LIMIT 1""",
                    (str(uuid.UUID(int=rng.getrandbits(128))),))
        picked += cur.fetchall()
    d["values"][None] = {"orders": picked, "popular": popular, "rare": rare}
    return d


def utc_text(rng, t):
    """An instant as the API's ISO 8601 text: mostly whole seconds in UTC, sometimes
    with a fraction or in another zone (the same instant)."""
    r = rng.random()
    if r < 0.15:
        offset = rng.choice([-5, -3, 2, 9])
        local = t + datetime.timedelta(hours=offset)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{'+' if offset >= 0 else '-'}{abs(offset):02d}:00"
    if r < 0.3:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{rng.randint(0, 999):03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Builder:
    """Builds the requests of one class from its random generator."""

    def __init__(self, d, caller_class, kind, rng):
        self.d, self.caller_class, self.kind, self.rng = d, caller_class, kind, rng
        self.first = d["first_date"].astimezone(datetime.timezone.utc)
        self.last = d["last_date"].astimezone(datetime.timezone.utc)
        self.offset = rng.randrange(12)     # where the cycles of sorts, conjunctions, terms begin

    def instant(self):
        span = (self.last - self.first).total_seconds()
        return (self.first + datetime.timedelta(seconds=int(self.rng.random() * span))).replace(microsecond=0)

    def dates(self, req, wide=False):
        """A date range with partial days: from an hour (rarely) to a year long; now
        and then only one end of it."""
        rng = self.rng
        days = math.exp(rng.uniform(math.log(30 if wide else 1 / 24), math.log(365)))
        start = self.instant()
        end = start + datetime.timedelta(seconds=int(days * 86400))
        which = rng.random()
        if which >= 0.12:
            req["start_date"] = utc_text(rng, start)
        if which < 0.12 or which >= 0.24:
            req["end_date"] = utc_text(rng, end)

    def statuses(self, req, conjunction=None, count=None):
        rng = self.rng
        conjunction = conjunction or rng.choice(["or", "and", "only"])
        count = 1 if conjunction == "only" else (count or rng.randint(1, 3))
        chosen = []
        while len(chosen) < count:      # about half popular, half rare
            s = rng.choice(POPULAR_STATUSES if rng.random() < 0.5 else RARE_STATUSES)
            if s not in chosen:
                chosen.append(s)
        spelled = [rng.choice(STATUS_SPELLINGS[s]) if s in STATUS_SPELLINGS and rng.random() < 0.2
                   else s for s in chosen]
        key = "line_item_statuses" if rng.random() < 0.15 else "line_item_status"
        req[key] = spelled[0] if count == 1 and rng.random() < 0.25 else spelled
        if conjunction != "or" or rng.random() < 0.5:      # "or" is the default
            if conjunction == "only" and rng.random() < 0.15:
                conjunction = "all"
            conj_key = "line_item_status_conjunction" if rng.random() < 0.1 else "status_conjunction"
            req[conj_key] = conjunction

    def sort(self, req, key=None, direction=None):
        rng = self.rng
        key = key or rng.choice(SORT_KEYS)
        direction = direction or rng.choice(["asc", "desc"])
        if key == "date" and rng.random() < 0.2:
            key = "created_date"
        if direction == "desc" and rng.random() < 0.2:
            direction = rng.choice(["des", "DESC"])
        elif direction == "asc" and rng.random() < 0.2:
            direction = "ASC"
        req["sort"] = {"key": key, "dir": direction}

    def page(self, req, start=0, size=None):
        rng = self.rng
        size = size or rng.choice([25, 25, 50, 100, rng.randint(26, 99)])
        if start:
            req["start"] = start
        if start or size != 25 or rng.random() < 0.5:       # 25 is the default page
            req["limit"] = start + size

    def term_values(self, orgs):
        """Term values for a request over orgs (None: every organization): those of
        one of them that is a caller, or of every organization where none is."""
        callers = [o for o in orgs or [] if o in self.d["values"]]
        return self.d["values"][self.rng.choice(callers) if callers else None]

    def term(self, req, orgs, which):
        rng = self.rng
        values = self.term_values(orgs)
        if which in ("uuid", "po"):
            order_uuid, po = rng.choice(values["orders"])
            if which == "po":
                req["term"] = po
            else:       # in any case (the baseline knows no uuid without hyphens)
                req["term"] = order_uuid.upper() if rng.random() < 0.3 else order_uuid
        else:
            req["term"] = rng.choice(values["popular" if which == "popular_sku" else "rare"])[0]

    def build(self, i, orgs):
        """The i-th request of this class (0-based) over orgs (tenants: their own)."""
        rng, kind, req = self.rng, self.kind, {}
        if self.caller_class in ("admin_one", "admin_many", "admin_list"):
            req["org_uuids"] = list(orgs)
        extra = rng.random()
        if kind == "first":
            variant = rng.choice(["plain", "sort", "dates"])
            if variant == "sort":
                self.sort(req)
            elif variant == "dates":
                self.dates(req)
            self.page(req)
        elif kind == "sort":
            combo = [(k, d) for k in SORT_KEYS for d in ("asc", "desc")][(i + self.offset) % 8]
            self.sort(req, *combo)
            if extra < 0.25:
                self.statuses(req)
            elif extra < 0.4:
                self.dates(req)
            elif extra < 0.55:
                self.dates(req)
                self.statuses(req)
            self.page(req, start=rng.choice([0, 0, 0, 25, 100, 500]))
        elif kind == "status":
            conjunction = ["or", "and", "only"][(i + self.offset) % 3]
            self.statuses(req, conjunction)
            if extra < 0.3:
                self.sort(req)
            elif extra < 0.5:
                self.dates(req)
            self.page(req, start=rng.choice([0, 0, 0, 25, 100]))
        elif kind == "date":
            self.dates(req)
            if extra < 0.25:
                self.statuses(req)
            elif extra < 0.5:
                self.sort(req)
            elif extra < 0.65:
                self.sort(req)
                self.statuses(req)
            self.page(req, start=rng.choice([0, 0, 0, 50]))
        elif kind == "term":
            which = ["uuid", "po", "rare_sku", "popular_sku"][(i + self.offset) % 4]
            self.term(req, orgs if self.caller_class != "admin_all" else None, which)
            if extra < 0.15:
                self.statuses(req)
            elif extra < 0.3:
                self.sort(req)
            elif extra < 0.4:
                self.dates(req, wide=True)
            self.page(req)
        elif kind == "deep":
            self.one_extra(req, extra)
            self.page(req, start=rng.randint(1000, 10000))
        elif kind == "page1000":
            self.one_extra(req, extra)
            self.page(req, start=rng.choice([0, 0, 0, rng.randint(1, 5000)]), size=1000)
        return req

    def one_extra(self, req, extra):
        """A sort, a status filter or a date range, or none, by the draw extra."""
        if extra < 0.3:
            self.sort(req)
        elif extra < 0.55:
            self.statuses(req)
        elif extra < 0.75:
            self.dates(req, wide=True)


def generate(args):
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    d = discover(cur, args.seed)
    callers = []            # (role, kind, org uuid or "-", description)
    tenants = {}            # size -> [(role, org uuid)]
    for size in TENANTS_PER_CLASS:
        for j, (org, name, n) in enumerate(d["orgs"][size], 1):
            role = f"crux_wl_{size}_{j}" if TENANTS_PER_CLASS[size] > 1 else f"crux_wl_{size}"
            tenants.setdefault(size, []).append((role, org))
            callers.append((role, "tenant", org, f"{name}, {n} orders"))
    callers.append((ADMIN_ROLE, "admin", "-", "member of crux_admin"))
    pool = [(size, org) for size in TENANTS_PER_CLASS for org, _, _ in d["orgs"][size]]

    out = open(args.out, "w") if args.out != "-" else sys.stdout
    out.write(f"# crux_get_orders workload: seed {args.seed}, {args.per_class} requests per class, "
              f"generated from {d['orders']} orders ({d['first_date']:%Y-%m-%d} .. {d['last_date']:%Y-%m-%d})\n")
    for role, kind, org, description in callers:
        out.write(f"#caller\t{role}\t{kind}\t{org}\t{description}\n")
    for org, values in d["values"].items():
        out.write(f"# values of {org or 'every organization'}: popular SKUs "
                  + ", ".join(f"{s} ({own}/{glob} line items)" for s, own, glob in values["popular"])
                  + "; rare SKUs " + ", ".join(f"{s} ({own}/{glob})" for s, own, glob in values["rare"][:4])
                  + "\n")
    out.write("# class\tcaller\trequest\n")
    for caller_class in CALLER_CLASSES:
        size = caller_class.split("_")[1]
        if caller_class.startswith("tenant") and not tenants.get(size):
            continue
        for kind in KINDS:
            rng = random.Random(f"{args.seed}:{caller_class}/{kind}")
            builder = Builder(d, caller_class, kind, rng)
            for i in range(args.per_class):
                if caller_class.startswith("tenant"):
                    role, org = tenants[size][i % len(tenants[size])]
                    orgs = [org]
                elif caller_class == "admin_all":
                    role, orgs = ADMIN_ROLE, []
                elif caller_class == "admin_one":   # a size, then one of its organizations
                    size = rng.choice(sorted({s for s, _ in pool}))
                    role, orgs = ADMIN_ROLE, [rng.choice([o for s, o in pool if s == size])]
                elif caller_class == "admin_list":  # the small and tiny callers', others', the big
                    role = ADMIN_ROLE
                    orgs = [o for s, o in pool if s != "big" or rng.random() < 0.3]
                    k = rng.randint(*LIST_SIZES)
                    orgs += rng.sample(d["others"], min(max(k - len(orgs), 0), len(d["others"])))
                    rng.shuffle(orgs)
                else:               # 2 to 4 organizations, of at least two sizes where there are
                    role = ADMIN_ROLE
                    k = min(rng.randint(2, 4), len(pool))
                    while True:
                        picked = rng.sample(pool, k)
                        if len({s for s, _ in picked}) > 1 or len({s for s, _ in pool}) == 1:
                            break
                    orgs = [org for _, org in picked]
                req = builder.build(i, orgs)
                out.write(f"{caller_class}/{kind}\t{role}\t{json.dumps(req)}\n")
    if out is not sys.stdout:
        out.close()


# ---------------------------------------------------------------- run

def percentile(values, p):
    """Nearest rank: the smallest value with at least p of all at or below it."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p * len(v)) - 1)]


def read_requests(path):
    callers, requests = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#caller\t"):
                _, role, kind, org, _ = line.split("\t", 4)
                callers[role] = (kind, None if org == "-" else org)
            elif line and not line.startswith("#"):
                cls, role, req = line.split("\t", 2)
                requests.append((cls, role, req))
    return callers, requests


def create_callers(cur, callers):
    """Login roles for the callers, each with a new random password."""
    passwords = {}
    for role, (kind, org) in callers.items():
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if not cur.fetchone():
            cur.execute(f'CREATE ROLE "{role}" LOGIN')
        passwords[role] = secrets.token_urlsafe(24)
        cur.execute(f'ALTER ROLE "{role}" LOGIN PASSWORD %s', (passwords[role],))
        cur.execute(f'GRANT crux_reader TO "{role}"')
        cur.execute(f'GRANT USAGE ON SCHEMA crux_baseline TO "{role}"')
        cur.execute("DELETE FROM crux.role_organizations WHERE role_name = %s", (role,))
        if kind == "admin":
            cur.execute(f'GRANT crux_admin TO "{role}"')
        else:
            cur.execute(f'REVOKE crux_admin FROM "{role}"')
            cur.execute("INSERT INTO crux.role_organizations (role_name, organization_uuid) VALUES (%s, %s)",
                        (role, org))
    return passwords


def timed(cur, sql, req):
    start = time.perf_counter()
    cur.execute(sql, (req,))
    answer = cur.fetchone()[0]
    return (time.perf_counter() - start) * 1000, answer


def timed_baseline(cur, req, timeout_s):
    """The baseline's time and answer; past timeout_s seconds (if given), the timeout
    as its time (a lower bound) and no answer."""
    if not timeout_s:
        return timed(cur, BASELINE_SQL, req)
    cur.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(timeout_s * 1000)}ms",))
    try:
        return timed(cur, BASELINE_SQL, req)
    except psycopg2.errors.QueryCanceled:
        return timeout_s * 1000.0, None
    finally:
        cur.execute("SET statement_timeout = 0")


CRUX_SQL = "SELECT crux_get_orders(%s::jsonb)::text"
BASELINE_SQL = "SELECT crux_baseline.get_orders(%s::jsonb)::text"


MAX_CLIENT_RETAINED_MB = 64     # glibc's largest mmap threshold is 32 MB


def client_retained_memory(value):
    """--client-retained-memory: megabytes, 0 to MAX_CLIENT_RETAINED_MB."""
    megabytes = int(value)
    if not 0 <= megabytes <= MAX_CLIENT_RETAINED_MB:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_CLIENT_RETAINED_MB}")
    return megabytes


def keep_client_memory(megabytes):
    """Keep freed memory in this process (glibc's mallopt; 0: the allocator as it started)."""
    if megabytes == 0:
        return "allocator as started"
    import ctypes
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    size = megabytes * 1024 * 1024
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        sys.exit("no glibc mallopt here: run with --client-retained-memory 0")
    if not (mallopt(M_MMAP_THRESHOLD, size // 2) and mallopt(M_TRIM_THRESHOLD, size)):
        sys.exit("mallopt refused the thresholds: run with --client-retained-memory 0")
    return f"{megabytes} MB of freed memory retained"


def missed_targets(cls, c50, c95, b50):
    """The targets a class misses, given its p50 and p95 and the baseline's p50 (ms)."""
    missed = []
    if cls.endswith("/page1000"):
        if c95 is not None and c95 > PAGE1000_P95_MS:
            missed.append(f"p95 {c95:.2f} ms > {PAGE1000_P95_MS:g} ms")
    else:
        if c95 is not None and c95 > P95_MS:
            missed.append(f"p95 {c95:.2f} ms > {P95_MS:g} ms")
        if c50 is not None and c50 > P50_MS:
            missed.append(f"p50 {c50:.2f} ms > {P50_MS:g} ms")
    ratio = b50 / c50 if b50 is not None and c50 else None
    if ratio is not None:
        if b50 < FAST_BASELINE_MS:
            if c95 > FAST_BASELINE_P95_MS:
                missed.append(f"baseline median {b50:.2f} ms < {FAST_BASELINE_MS:g} ms and "
                              f"p95 {c95:.2f} ms > {FAST_BASELINE_P95_MS:g} ms")
        elif ratio < MIN_RATIO:
            missed.append(f"ratio {ratio:.1f}x < {MIN_RATIO:g}x")
    return missed


def check_against_baseline(c, no, cls, role, req, timeout_s, writer, base_ms, timeouts, mismatches):
    """Checks that crux_get_orders and the baseline answer req alike, timing the
    baseline's call; a mismatch is printed and counted."""
    _, crux = timed(c, CRUX_SQL, req)
    ms, base = timed_baseline(c, req, timeout_s)
    base_ms[cls].append(ms)
    if base is None:
        timeouts[cls] += 1
    if writer:
        writer.writerow([no, cls, role, "baseline", 1, f"{ms:.3f}",
                         json.loads(base)["total_results"] if base else ""])
    if base is not None and crux != base:   # equal text is equal jsonb; else ask the server
        c.execute("SELECT crux_get_orders(%s::jsonb) = crux_baseline.get_orders(%s::jsonb)", (req, req))
        if not c.fetchone()[0]:
            mismatches[cls].append((role, req))
            print(f"MISMATCH: crux_get_orders and the baseline differ, as {role}: {req}", file=sys.stderr)


def time_in_rounds(requests, totals, conns, repeat, writer, errors):
    """The timed calls: repeat rounds, each calling every request once (those in
    totals), in an order shuffled anew each round (seeded), so that a slow or fast
    period of the machine falls on every class alike, not on the classes that
    happen to run then. Returns each request's times by its number; a request
    whose call raises an error goes to errors and is not timed further."""
    rng = random.Random(repeat)
    order = sorted(totals)
    calls = collections.defaultdict(list)
    for k in range(1, repeat + 1):
        print(f"workload: time, round {k} of {repeat}", file=sys.stderr)
        rng.shuffle(order)
        for no in list(order):
            cls, role, req = requests[no - 1]
            try:
                ms, _ = timed(conns[role], CRUX_SQL, req)
            except psycopg2.Error as e:
                order.remove(no)
                calls.pop(no, None)
                errors[cls].append((role, req, str(e).strip()))
                print(f"ERROR as {role}: {req}: {str(e).strip()}", file=sys.stderr)
                continue
            calls[no].append(ms)
            if writer:
                writer.writerow([no, cls, role, "crux", k, f"{ms:.3f}", totals[no]])
    return calls


def run(args):
    wall = time.perf_counter()
    client_memory = keep_client_memory(args.client_retained_memory)
    callers, requests = read_requests(args.requests)
    admin = psycopg2.connect("")
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("SELECT current_setting('server_version'), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'crux_orders'), "
                "(SELECT count(*) FROM crux.orders)")
    server_version, ext_version, n_orders = cur.fetchone()
    passwords = create_callers(cur, callers)
    conns = {}
    for role in callers:
        c = psycopg2.connect("", host=args.caller_host, user=role, password=passwords[role],
                             application_name="crux_workload")
        c.autocommit = True
        conns[role] = c.cursor()

    crux_ms = collections.defaultdict(list)
    base_ms = collections.defaultdict(list)
    mismatches = collections.defaultdict(list)
    timeouts = collections.Counter()
    errors = collections.defaultdict(list)
    counts = collections.Counter()
    sampled = collections.Counter()
    slowest = []            # (crux median ms, class, caller, request, total_results)
    out = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.writer(out) if out else None
    if writer:
        writer.writerow(["request_no", "class", "caller", "side", "call", "ms", "total_results"])
    failed = set()          # requests whose check or warm-up raised an error: not timed
    totals = {}             # request number: its total_results, from its warm-up call
    for phase in ("check", "warm-up"):
        last_class = None
        for no, (cls, role, req) in enumerate(requests, 1):
            if cls != last_class:
                print(f"workload: {phase} {cls}", file=sys.stderr)
                last_class = cls
            if no in failed:
                continue
            c = conns[role]
            try:
                if phase == "check":
                    counts[cls] += 1
                    if args.baseline_sample is None or sampled[cls] < args.baseline_sample:
                        sampled[cls] += 1
                        check_against_baseline(c, no, cls, role, req, args.baseline_timeout, writer,
                                               base_ms, timeouts, mismatches)
                else:
                    _, crux = timed(c, CRUX_SQL, req)
                    totals[no] = json.loads(crux)["total_results"]
            except psycopg2.Error as e:
                failed.add(no)
                errors[cls].append((role, req, str(e).strip()))
                print(f"ERROR as {role}: {req}: {str(e).strip()}", file=sys.stderr)
    calls = time_in_rounds(requests, totals, conns, args.repeat, writer, errors)
    for no, ms in calls.items():
        cls, role, req = requests[no - 1]
        crux_ms[cls] += ms
        slowest.append((percentile(ms, 0.5), cls, role, req, totals[no]))
    if out:
        out.close()
    wall = time.perf_counter() - wall

    lines = [f"# crux_get_orders workload: {n_orders} orders", "",
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}, PostgreSQL {server_version}, crux_orders {ext_version}; "
             f"{len(requests)} requests from {os.path.basename(args.requests)}, "
             f"{args.repeat} timed calls each after one warm-up, in {args.repeat} rounds over every request in a "
             f"shuffled order (client: {client_memory}); the baseline once per request"
             + (f", on the first {args.baseline_sample} of each class only" if args.baseline_sample is not None else "")
             + ", every check before the first timed call"
             + (f"; a baseline call stopped after {args.baseline_timeout:g} s counts as "
                f"{args.baseline_timeout:g} s (a lower bound, and no identity check)" if args.baseline_timeout else "")
             + f"; run took {wall:.0f} s.", "",
             "| class | n | crux p50 | crux p95 | crux p99 | baseline p50 | baseline p95 | baseline p99 | ratio | mismatches | baseline stopped |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    violations = []
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    for cls in dict.fromkeys(r[0] for r in requests):
        cm = crux_ms[cls]
        c50, c95, c99 = (percentile(cm, p) for p in (0.5, 0.95, 0.99))
        b50, b95, b99 = (percentile(base_ms[cls], p) for p in (0.5, 0.95, 0.99))
        ratio = b50 / c50 if b50 is not None and c50 else None
        lines.append(f"| {cls} | {counts[cls]} | {fmt(c50)} | {fmt(c95)} | {fmt(c99)} | {fmt(b50)} | {fmt(b95)} "
                     f"| {fmt(b99)} | {'-' if ratio is None else f'{ratio:.1f}x'} | {len(mismatches[cls])} | {timeouts[cls]} |")
        missed = missed_targets(cls, c50, c95, b50)
        if mismatches[cls]:
            missed.append(f"{len(mismatches[cls])} mismatches with the baseline")
        if errors[cls]:
            missed.append(f"{len(errors[cls])} errors")
        if missed:
            violations.append(f"- {cls}: " + "; ".join(missed))
    lines += ["", f"Targets: p95 <= {P95_MS:g} ms and p50 <= {P50_MS:g} ms (page1000: p95 <= {PAGE1000_P95_MS:g} ms); "
              f"ratio (baseline median / crux median) >= {MIN_RATIO:g}, or, where the baseline's median is under "
              f"{FAST_BASELINE_MS:g} ms, p95 <= {FAST_BASELINE_P95_MS:g} ms.", ""]
    lines += (["Classes missing a target:", ""] + violations) if violations else ["Every class meets the targets."]
    slowest.sort(key=lambda r: -r[0])
    lines += ["", "Slowest requests (median of their timed calls, total_results):", ""]
    lines += [f"- {ms:.2f} ms, {cls} as {role}, {total} results: `{req}`" for ms, cls, role, req, total in slowest[:10]]
    all_mismatches = [(cls, role, req) for cls in mismatches for role, req in mismatches[cls]]
    if all_mismatches:
        lines += ["", "Mismatches (crux_get_orders differs from the baseline):", ""]
        lines += [f"- {cls} as {role}: `{req}`" for cls, role, req in all_mismatches]
    all_errors = [(cls, role, req, e) for cls in errors for role, req, e in errors[cls]]
    if all_errors:
        lines += ["", "Errors:", ""] + [f"- {cls} as {role}: `{req}`: {e}" for cls, role, req, e in all_errors]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.md:
        with open(args.md, "w") as f:
            f.write(report)
    return 1 if all_mismatches or all_errors else 0


# ---------------------------------------------------------------- compare

def read_calls(path):
    """Per class, from a run's CSV: crux_get_orders' times, the baseline's, and
    whether a baseline call was stopped (its total_results is empty)."""
    crux, base, stopped = collections.defaultdict(list), collections.defaultdict(list), set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            cls, ms = row["class"], float(row["ms"])
            if row["side"] == "crux":
                crux[cls].append(ms)
            else:
                base[cls].append(ms)
                if row["total_results"] == "":
                    stopped.add(cls)
    return crux, base, stopped


def compare(args):
    """The per-class table of two runs (the smaller size first) side by side, with
    the growth of the median from one to the other and the targets each misses."""
    small, big = read_calls(args.smaller), read_calls(args.bigger)
    a, b = args.sizes
    print(f"| class | {a} p50 | {a} p95 | {a} p99 | {a} baseline p50 | {a} ratio "
          f"| {b} p50 | {b} p95 | {b} p99 | {b} baseline p50 | {b} ratio | p50 {b} / {a} | targets missed |")
    print("| --- |" + " ---: |" * 11 + " --- |")
    order = {f"{c}/{k}": i for i, (c, k) in enumerate((c, k) for c in CALLER_CLASSES for k in KINDS)}
    for cls in sorted(dict.fromkeys(list(small[0]) + list(big[0])), key=lambda c: (order.get(c, len(order)), c)):
        cells, missed, medians = [], [], []
        for size, (crux, base, stopped) in ((a, small), (b, big)):
            c50, c95, c99 = (percentile(crux[cls], p) for p in (0.5, 0.95, 0.99))
            b50 = percentile(base[cls], 0.5)
            at_least = "≥ " if cls in stopped else ""
            ratio = f"{at_least}{b50 / c50:.1f}x" if b50 is not None and c50 else "-"
            cells += [f"{v:.2f}" if v is not None else "-" for v in (c50, c95, c99)]
            cells += [f"{at_least}{b50:.2f}" if b50 is not None else "-", ratio]
            missed += [f"{size}: {m}" for m in missed_targets(cls, c50, c95, b50)]
            medians.append(c50)
        growth = medians[1] / medians[0] if None not in medians and medians[0] else None
        if growth is not None and growth > MAX_GROWTH:
            missed.append(f"p50 grows {growth:.2f}x > {MAX_GROWTH:g}x")
        print(f"| {cls} | " + " | ".join(cells) + f" | {'-' if growth is None else f'{growth:.2f}'} | "
              + ("; ".join(missed) or "none") + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write a request list from the loaded data")
    g.add_argument("--seed", default="1")
    g.add_argument("--per-class", type=int, default=8, help="requests per class (default 8)")
    g.add_argument("--out", default="-", help="the TSV (default: standard output)")
    r = sub.add_parser("run", help="check and time a request list")
    r.add_argument("requests", help="the TSV that generate wrote")
    r.add_argument("--repeat", type=int, default=10, help="timed calls per request (default 10)")
    r.add_argument("--baseline-sample", type=int, default=None,
                   help="the baseline (check and timing) on the first N requests of each class only")
    r.add_argument("--baseline-timeout", type=float, default=None,
                   help="stop a baseline call after this many seconds; its time counts as that (a lower bound)")
    r.add_argument("--client-retained-memory", type=client_retained_memory, default=32, metavar="MB",
                   help="freed memory the client keeps for its next answers (default 32, at most 64; "
                        "0: the allocator as it started)")
    r.add_argument("--caller-host", default="localhost", help="where callers connect (TCP, password)")
    r.add_argument("--csv", help="every timed call")
    r.add_argument("--md", help="the report, also printed")
    c = sub.add_parser("compare", help="the per-class table of two runs side by side")
    c.add_argument("smaller", help="the CSV of the run on fewer orders")
    c.add_argument("bigger", help="the CSV of the run on more orders")
    c.add_argument("--sizes", nargs=2, default=["1M", "10M"], metavar=("SMALLER", "BIGGER"),
                   help="the columns' names (default 1M 10M)")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args)
    elif args.command == "compare":
        compare(args)
    else:
        sys.exit(run(args))


if __name__ == "__main__":
    main()
