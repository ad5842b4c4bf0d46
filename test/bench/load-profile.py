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
NESTED = OrderedDict([
    ("SELECT crux.add_order_counts(r, d, m, n)", "  counts of the new orders (orders_count)"),
    ("WITH delta AS", "  summaries: grouped UPDATE of the orders"),
    ("SELECT crux.move_order_counts", "  counts: moves between status masks"),
])

messages = re.split(r"^.*LOG:  duration: ", sys.stdin.read(), flags=re.M)[1:]
times = defaultdict(list)
order = []
for m in messages:
    duration = float(m.split(" ms", 1)[0])
    text = re.search(r"Query Text:\s*(.*?)\n", m)
    text = text.group(1).strip() if text else ""
    if not text:  # the text starts on the next line (nested dynamic SQL)
        after = m.split("Query Text:", 1)[1] if "Query Text:" in m else ""
        text = " ".join(after.split())[:60]
    label = None
    for prefix, name in list(TOP.items()) + list(NESTED.items()):
        if text.startswith(prefix):
            label = name
    if label is None:
        continue
    times[label].append(duration / 1000)
    for trig, t in re.findall(r"Trigger (.*?): time=([0-9.]+)", m):
        key = (label, "  trigger " + trig)
        times[key].append(float(t) / 1000)
        if key not in order:
            order.append(key)



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
        if nested in times and ((top == "INSERT orders") == ("new orders" in nested)) \
                and top != "INSERT tracking_numbers":
            show(nested.strip() + " (inside the trigger above)", times[nested], "    ")
            for parent, trig in order:
                if parent == nested:
                    show(trig.strip(), times[(parent, trig)], "      ")
