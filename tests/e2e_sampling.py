#!/usr/bin/env python3
"""Sampling mode end to end (TAP): bench's growing hash map, traced exactly and
sampled, through `heapgrow run` and `heapgrow report --format json`.

    e2e_sampling.py HEAPGROW HASHMAP [PRELOAD_LIB...]

The map (bench/hashmap.c, 1,000,000 operations, "keep": no teardown, so the
growth lasts to the end) has four growing sites: nodes (40 B each), keys
(strdup), values (8..64 B, a quarter of them replaced) and the bucket array
(realloc doubling). Every run uses HEAPGROW_SAMPLE_SEED=1, so the sample points
and every number below are the same on every run (the seed was not chosen to
pass: it is the first one).

What is asserted, and why at these tolerances (docs/USAGE.md, "Sampling"):
  - both modes find the three steadily growing sites (the bucket array's
    verdict depends on the timing of its doublings, in exact mode too);
  - at --sample 512K (the issue's rate), each site's estimated growth (its live
    bytes at the end; it starts from 0) is within 4 standard errors of the
    exact one. The standard error of a site of n blocks of mean size s is
    sqrt(n s^2 (1 - p) / p), p = 1 - exp(-s/R): 13% for the node site (30 MB)
    and 6.6% for the whole process (84 MB), so "within 10%" at 512 KiB is not
    something this workload can promise (measured over seeds 1..30: the
    process total was within 10% in 27, the node site in 16, the key site in
    12; the largest error of a site was 49%, of the total 15%);
  - at --sample 16K, where the same standard errors are 1.3..3%, every site's
    estimated growth and the process total are within 10% of the exact run's
    (seeds 1..30: all of them, the largest error 6.3%);
  - the estimates are unbiased where they must be exact: every sampled block
    still weighs at least its size, the raw sample counts are consistent;
  - frees of unsampled blocks go to the right allocator with tcmalloc or
    jemalloc preloaded (the program's checksum is the exact run's, the map's
    growing sites are found);
  - `heapgrow check --sample 512K --leak-kinds none --fail-on-growth` fails on
    the growth (exit 23).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

HEAPGROW = os.path.abspath(sys.argv[1])
HASHMAP = os.path.abspath(sys.argv[2])
PRELOADS = [p for p in sys.argv[3:] if p and os.path.exists(p)]
COUNT = "1000000"
SITES = {("map_put", "node"), ("map_put", "key"), ("make_value", "value"),
         ("map_grow", "buckets")}
# The sites that grow steadily. The bucket array grows by doublings at
# geometric times, and whether its last step falls late enough for the step
# rule (docs/GROWTH.md) depends on how fast the machine ran the program: its
# verdict is not compared, exact or sampled.
STEADY = SITES - {("map_grow", "buckets")}

n = 0
failed = 0


def ok(cond, name, diag=""):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if diag and (not cond or os.environ.get("HG_E2E_VERBOSE")):
        for line in str(diag).splitlines()[:30]:
            print("# " + line)
    sys.stdout.flush()
    return bool(cond)


def run(d, name, sample=None, extra_env=None, argv_extra=()):
    env = dict(os.environ, HEAPGROW_SAMPLE_SEED="1", NO_COLOR="1")
    env.pop("HEAPGROW_SAMPLE_BYTES", None)
    env.update(extra_env or {})
    trace = os.path.join(d, name + ".hgt")
    args = [HEAPGROW, "run", "--no-report", "--interval", "20", "-o", trace]
    if sample:
        args += ["--sample", sample]
    p = subprocess.run(args + list(argv_extra) + ["--", HASHMAP, COUNT, "keep"], env=env,
                       capture_output=True, text=True, timeout=600)
    ok(p.returncode == 0, f"{name}: hashmap exits 0 under heapgrow run", p.stderr)
    r = subprocess.run([HEAPGROW, "report", "--format", "json", "--top", "0", trace],
                       capture_output=True, text=True, timeout=300)
    ok(r.returncode == 0, f"{name}: report", r.stderr)
    return p.stdout, json.loads(r.stdout) if r.returncode == 0 else None


def site_key(s):
    """Which of the map's sites this is, by function and source line."""
    fn = s.get("function")
    if fn == "make_value":
        return ("make_value", "value")
    if fn == "map_grow":
        return ("map_grow", "buckets")
    if fn == "map_put":
        # the node's malloc comes before the key's strdup in map_put
        return ("map_put", "node" if s["line"] == map_put_lines[0] else "key")
    return None


map_put_lines = []


def sites_of(j):
    out = {}
    for s in j["sites"]:
        if s.get("function") == "map_put" and s["line"] not in map_put_lines:
            map_put_lines.append(s["line"])
            map_put_lines.sort()
    for s in j["sites"]:
        k = site_key(s)
        if k in SITES:
            out[k] = s
    return out


def std_error(site, rate):
    """Standard error of a site's estimated live bytes: blocks of the site's
    mean size (a slight underestimate for mixed sizes), Poisson sampling."""
    count, live = site["end_live_count"], site["end_live_bytes"]
    if count == 0:
        return 0.0
    s = live / count
    p = -math.expm1(-s / rate)
    return math.sqrt(count * s * s * (1 - p) / p)


