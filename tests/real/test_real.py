#!/usr/bin/env python3
"""Real programs under `heapgrow run` (issue 7): exit status and output
preserved, a valid trace with consistent counts, and for the growing ones
(python3, redis) the report flags the growing site and not the churn.

usage: test_real.py HEAPGROW CXX_MIX JEMALLOC_PROG|'' TCMALLOC_SO|'' SRCROOT
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hgtap import ok, skip, done, check_trace, heapgrow_run, report_json  # noqa: E402

HG, CXX, JE, TC, SRC = sys.argv[1:6]
TMP = tempfile.mkdtemp(prefix="hg-real-")
PY = "/usr/bin/python3.11"

# 120 000 keys at a steady pace, 800 every 20 ms for 3 s, whatever the
# machine's speed: the dict's key table then doubles at fixed points of the
# run (43 691 keys, 36 %; 87 382 keys, 73 %), so its last step is always in
# the later part. (Paced by the clock alone, a slower start put the last step
# before half the run in some runs, and the site read as a warm-up.) A list of
# 500 strings is rebuilt 10 times per slot: the churn. With "exit" it ends
# like a service stopped while it grows (os._exit: nothing torn down).
PY_SCRIPT = r'''
import os, sys, time
d = {}
churn = []
t0 = time.monotonic()
i = 0
for slot in range(150):
    for _ in range(800):
        d["key%d" % i] = i
        i += 1
    for _ in range(10):
        churn = [str(j) * 3 for j in range(500)]
    delay = t0 + (slot + 1) * 0.02 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print("entries", len(d), flush=True)
if sys.argv[1:] == ["exit"]:
    os._exit(3)
'''


def symbols(path):
    """name -> [(start, size)] from .dynsym and .symtab (nm -S)."""
    out = {}
    for flag in (["-D"], []):
        p = subprocess.run(["nm", "-S", "--defined-only"] + flag + [path],
                           capture_output=True, text=True)
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) == 4:
                out.setdefault(f[3].split("@")[0], []).append((int(f[0], 16), int(f[1], 16)))
    return out


def build_id(path):
    """The hex build-id of an ELF file (readelf -n), or None."""
    p = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return None


def addr2line(debug_file, offset):
    """[(function, basename, line)] for a file address, innermost first, from
    binutils' addr2line: a DWARF reader independent of heapgrow's (libdw)."""
    p = subprocess.run(["addr2line", "-f", "-i", "-e", debug_file, "0x%x" % offset],
                       capture_output=True, text=True)
    lines = p.stdout.splitlines()
    out = []
    for fn, loc in zip(lines[0::2], lines[1::2]):
        path, _, ln = loc.rpartition(":")
        ln = ln.split()[0] if ln else "0"
        out.append((fn, os.path.basename(path), int(ln) if ln.isdigit() else 0))
    return out


def named_wrong(j, syms):
    """Frames in python3.11 named without DWARF by a symbol that does not
    contain their address."""
    bad = []
    for s in j["sites"]:
        for fr in s["stack"]:
            if not (fr["module"] or "").endswith("python3.11") or not fr["function"] \
                    or fr["inlined"] or fr["file"]:
                continue
            pc = fr["module_offset"] - 1
            if not any(a <= pc < a + n for a, n in syms.get(fr["function"], [])):
                bad.append("%s at +0x%x" % (fr["function"], fr["module_offset"]))
    return sorted(set(bad))


# CPython 3.11.2 (Debian 12's python3.11): the dict's key table is allocated at
# Objects/dictobject.c:632 (new_keys_object, PyObject_Malloc inlined into it),
# inlined into dictresize at line 1429.
PY_DICT_SITE = ("new_keys_object", "dictobject.c", 632)
PY_DICT_CALLER = ("dictresize", "dictobject.c", 1429)


def case_python():
    if not os.access(PY, os.X_OK):
        return skip("python3", PY + " not installed")
    script = os.path.join(TMP, "grow.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT)
    trace = os.path.join(TMP, "py.hgt")
    p = heapgrow_run(HG, trace, [PY, script, "exit"], env={"PYTHONMALLOC": "malloc"})
    ok(p.returncode == 3, "python3: exit status 3 preserved", p.stderr)
    ok(p.stdout == "entries 120000\n", "python3: its stdout intact", repr(p.stdout))
    if not check_trace("python3", HG, trace, exit_status=3, min_allocs=100000):
        return
    bid = build_id(PY)
    dbg = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:]) if bid else None
    has_dbg = dbg is not None and os.path.exists(dbg)
    # HEAPGROW_DEBUG_DIRS set but empty: no /usr/lib/debug, what a machine
    # without python3.11-dbg shows.
    nodbg = {"HEAPGROW_DEBUG_DIRS": ""}

    # Per stack, without the debug file: growth through python3.11's frames,
    # the churn not flagged, and never a wrong name.
    rc, j, err = report_json(HG, trace, "--group-by", "stack", env=nodbg)
    if not ok(rc == 0, "python3: report --group-by stack", err):
        return
    growing = [s for s in j["sites"] if s["growth"]["growing"]]
    pyframes = [s for s in growing
                if any((fr["module"] or "").endswith("python3.11") for fr in s["stack"])]
    ok(len(pyframes) >= 1, "python3: a growing stack through python3.11's frames",
       "%d growing" % len(growing))
    # The churn: stacks with many allocations, nearly all freed again.
    churn = [s for s in j["sites"]
             if s["alloc_count"] >= 20000 and s["end_live_count"] * 20 <= s["alloc_count"]]
    ok(len(churn) >= 1, "python3: the churning stacks are in the trace")
    flagged = [s for s in churn if s["growth"]["growing"]]
    ok(not flagged, "python3: no churning stack is flagged as growing",
       "\n".join("%d allocs %d live" % (s["alloc_count"], s["end_live_count"]) for s in flagged))
    # Never a wrong name: with no DWARF, a named frame in the stripped
    # python3.11 lies inside a .dynsym symbol of that name.
    syms = symbols(PY)
    nodwarf = [fr for s in j["sites"] for fr in s["stack"]
               if (fr["module"] or "").endswith("python3.11") and fr["file"]]
    ok(not nodwarf, "python3: HEAPGROW_DEBUG_DIRS='' keeps the debug file out (no DWARF)",
       "%d frames with a file" % len(nodwarf))
    bad = named_wrong(j, syms)
    ok(not bad, "python3: every named python3.11 frame lies inside that symbol",
       "\n".join(bad[:10]))
    unnamed = sum(1 for s in j["sites"] for fr in s["stack"]
                  if (fr["module"] or "").endswith("python3.11") and not fr["function"])
    ok(unnamed > 0, "python3: frames outside any symbol show as python3.11+0x...")
    del j

    # Per site, with the debug file (python3.11-dbg, found by build-id).
    if not has_dbg:
        return skip("python3: the dict's key storage named from python3.11-dbg",
                    "python3.11-dbg not installed (no %s)" % dbg)
    rc, j, err = report_json(HG, trace, env={"HEAPGROW_DEBUG_DIRS": None})
    if not ok(rc == 0, "python3: report with the debug file", err):
        return
    want_fn, want_file, want_line = PY_DICT_SITE
    dict_sites = [s for s in j["sites"] if s["function"] == want_fn]
    if not ok(len(dict_sites) == 1, "python3: one site in " + want_fn,
              repr([(s["function"], s["line"]) for s in j["sites"][:10]])):
        return
    site = dict_sites[0]
    ok(site["growth"]["growing"], "python3: the dict's key table (%s) is growing" % want_fn,
       json.dumps(site["growth"]))
    ok((site["file"] or "").endswith("/Objects/" + want_file) and site["module"] == PY,
       "python3: %s in Objects/%s of %s" % (want_fn, want_file, PY),
       "%s %s" % (site["file"], site["module"]))
    fr = site["stack"]
    ok(len(fr) >= 2 and fr[0]["inlined"] and fr[1]["function"] == PY_DICT_CALLER[0]
       and (fr[1]["file"] or "").endswith("/Objects/" + PY_DICT_CALLER[1]),
       "python3: inlined into %s, Objects/%s" % PY_DICT_CALLER[:2],
       json.dumps(fr[:3]))
    # The same lines from an independent DWARF reader (the PyObject_Malloc it
    # shows inlined innermost is an allocator frame, left out of a site).
    a2l = [x for x in addr2line(dbg, fr[0]["module_offset"] - 1) if x[0] != "PyObject_Malloc"]
    got = [(f["function"], os.path.basename(f["file"] or ""), f["line"]) for f in fr[:2]]
    ok(a2l[:2] == got, "python3: function, file and line agree with addr2line",
       "heapgrow %r\naddr2line %r" % (got, a2l))
    ver = subprocess.run([PY, "-c", "import sys; print(*sys.version_info[:3])"],
                         capture_output=True, text=True).stdout.split()
    if ver == ["3", "11", "2"]:
        ok(got == [PY_DICT_SITE, PY_DICT_CALLER],
           "python3: %s at %s:%d, inlined into %s at %s:%d" % (PY_DICT_SITE + PY_DICT_CALLER),
           repr(got))
    else:
        skip("python3: Debian 12's dictobject.c lines", "python3.11 is %s" % ".".join(ver))
    # The churn, by name: the list rebuilt every 2 ms and its strings.
    for fn, fil in (("list_resize", "listobject.c"), ("PyUnicode_New", "unicodeobject.c")):
        c = [s for s in j["sites"] if s["function"] == fn
             and (s["file"] or "").endswith("/Objects/" + fil)]
        ok(len(c) == 1 and c[0]["alloc_count"] >= 10000
           and c[0]["end_live_count"] * 10 <= c[0]["alloc_count"]
           and not c[0]["growth"]["growing"],
           "python3: the churn at %s (Objects/%s) is not flagged" % (fn, fil),
           json.dumps([(s["alloc_count"], s["end_live_count"], s["growth"]) for s in c]))

    # The same site without the debug file: the same address, growing, shown
    # as python3.11+0x... or by a .dynsym symbol that contains it.
    rc, j, err = report_json(HG, trace, env=nodbg)
    if not ok(rc == 0, "python3: report without the debug file", err):
        return
    same = [s for s in j["sites"] if s["stack"] and s["stack"][0]["address"] == fr[0]["address"]]
    ok(len(same) == 1 and same[0]["growth"]["growing"],
       "python3: without python3.11-dbg the same site is growing",
       json.dumps([(s["function"], s["growth"]["reason"]) for s in same]))
    if same:
        f0 = same[0]["stack"][0]
        pc = f0["module_offset"] - 1
        ok(f0["function"] is None and f0["file"] is None
           or any(a <= pc < a + n for a, n in syms.get(f0["function"], [])),
           "python3: ... and named python3.11+0x%x or by its enclosing symbol, never wrongly"
           % f0["module_offset"], json.dumps(f0))
    bad = named_wrong(j, syms)
    ok(not bad, "python3: no wrong name per site either", "\n".join(bad[:10]))


def case_sqlite():
    if not shutil.which("sqlite3"):
        return skip("sqlite3", "sqlite3 not installed")
    csv = os.path.join(TMP, "rows.csv")
    with open(csv, "w") as f:
        for i in range(20000):
            f.write("%d,name%d,%d.5\n" % (i, i, i * 3))
    db = os.path.join(TMP, "t.db")
    trace = os.path.join(TMP, "sqlite.hgt")
    p = heapgrow_run(HG, trace, ["sqlite3", db, "create table t(a integer, b text, c real);",
                                 ".mode csv", ".import %s t" % csv,
                                 "select count(*), sum(a) from t;"])
    ok(p.returncode == 0, "sqlite3: exit 0", p.stderr)
    ok(p.stdout.strip() == "20000,199990000", "sqlite3: 20000 rows imported", p.stdout)
    check_trace("sqlite3", HG, trace, exit_status=0, min_allocs=1000)


def case_git():
    if not shutil.which("git") or not os.path.isdir(os.path.join(SRC, ".git")):
        return skip("git", "git or the repository missing")
    env = {"GIT_PAGER": "cat", "PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}
    head = subprocess.run(["git", "-C", SRC, "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    want = subprocess.run(["git", "-C", SRC, "log", "--oneline", "-n", "30", head],
                          capture_output=True, text=True).stdout
    trace = os.path.join(TMP, "gitlog.hgt")
    p = heapgrow_run(HG, trace, ["git", "-C", SRC, "log", "--oneline", "-n", "30", head], env=env)
    ok(p.returncode == 0 and p.stdout == want and want,
       "git log: exit 0, output identical to an untraced run", p.stderr)
    check_trace("git log", HG, trace, exit_status=0, min_allocs=100)
    trace = os.path.join(TMP, "gitstatus.hgt")
    p = heapgrow_run(HG, trace, ["git", "-C", SRC, "status", "--porcelain"], env=env)
    ok(p.returncode == 0, "git status: exit 0", p.stderr)
    check_trace("git status", HG, trace, exit_status=0, min_allocs=100)


def case_cxx():
    want = subprocess.run([CXX], capture_output=True, text=True)
    trace = os.path.join(TMP, "cxx.hgt")
    p = heapgrow_run(HG, trace, [CXX])
    ok(want.returncode == 5 and p.returncode == 5, "c++ threads/exceptions: exit 5 preserved",
       p.stderr)
    ok(p.stdout == want.stdout, "c++: output identical to an untraced run",
       p.stdout + want.stdout)
    check_trace("c++", HG, trace, exit_status=5, min_allocs=10000)


def case_jemalloc():
    if not JE:
        return skip("jemalloc", "libjemalloc-dev not installed")
    trace = os.path.join(TMP, "je.hgt")
    p = heapgrow_run(HG, trace, [JE])
    ok(p.returncode == 4 and p.stdout == "ok 200000\n",
       "jemalloc-linked (malloc_usable_size on its blocks): exit 4, output intact",
       p.stdout + p.stderr)
    check_trace("jemalloc", HG, trace, exit_status=4, min_allocs=400000)


def case_tcmalloc():
    if not TC:
        return skip("tcmalloc", "libtcmalloc-minimal4 not installed")
    want = subprocess.run([CXX], capture_output=True, text=True).stdout
    # After ours (heapgrow run keeps the program's LD_PRELOAD after its own).
    trace = os.path.join(TMP, "tc-after.hgt")
    p = heapgrow_run(HG, trace, [CXX], env={"LD_PRELOAD": TC})
    ok(p.returncode == 5 and p.stdout == want, "tcmalloc after ours: exit 5, output intact",
       p.stderr)
    check_trace("tcmalloc after ours", HG, trace, exit_status=5, min_allocs=10000)
    # Before ours: tcmalloc's malloc wins the symbol lookup, so nothing is
    # traced, but the program runs and the trace is still a valid, empty one.
    trace = os.path.join(TMP, "tc-before.hgt")
    env = dict(os.environ)
    libhg = os.environ.get("HG_LIBHEAPGROW", "")
    env.update({"LD_PRELOAD": TC + ":" + libhg, "HEAPGROW_OUTPUT": trace})
    p = subprocess.run([CXX], capture_output=True, text=True, env=env, timeout=120)
    ok(p.returncode == 5 and p.stdout == want, "tcmalloc before ours: exit 5, output intact",
       p.stderr)
    j = check_trace("tcmalloc before ours", HG, trace, exit_status=5, min_allocs=0)
    if j:
        ok(j["totals"]["alloc_count"] < 100,
           "tcmalloc before ours: its allocations are not seen (documented)",
           str(j["totals"]["alloc_count"]))
        ok(any(w.startswith(TC + " defines malloc and comes before libheapgrow.so")
               for w in j["warnings"]),
           "tcmalloc before ours: the report says why", repr(j["warnings"]))
    # ... and never when it comes after ours.
    rc, j, err = report_json(HG, os.path.join(TMP, "tc-after.hgt"))
    ok(j is not None and not any("defines malloc" in w for w in j["warnings"]),
       "tcmalloc after ours: no such warning", err + repr(j and j["warnings"]))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_redis():
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        return skip("redis", "redis-server/redis-tools not installed")
    port = free_port()
    trace = os.path.join(TMP, "redis.hgt")
    rdir = os.path.join(TMP, "redis")
    os.mkdir(rdir)
    srv = subprocess.Popen([HG, "run", "--no-report", "-o", trace, "--", "redis-server",
                            "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", rdir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    up = False
    for _ in range(300):
        r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            up = True
            break
        if srv.poll() is not None:
            break
        time.sleep(0.05)
    if not ok(up, "redis: server answers PING under the tracer"):
        srv.kill()
        print("# " + srv.communicate()[0].replace("\n", "\n# "))
        return
    b = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-r", "10000000",
                        "-n", "300000", "-q"], capture_output=True, text=True, timeout=120)
    ok(b.returncode == 0, "redis-benchmark SET of random keys ran", b.stderr)
    r = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True, text=True)
    ok(r.stdout.strip().isdigit() and int(r.stdout) > 100000,
       "redis: survived the benchmark with its keys", r.stdout + r.stderr)
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
    try:
        out = srv.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        srv.kill()
        out = srv.communicate()[0]
    ok(srv.returncode == 0, "redis: exits cleanly after SHUTDOWN", out[-2000:])
    j = check_trace("redis", HG, trace, exit_status=0, min_allocs=100000)
    if j:
        growing = [s for s in j["sites"] if s["growth"]["growing"]]
        names = [s["function"] for s in growing]
        ok(any(n in ("dictAddRaw", "createEmbeddedStringObject", "_sdsnewlen", "sdsnewlen",
                     "zmalloc", "dictExpand", "_dictExpand") for n in names),
           "redis: a growing site in its dict/key storage", repr(names))


for c in (case_cxx, case_jemalloc, case_tcmalloc, case_sqlite, case_git, case_python,
          case_redis):
    try:
        c()
    except Exception as e:  # a crash of the test is a failure, not an abort
        ok(False, c.__name__ + " raised", repr(e))
shutil.rmtree(TMP, ignore_errors=True)
done()
