#!/usr/bin/env python3
"""Golden tests of the reader through hgdump and `heapgrow report` on the
crafted traces of tests/data (made by tests/data/make_traces.py). Prints TAP.

usage: test_hgdump.py HGDUMP HEAPGROW DATA_DIR
"""
import json
import os
import subprocess
import sys

hgdump, heapgrow, data = sys.argv[1:4]
results = []


def check(name, ok, detail=""):
    results.append((name, ok, detail))


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


# hgdump: exact text of every record, exit status, error line.
BAD = {
    "badstack": "offset 83: stack 17 referenced before it was defined",
    "future": "offset 8: trace format 3, this heapgrow reads formats 1 to 2",
    "notgz": "offset 0: not a heapgrow trace (not gzip: incorrect header check)",
}
for name in ["small", "killed", "unknown", "badstack", "future", "notgz", "sampled"]:
    trace = os.path.join(data, name + ".hgt")
    with open(os.path.join(data, name + ".dump")) as f:
        want = f.read()
    rc, out, err = run(hgdump, trace)
    check("hgdump %s: output" % name, out == want, "got:\n" + out)
    if name in BAD:
        check("hgdump %s: exit 2" % name, rc == 2, "rc=%d" % rc)
        check("hgdump %s: message" % name,
              err == "hgdump: %s: %s\n" % (trace, BAD[name]), err)
    else:
        check("hgdump %s: exit 0" % name, rc == 0, "rc=%d %s" % (rc, err))

# heapgrow report: corrupt traces exit 2 with one line naming file and offset.
for name, msg in BAD.items():
    trace = os.path.join(data, name + ".hgt")
    rc, out, err = run(heapgrow, "report", trace)
    check("report %s: exit 2" % name, rc == 2, "rc=%d" % rc)
    check("report %s: message" % name, err == "heapgrow: %s: %s\n" % (trace, msg), err)

# heapgrow report: a killed trace is usable and says so; leaks unknown.
rc, out, err = run(heapgrow, "report", "--format", "json", os.path.join(data, "killed.hgt"))
check("report killed: exit 0", rc == 0, "rc=%d %s" % (rc, err))
try:
    d = json.loads(out)
    check("report killed: ended_early",
          d["process"]["ended_early"]
          == "trace ends at 0.1 s without an end marker (process killed?)",
          str(d["process"]["ended_early"]))
    live = sorted(s["end_live_bytes"] for s in d["sites"])
    check("report killed: live bytes of the last complete snapshot", live == [900, 2000],
          str(live))
    check("report killed: leaks unknown",
          all(s["leaked"]["bytes"] is None for s in d["sites"]), "")
except (ValueError, KeyError) as e:
    check("report killed: json", False, repr(e))

# heapgrow report: the complete trace's leaks come from the exit live set.
rc, out, err = run(heapgrow, "report", "--format", "json", os.path.join(data, "small.hgt"))
check("report small: exit 0", rc == 0, "rc=%d %s" % (rc, err))
try:
    d = json.loads(out)
    got = sorted((s["leaked"]["bytes"], s["leaked"]["count"], s["alloc_count"])
                 for s in d["sites"])
    check("report small: leaks per site", got == [(900, 1, 1), (3000, 2, 4)], str(got))
    check("report small: no ended_early", d["process"]["ended_early"] is None, "")
except (ValueError, KeyError) as e:
    check("report small: json", False, repr(e))

# heapgrow report of a sampled trace: every figure is the estimate, the same
# integers make_traces.py computed with libm (weigh()); the leaks, which the
# analyzer weighs itself from the exit live set, agree with the live counters
# the tracer summed; the raw sample counts are there too.
rc, out, err = run(heapgrow, "report", "--format", "json", os.path.join(data, "sampled.hgt"))
check("report sampled: exit 0", rc == 0, "rc=%d %s" % (rc, err))
try:
    d = json.loads(out)
    check("report sampled: top-level sampling",
          d["sampling"] == {"rate_bytes": 65536, "estimated": True}, str(d.get("sampling")))
    check("report sampled: process sampling",
          d["process"]["sampling"] == {"rate_bytes": 65536, "estimated": True}, "")
    got = sorted((s["end_live_bytes"], s["end_live_count"], s["leaked"]["bytes"],
                  s["leaked"]["count"], s["alloc_count"], s["alloc_bytes"], s["samples"]["alloc_count"],
                  s["samples"]["end_live_count"], s["samples"]["leaked_count"]) for s in d["sites"])
    # stack 1: 100, 100, 3000 sampled, one 100 left; stack 2: one 200000.
    check("report sampled: per-site estimates",
          got == [(65586, 656, 65586, 656, 1334, 198219, 3, 1, 1),
                  (209924, 1, 209924, 1, 1, 209924, 1, 1, 1)], str(got))
    t = d["totals"]
    check("report sampled: totals are estimates",
          (t["alloc_count"], t["alloc_bytes"], t["end_live_bytes"], t["end_live_count"],
           t["free_count"], t["samples"]) ==
          (1335, 408143, 275510, 657, 678, {"alloc_count": 4}), str(t))
    check("report sampled: no reachability in a sampled trace",
          not d["process"]["has_reachability"] and all("definite" not in s["leaked"]
                                                      for s in d["sites"]), "")
except (ValueError, KeyError, TypeError) as e:
    check("report sampled: json", False, repr(e))
rc, out, err = run(heapgrow, "report", os.path.join(data, "sampled.hgt"))
check("report sampled: the text says the numbers are estimates",
      rc == 0 and "estimates: sampled run, one allocation per 64.0 KiB allocated on average; "
      "every count and byte figure below is estimated from 4 sampled allocations" in out, out)
rc, out, err = run(heapgrow, "report", "--format", "json", os.path.join(data, "small.hgt"))
try:
    d = json.loads(out)
    check("report exact: sampling says exact",
          d["sampling"] == {"rate_bytes": 0, "estimated": False}
          and all(s["samples"] is None for s in d["sites"]) and d["totals"]["samples"] is None,
          str(d.get("sampling")))
except (ValueError, KeyError) as e:
    check("report exact: json", False, repr(e))

# heapgrow report: skipped unknown records are counted, not silent.
rc, out, err = run(heapgrow, "report", "--format", "json", os.path.join(data, "unknown.hgt"))
check("report unknown: exit 0", rc == 0, "rc=%d %s" % (rc, err))
try:
    d = json.loads(out)
    check("report unknown: skipped records counted",
          "1 record(s) of unknown type skipped (written by a newer tracer?)" in d["warnings"],
          str(d.get("warnings")))
except (ValueError, KeyError) as e:
    check("report unknown: json", False, repr(e))

print("1..%d" % len(results))
for i, (name, ok, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if not ok:
        for line in detail.splitlines()[:20]:
            print("# " + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
