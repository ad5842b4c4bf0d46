#!/usr/bin/env python3
"""Summarizes auto_explain output (on stdin) of test/generate.sh loading sessions:
for each statement of test/generate.sql, the mean over the sessions of its time and
of each trigger it fired, and the statements the extension's triggers ran inside
it. Used by test/bench/load-profile.sh."""
import re
import sys
from collections import OrderedDict, defaultdict

TOP = OrderedDict([
    ("INSERT INTO crux.orders", "INSERT orders"),
    ("INSERT INTO crux.line_items", "INSERT line_items"),
    ("INSERT INTO crux.tracking_numbers", "INSERT tracking_numbers"),
])
# statements the extension's triggers run, attributed to the loading
# statement they ran under by psql's "psql:FILE:LINE:" prefix
NESTED = OrderedDict([
    ("INSERT INTO crux.order_summaries", "  summaries: rows of the new orders"),
    ("SELECT array_agg(g.retailer_uuid)", "  counts: the new orders, grouped"),
    ("WITH delta AS", "  summaries: grouped UPDATE, and the moves between masks"),
    ("SELECT crux.add_order_counts(r, d, m, n)", "  counts: add and fold the grouped deltas"),
])

messages = re.split(r"^(psql:[^ ]*:[0-9]+): LOG:  duration: ", sys.stdin.read(), flags=re.M)[1:]
times = defaultdict(list)
order = []
top_of_line = {}
nested_of_line = defaultdict(list)
for where, m in zip(messages[0::2], messages[1::2]):
    duration = float(m.split(" ms", 1)[0])
    text = re.search(r"Query Text:\s*(.*?)\n", m)
    text = text.group(1).strip() if text else ""
    if not text:  # the text starts on the next line (nested dynamic SQL)
        after = m.split("Query Text:", 1)[1] if "Query Text:" in m else ""
        text = " ".join(after.split())[:60]
    label = None
    for prefix, name in TOP.items():
        if text.startswith(prefix):
            label = name
            top_of_line[where] = name
    if label is None:
        for prefix, name in NESTED.items():
            if text.startswith(prefix):
                nested_of_line[where].append((name, duration / 1000))
        continue
    times[label].append(duration / 1000)
    for trig, t in re.findall(r"Trigger (.*?): time=([0-9.]+)", m):
        key = (label, "  trigger " + trig)
        times[key].append(float(t) / 1000)
        if key not in order:
            order.append(key)

# per loading statement: the total of each nested statement, over the sessions
# (which share the statement's line), as a mean per session
nested_times = defaultdict(lambda: defaultdict(list))
for where, items in nested_of_line.items():
    top = top_of_line.get(where, "?")
    sessions = max(len(times.get(top, [])), 1)
    per = defaultdict(float)
    for name, t in items:
        per[name] += t
    for name, t in per.items():
        nested_times[top][name] = [t / sessions] * sessions


def show(name, v, indent=""):
    print("%-72s %8.1f %8d" % (indent + name, sum(v) / len(v), len(v)))


print("%-72s %8s %8s" % ("statement (mean of the loading sessions)", "seconds", "sessions"))
for top in TOP.values():
    if top not in times:
        continue
    show(top, times[top])
    for parent, trig in order:
        if parent == top:
            show(trig, times[(parent, trig)])
    for nested in NESTED.values():
        if nested in nested_times[top]:
            show(nested.strip() + " (inside the triggers)", nested_times[top][nested], "    ")
