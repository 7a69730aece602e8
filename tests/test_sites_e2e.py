#!/usr/bin/env python3
"""Call sites from real stacks, end to end through the real symbolizer: runs
tests/data/fixture_sites (which records its own stacks and module map the way
the tracer does), crafts a trace from them (tests/data/make_traces.py's
encoder) and checks `heapgrow report --format json`: each case's site is the
user function and line marked SITE(case) in the fixture's source, past
xmalloc, strdup, a user wrapper named in the trace header, and
operator new + std::vector. Prints TAP.

usage: test_sites_e2e.py FIXTURE FIXTURE_SOURCE HEAPGROW DATA_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

fixture, source, heapgrow, data = sys.argv[1:5]
sys.path.insert(0, data)
import make_traces as mt  # noqa: E402

results = []


def check(name, ok, detail=""):
    results.append((name, ok, detail))


out = subprocess.run([fixture], capture_output=True, text=True, check=True).stdout
modules, stacks = [], {}
for line in out.splitlines():
    f = line.split()
    if f[0] == "MODULE":
        modules.append((f[1], int(f[2], 16), int(f[3], 16), int(f[4], 16)))
    elif f[0] == "STACK":
        stacks[f[1]] = [int(x, 16) for x in f[2:]]

sites_line = {}
with open(source) as f:
    for i, line in enumerate(f, 1):
        m = re.search(r"SITE\((\w+)\)", line)
        if m:
            sites_line[m.group(1)] = i

EXPECT = {  # case -> (function base name, live bytes given to its stack)
    "c_wrapper": ("user_c", 100),
    "strdup": ("user_dup", 10),
    "user_wrapper": ("user_pool", 64),
    "static": ("static_helper", 48),
    "cxx_vector": ("Registry::add", 8),
}

parts = [mt.MAGIC + mt.u(1) + mt.header("pool_*")]
for i, (path, bias, start, end) in enumerate(modules, 1):
    parts.append(mt.module(i, 0, bias, start, end, path, b""))
counters = []
for sid, case in enumerate(sorted(EXPECT), 1):
    parts.append(mt.stack(sid, stacks[case]))
    live = EXPECT[case][1]
    counters.append((sid, live, 1, 1, live))
parts.append(mt.snapshot(1000, 0, [5, 230, 0, 0, 230, 5, 230, 0], counters))
parts.append(mt.end(2000, 0, 0))

with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "sites.hgt")
    with open(trace, "wb") as f:
        f.write(mt.gz(parts))
    p = subprocess.run([heapgrow, "report", "--format", "json", trace], capture_output=True,
                       text=True, timeout=120)
check("report exits 0", p.returncode == 0, p.stderr)
try:
    report = json.loads(p.stdout)
    by_live = {s["end_live_bytes"]: s for s in report["sites"]}
except ValueError as e:
    report, by_live = None, {}
    check("report is JSON", False, repr(e))

check("one site per case", len(by_live) == len(EXPECT), str(sorted(by_live)))
for case, (fn, live) in sorted(EXPECT.items()):
    s = by_live.get(live)
    if s is None:
        check("%s: site present" % case, False, "")
        continue
    base = (s["function"] or "").split("(")[0]
    check("%s: function %s" % (case, fn), base == fn, "got %r" % s["function"])
    check("%s: file" % case, (s["file"] or "").endswith("fixture_sites.cc"), str(s["file"]))
    check("%s: line %d" % (case, sites_line[case]), s["line"] == sites_line[case],
          "got %r" % s["line"])
    check("%s: module" % case, s["module"] == os.path.realpath(fixture)
          or s["module"] == fixture, str(s["module"]))

print("1..%d" % len(results))
for i, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if not ok:
        for line in str(detail).splitlines()[:10]:
            print("# " + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