with tempfile.TemporaryDirectory(prefix="hg_sampling_") as d:
    exact_out, exact = run(d, "exact")
    if exact is None:
        print("1..%d" % n)
        sys.exit(1)
    ok(exact["sampling"] == {"rate_bytes": 0, "estimated": False}, "exact: not an estimate",
       str(exact["sampling"]))
    ex_sites = sites_of(exact)
    ok(set(ex_sites) == SITES, "exact: the map's four sites", str(sorted(ex_sites)))
    growing = {k for k, s in ex_sites.items() if s["growth"]["growing"]} & STEADY
    ok(growing == STEADY, "exact: nodes, keys and values grow", str(sorted(growing)))
    ex_total = exact["totals"]["end_live_bytes"]

    for rate_s, rate, tol in [("512K", 524288, None), ("16K", 16384, 0.10)]:
        name = "sample " + rate_s
        out, j = run(d, name.replace(" ", ""), rate_s)
        if j is None:
            continue
        ok(out == exact_out, f"{name}: same checksum as the exact run", out + exact_out)
        ok(j["sampling"] == {"rate_bytes": rate, "estimated": True}, f"{name}: says estimated",
           str(j["sampling"]))
        got = sites_of(j)
        found = {k for k, s in got.items() if s["growth"]["growing"]} & STEADY
        ok(found == growing, f"{name}: the same growing sites as the exact run",
           f"sampled {sorted(found)}, exact {sorted(growing)}")
        var_total = 0.0
        for k in sorted(SITES):
            if k not in got or k not in ex_sites:
                ok(False, f"{name}: site {k} present")
                continue
            want, est = ex_sites[k]["end_live_bytes"], got[k]["end_live_bytes"]
            se = std_error(ex_sites[k], rate)
            var_total += se * se
            err = est / want - 1
            diag = (f"estimated {est}, exact {want}: {100 * err:+.1f}%, standard error "
                    f"{100 * se / want:.1f}%")
            if tol is None:
                ok(abs(est - want) <= 4 * se + 1, f"{name}: {k[1]} growth within 4 standard "
                   f"errors ({100 * err:+.1f}%)", diag)
            else:
                ok(se / want < tol / 3, f"{name}: {k[1]} standard error below {tol / 3:.1%}",
                   diag)
                ok(abs(err) <= tol, f"{name}: {k[1]} growth within {tol:.0%} of exact "
                   f"({100 * err:+.1f}%)", diag)
            ok(got[k]["samples"]["end_live_count"] <= got[k]["samples"]["alloc_count"]
               and got[k]["end_live_bytes"] >= 0, f"{name}: {k[1]} raw sample counts")
        total = j["totals"]["end_live_bytes"]
        err = total / ex_total - 1
        diag = f"estimated {total}, exact {ex_total}: {100 * err:+.1f}%"
        if tol is None:
            ok(abs(total - ex_total) <= 4 * math.sqrt(var_total) + 65536,
               f"{name}: process live bytes within 4 standard errors ({100 * err:+.1f}%)", diag)
        else:
            ok(abs(err) <= tol, f"{name}: process live bytes within {tol:.0%} "
               f"({100 * err:+.1f}%)", diag)
        ok(j["totals"]["samples"]["alloc_count"] > 0
           and j["totals"]["alloc_count"] >= j["totals"]["samples"]["alloc_count"],
           f"{name}: estimated allocations at least the sampled ones", str(j["totals"]))
        ok(not j["process"]["has_reachability"], f"{name}: no reachability in a sampled trace")

    # Other allocators: every unsampled free goes straight to them.
    for lib in PRELOADS:
        base = os.path.basename(lib).split(".")[0]
        out, j = run(d, "sample-" + base, "512K", extra_env={"LD_PRELOAD": lib})
        if j is None:
            continue
        ok(out == exact_out, f"{base}: same checksum under sampling", out)
        found = {k for k, s in sites_of(j).items() if s["growth"]["growing"]} & STEADY
        ok(found == growing, f"{base}: the growing sites are found", str(sorted(found)))

    # The growth gate on a sampled run.
    p = subprocess.run([HEAPGROW, "check", "--sample", "512K", "--leak-kinds", "none",
                        "--fail-on-growth", "--interval", "20", "-o",
                        os.path.join(d, "check.hgt"), "--", HASHMAP, COUNT, "keep"],
                       env=dict(os.environ, HEAPGROW_SAMPLE_SEED="1"), capture_output=True,
                       text=True, timeout=600)
    ok(p.returncode == 23, "check: a sampled growth gate fails on the map's growth",
       f"rc {p.returncode}\n{p.stderr[-3000:]}")
    ok("Estimated growth of" in p.stderr and "1 sampled process: growth estimated, leaks not "
       "checked." in p.stderr, "check: says the growth is estimated", p.stderr[-3000:])

print("1..%d" % n)
sys.exit(1 if failed else 0)
