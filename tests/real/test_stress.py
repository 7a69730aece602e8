#!/usr/bin/env python3
"""Stress under `heapgrow run` (issue 7): 64 threads freeing each other's
blocks, thread create/exit in a loop, fork in a loop, dlopen/dlclose in a
loop, a timer signal interrupting allocations. Every run has a bounded
timeout (no deadlock), exits 0, and every trace it leaves (children's too)
is valid with allocations - frees = live.

usage: test_stress.py HEAPGROW STRESS_EXE STRESS_LIB [THREADS_N]
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hgtap import ok, done, check_trace, heapgrow_run  # noqa: E402

HG, EXE, LIB = sys.argv[1:4]
NTHREADS = sys.argv[4] if len(sys.argv) > 4 else "20000"
TMP = tempfile.mkdtemp(prefix="hg-stress-")

CASES = [
    ("64 threads, cross-thread frees", ["xthreads", "64", "20000"], 64 * 20000),
    (NTHREADS + " threads created and exited", ["threads", NTHREADS], int(NTHREADS)),
    ("100 forks", ["fork", "100"], 100),
    ("2000 dlopen/dlclose", ["dlopen", LIB, "2000"], 2000),
    ("SIGALRM every 100us over malloc", ["signal", "1500"], 1000),
]

for i, (name, args, min_allocs) in enumerate(CASES):
    trace = os.path.join(TMP, "s%d.hgt" % i)
    try:
        p = heapgrow_run(HG, trace, [EXE] + args, timeout=180)
    except subprocess.TimeoutExpired:
        ok(False, name + ": finished within 180 s (no deadlock)")
        continue
    ok(p.returncode == 0 and ("done " + args[0]) in p.stdout,
       name + ": exit 0, program's checks passed", p.stdout + p.stderr)
    j = check_trace(name, HG, trace, exit_status=0, min_allocs=min_allocs)
    if args[0] == "fork" and j is not None:
        from hgtap import report_json  # noqa: E402
        # The whole family: every child's trace read and consistent.
        q = subprocess.run([HG, "report", "--format", "json", "--top", "1", trace],
                           capture_output=True, text=True, timeout=300)
        import json
        fam = json.loads(q.stdout)["processes"] if q.returncode == 0 else []
        ok(len(fam) == 100, name + ": 100 child traces", str(len(fam)))
        bad = [c["pid"] for c in fam
               if not c["ended_cleanly"]
               or c["totals"]["alloc_count"] - c["totals"]["free_count"]
               != c["totals"]["end_live_count"]]
        ok(not bad, name + ": every child trace clean, allocations - frees = live",
           repr(bad[:10]))
        del report_json

# The same under sampling, at a mean of 256 bytes between samples: most small
# blocks unsampled, most large ones sampled, pages shared by both, frees from
# other threads, from signal handlers and in fork children. The program's own
# checks must pass (its payloads are cookie-checked: a free sent to the wrong
# place shows), and every trace is a valid sampled one.
SAMPLED = [c for c in CASES if c[1][0] in ("xthreads", "fork", "signal")]
for i, (name, args, min_allocs) in enumerate(SAMPLED):
    name = "sampled: " + name
    trace = os.path.join(TMP, "sampled%d.hgt" % i)
    try:
        p = heapgrow_run(HG, trace, [EXE] + args, timeout=180, extra=["--sample", "256"])
    except subprocess.TimeoutExpired:
        ok(False, name + ": finished within 180 s (no deadlock)")
        continue
    ok(p.returncode == 0 and ("done " + args[0]) in p.stdout,
       name + ": exit 0, program's checks passed", p.stdout + p.stderr)
    j = check_trace(name, HG, trace, exit_status=0, min_allocs=1)
    if j is not None:
        ok(j["sampling"] == {"rate_bytes": 256, "estimated": True}, name + ": estimates",
           repr(j["sampling"]))
        ok(0 < j["totals"]["samples"]["alloc_count"] <= j["totals"]["alloc_count"],
           name + ": some allocations sampled, estimated ones at least as many",
           repr(j["totals"]))
    if args[0] == "fork" and j is not None:
        import json
        q = subprocess.run([HG, "report", "--format", "json", "--top", "1", trace],
                           capture_output=True, text=True, timeout=300)
        fam = json.loads(q.stdout)["processes"] if q.returncode == 0 else []
        ok(len(fam) == 100 and all(c["sampling"]["rate_bytes"] == 256 for c in fam),
           name + ": 100 child traces, all sampled", str(len(fam)))
shutil.rmtree(TMP, ignore_errors=True)
done()
