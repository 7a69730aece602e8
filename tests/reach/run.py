#!/usr/bin/env python3
"""Reachability at exit against exact numbers and against valgrind (TAP).

usage: run.py HEAPGROW REACH_CASES CLEAN_C CLEAN_CXX

For every case of reach_cases.c: `heapgrow run` + `heapgrow report --format
json`, then for each site_* function the per-category bytes/counts must equal
the expected numbers below AND what valgrind --leak-check=full
--show-leak-kinds=all reports for that function (its XML output, loss records
grouped by the innermost frame outside the allocator). The process-wide
"definitely lost" and "indirectly lost" totals must equal valgrind's summary
too. ("possibly lost" and "still reachable" totals differ by the runtimes' own
blocks: valgrind frees libc's at exit (--run-libc-freeres) and the loader's
DTV is larger under LD_PRELOAD; per-site numbers are compared for those.)
Then `heapgrow check` passes a clean C and a clean C++ program, and fails the
list case with exit status 23. Without valgrind the comparisons with it are
skipped (reported as such), the exact numbers are still checked.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HEAPGROW, CASES, CLEAN_C, CLEAN_CXX = [os.path.abspath(a) for a in sys.argv[1:5]]
KINDS = ("definite", "indirect", "possible", "reachable")
VG_KIND = {"Leak_DefinitelyLost": "definite", "Leak_IndirectlyLost": "indirect",
           "Leak_PossiblyLost": "possible", "Leak_StillReachable": "reachable"}

# case -> {site function: {kind: (bytes, count)}} (kinds not listed: 0, 0)
EXPECTED = {
    "list": {"site_list": {"definite": (48, 1), "indirect": (432, 9)}},
    "cycle": {"site_cycle": {"definite": (64, 1), "indirect": (128, 2)}},
    "interior": {"site_interior": {"possible": (200, 1)}},
    "hidden": {"site_hidden": {"reachable": (32, 1)},
               "site_hidden_inner": {"reachable": (500, 1)},
               "site_lost_holder": {"definite": (40, 1)},
               "site_lost_inner": {"indirect": (77, 1)}},
    "data": {"site_data": {"reachable": (601, 2)}},
    "thread": {"site_thread_local": {"reachable": (123, 1)},
               "site_thread_tls": {"reachable": (124, 1)}},
    "dlopen": {"site_lib": {"reachable": (555, 1)}},
    "tls": {"site_main_tls": {"reachable": (222, 1)}},
    "tree": {"site_tree": {"definite": (24, 1), "indirect": (144, 6)}},
    "mmap": {"site_mmap": {"reachable": (66, 1)}},
    "manymaps": {"site_manymaps": {"reachable": (88, 1)}},
    "exitthread": {"site_exit_main_local": {"reachable": (111, 1)},
                   "site_exit_lost": {"definite": (99, 1)}},
    "chain": {"site_chain": {"possible": (96, 1)}, "site_chain_inner": {"possible": (33, 1)}},
}

# Cases valgrind cannot run: its address-space manager has a fixed number of
# segments (valgrind 3.19: "FATAL: VG_N_SEGMENTS is too low" at 30,000
# mappings).
NO_VALGRIND = {"manymaps"}

n = 0
failed = 0


def ok(cond, what, detail=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what))
    if not cond:
        failed += 1
        for line in str(detail).splitlines():
            print("# " + line)


def skip(what, why):
    global n
    n += 1
    print("ok %d - %s # SKIP %s" % (n, what, why))


def env():
    e = dict(os.environ)
    for k in ("LD_PRELOAD", "HEAPGROW_OUTPUT", "HEAPGROW_WRAPPERS"):
        e.pop(k, None)
    return e


def full(d):
    return {k: tuple(d.get(k, (0, 0))) for k in KINDS}


def heapgrow_sites(case, tmp):
    trace = os.path.join(tmp, case + ".hgt")
    r = subprocess.run([HEAPGROW, "run", "--no-report", "-o", trace, "--", CASES, case],
                       env=env(), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, None, "run: %d %s" % (r.returncode, r.stderr)
    r = subprocess.run([HEAPGROW, "report", "--format", "json", trace], env=env(),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, None, "report: %d %s" % (r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    if not doc["process"].get("has_reachability"):
        return None, None, "no reachability in the trace"
    sites, totals = {}, {k: [0, 0] for k in KINDS}
    for s in doc["sites"]:
        lk = s["leaked"]
        for k in KINDS:
            totals[k][0] += lk[k]["bytes"]
            totals[k][1] += lk[k]["count"]
        fn = s.get("function") or ""
        if not fn.startswith("site_"):
            continue
        acc = sites.setdefault(fn, {k: [0, 0] for k in KINDS})
        for k in KINDS:
            acc[k][0] += lk[k]["bytes"]
            acc[k][1] += lk[k]["count"]
    sites = {fn: {k: tuple(v) for k, v in d.items()} for fn, d in sites.items()}
    return sites, {k: tuple(v) for k, v in totals.items()}, ""


def valgrind_sites(case, tmp):
    xml = os.path.join(tmp, case + ".vg.xml")
    subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes",
                    "--xml-file=" + xml, CASES, case], env=env(), capture_output=True,
                   timeout=300)
    root = ET.parse(xml).getroot()
    sites, totals = {}, {k: [0, 0] for k in KINDS}
    for err in root.iter("error"):
        kind = VG_KIND.get(err.findtext("kind") or "")
        if kind is None:
            continue
        xw = err.find("xwhat")
        nbytes = int(xw.findtext("leakedbytes"))
        text = xw.findtext("text") or ""
        if " direct, " in text:  # "480 (48 direct, 432 indirect) bytes in 1 blocks ..."
            nbytes = int(text.split("(")[1].split(" direct")[0].replace(",", ""))
        nblocks = int(xw.findtext("leakedblocks"))
        totals[kind][0] += nbytes
        totals[kind][1] += nblocks
        fns = [f.findtext("fn") or "" for f in err.find("stack").iter("frame")]
        site = next((f for f in fns if not f.startswith(("malloc", "calloc", "realloc"))), "")
        if not site.startswith("site_"):
            continue
        acc = sites.setdefault(site, {k: [0, 0] for k in KINDS})
        acc[kind][0] += nbytes
        acc[kind][1] += nblocks
    sites = {fn: {k: tuple(v) for k, v in d.items()} for fn, d in sites.items()}
    return sites, {k: tuple(v) for k, v in totals.items()}


def main():
    has_vg = shutil.which("valgrind") is not None
    with tempfile.TemporaryDirectory(prefix="hg-reach.") as tmp:
        for case, want in EXPECTED.items():
            got, totals, err = heapgrow_sites(case, tmp)
            if got is None:
                ok(False, "%s: heapgrow classified the exit live set" % case, err)
                continue
            want_full = {fn: full(v) for fn, v in want.items()}
            ok(got == want_full, "%s: heapgrow per site = expected" % case,
               "got  %s\nwant %s" % (got, want_full))
            if not has_vg or case in NO_VALGRIND:
                skip("%s: = valgrind" % case,
                     "valgrind not installed" if not has_vg else "too many mappings for valgrind")
                continue
            vg, vg_totals = valgrind_sites(case, tmp)
            ok(vg == want_full, "%s: valgrind per site = expected (the test's premise)" % case,
               "valgrind %s\nwant     %s" % (vg, want_full))
            ok(got == vg, "%s: heapgrow per site = valgrind per site" % case,
               "heapgrow %s\nvalgrind %s" % (got, vg))
            for k in ("definite", "indirect"):
                ok(totals[k] == vg_totals[k],
                   "%s: whole process %s = valgrind's (%d bytes in %d blocks)" %
                   ((case, k) + vg_totals[k]), "heapgrow %s" % (totals[k],))

        for prog in (CLEAN_C, CLEAN_CXX):
            r = subprocess.run([HEAPGROW, "check", "--", prog], cwd=tmp, env=env(),
                               capture_output=True, text=True, timeout=300)
            ok(r.returncode == 0 and "SUMMARY: heapgrow: 0 byte(s) leaked" in r.stderr,
               "check passes the clean program %s" % os.path.basename(prog),
               "status %d\n%s" % (r.returncode, r.stderr))
        r = subprocess.run([HEAPGROW, "check", "--", CASES, "list"], cwd=tmp, env=env(),
                           capture_output=True, text=True, timeout=300)
        ok(r.returncode == 23 and "Direct leak of 48 byte(s) in 1 object(s)" in r.stderr and
           "Indirect leak of 432 byte(s) in 9 object(s)" in r.stderr and
           "SUMMARY: heapgrow: 480 byte(s) leaked in 10 allocation(s)" in r.stderr,
           "check fails the lost list: 1 direct + 9 indirect, status 23",
           "status %d\n%s" % (r.returncode, r.stderr))
        r = subprocess.run([HEAPGROW, "check", "--leak-kinds", "definite", "--", CASES,
                            "interior"], cwd=tmp, env=env(), capture_output=True, text=True,
                           timeout=300)
        ok(r.returncode == 0, "check --leak-kinds definite passes a possible leak",
           "status %d\n%s" % (r.returncode, r.stderr))
        r = subprocess.run([HEAPGROW, "check", "--", CASES, "interior"], cwd=tmp, env=env(),
                           capture_output=True, text=True, timeout=300)
        ok(r.returncode == 23 and "Possible leak of 200 byte(s) in 1 object(s)" in r.stderr,
           "check fails a possible leak by default", "status %d\n%s" % (r.returncode, r.stderr))
        r = subprocess.run([HEAPGROW, "check", "--leak-kinds", "reachable", "--", CASES, "data"],
                           cwd=tmp, env=env(), capture_output=True, text=True, timeout=300)
        ok(r.returncode == 23 and "Reachable of 300 byte(s) in 1 object(s)" in r.stderr,
           "check --leak-kinds reachable fails on blocks held by globals",
           "status %d\n%s" % (r.returncode, r.stderr))
        r = subprocess.run([HEAPGROW, "check", "--leak-kinds", "definite,bogus", "--", CASES,
                            "data"], cwd=tmp, env=env(), capture_output=True, text=True,
                           timeout=300)
        ok(r.returncode == 2 and "--leak-kinds" in r.stderr, "a bad --leak-kinds is an error",
           "status %d\n%s" % (r.returncode, r.stderr))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
