"""Shared helpers of the robustness tests (tests/real, tests/faults): TAP
output and checks of a trace through `heapgrow report --format json`."""
import json
import os
import subprocess
import sys

_n = 0
_failed = 0


def ok(cond, name, diag=""):
    global _n, _failed
    _n += 1
    if not cond:
        _failed += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (_n, name))
    if not cond and diag:
        for line in str(diag).splitlines()[:40]:
            print("# " + line)
    sys.stdout.flush()
    return bool(cond)


def skip(name, reason):
    global _n
    _n += 1
    print("ok %d - %s # SKIP %s" % (_n, name, reason))
    sys.stdout.flush()


def done():
    print("1..%d" % _n)
    sys.exit(1 if _failed else 0)


def report_json(heapgrow, trace, *extra, env=None):
    """(rc, json or None, stderr) of `heapgrow report --format json`; env adds
    to (or, with a value None, removes from) the environment."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    p = subprocess.run([heapgrow, "report", "--format", "json", "--top", "0",
                        "--no-children"] + list(extra) + [trace],
                       capture_output=True, text=True, timeout=300, env=e)
    try:
        j = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        j = None
    return p.returncode, j, p.stderr


def check_counts(name, j):
    """allocations - frees = live, in the report's totals."""
    t = j["totals"]
    return ok(t["alloc_count"] - t["free_count"] == t["end_live_count"],
              name + ": allocations - frees = live",
              "alloc %d free %d live %d" % (t["alloc_count"], t["free_count"],
                                             t["end_live_count"]))


def check_trace(name, heapgrow, trace, exit_status=None, min_allocs=1):
    """A valid trace that ended cleanly: report works, counts consistent.
    Returns the JSON (or None)."""
    rc, j, err = report_json(heapgrow, trace)
    if not ok(rc == 0 and j is not None, name + ": report reads the trace", err):
        return None
    p = j["process"]
    ok(p["ended_early"] is None and p["ended_cleanly"],
       name + ": trace ended cleanly", json.dumps(p))
    if exit_status is not None:
        ok(p["end_reason"] in ("exit", "_exit") and p["exit_status"] == exit_status,
           name + ": trace records exit %d" % exit_status, json.dumps(p))
    ok(j["totals"]["alloc_count"] >= min_allocs,
       name + ": at least %d allocations traced" % min_allocs, json.dumps(j["totals"]))
    check_counts(name, j)
    return j


def heapgrow_run(heapgrow, trace, argv, env=None, timeout=120, cwd=None, extra=()):
    """`heapgrow run --no-report -o trace -- argv`: CompletedProcess."""
    if os.path.exists(trace):
        os.unlink(trace)
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([heapgrow, "run", "--no-report", "-o", trace] + list(extra)
                          + ["--"] + list(argv), capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=cwd)
