#!/usr/bin/env python3
"""End-to-end tests of libheapgrow.so under LD_PRELOAD (TAP output).

Each case runs one program of tests/e2e_preload/ with the tracer preloaded
(HEAPGROW_OUTPUT in a fresh temporary directory) and checks: the exit status
is the program's own, each expected trace exists, is gzip, is read completely
by hgdump (the analyzer's reader) and ends with the expected END record; every
block the program reports as leaked ("LEAK addr size") is in the final live
set with its exact size, and its stack's innermost frame lies in the module
that called the allocator (the tracer's own frames are gone).

Usage: run.py lib=PATH hgdump=PATH contract=PATH ... (key=value pairs given
by tests/meson.build: the library, hgdump, the programs, optional allocators;
an empty value means "not available")
"""
import gzip
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CFG = dict(a.split("=", 1) for a in sys.argv[1:])
LIB = CFG["lib"]
HGDUMP = CFG["hgdump"]

results = []


def ok(cond, name, diag=""):
    results.append((bool(cond), name, diag))
    return bool(cond)


def parse_dump(path):
    """Runs hgdump; returns a dict with modules, stacks, the last live set,
    end, warnings, ended_early, rc."""
    p = subprocess.run([HGDUMP, path], capture_output=True, text=True)
    d = {"rc": p.returncode, "stderr": p.stderr, "modules": {}, "stacks": {}, "live": None,
         "live_reasons": [], "reach": [], "end": None, "counters": {}, "warnings": [], "ended_early": False, "header": None}
    cur = None
    for line in p.stdout.splitlines():
        if line.startswith("HEADER "):
            d["header"] = line
        elif line.startswith("MODULE_LOAD "):
            m = re.search(r"bias=0x([0-9a-f]+) start=0x([0-9a-f]+) end=0x([0-9a-f]+) path=(\S*)",
                          line)
            d["modules"][(int(m.group(2), 16), int(m.group(3), 16))] = m.group(4)
            d.setdefault("bias", {})[m.group(4)] = int(m.group(1), 16)
        elif line.startswith("STACK "):
            m = re.match(r"STACK id=(\d+) frames=(\S*)", line)
            d["stacks"][int(m.group(1))] = [int(x, 16) for x in m.group(2).split(",") if x]
        elif line.startswith("SNAPSHOT "):
            # Absolute counters of the stacks that changed; others keep theirs.
            for k in re.findall(r"(\d+):(\d+)/(\d+)/(\d+)/(\d+)", line.split("[", 1)[1]):
                d["counters"][int(k[0])] = tuple(int(x) for x in k[1:])
        elif line.startswith("LIVE_BEGIN "):
            cur = {}
            d["live_reasons"].append(int(re.search(r"reason=(\d+)", line).group(1)))
        elif line.startswith("LIVE "):
            m = re.match(r"LIVE id=(\d+) size=(\d+) addr=0x([0-9a-f]+) t_ms=(\d+)", line)
            cur[int(m.group(3), 16)] = (int(m.group(2)), int(m.group(1)), int(m.group(4)))
        elif line.startswith("LIVE_END"):
            d["live"] = cur
        elif line.startswith("REACH t="):
            m = re.search(r"reason=(\d+) status=(\d+)", line)
            d["reach"].append((int(m.group(1)), int(m.group(2))))
        elif line.startswith("END "):
            m = re.match(r"END t=\d+ reason=(\S+) status=(-?\d+)", line)
            d["end"] = (m.group(1), int(m.group(2)))
        elif line.startswith("WARNING "):
            d["warnings"].append(int(re.search(r"code=(\d+)", line).group(1)))
        elif line.startswith("ENDED_EARLY"):
            d["ended_early"] = True
    return d


def module_of(d, addr):
    for (lo, hi), path in d["modules"].items():
        if lo <= addr < hi:
            return path
    return None


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(name, argv, expect_rc, preload_extra=(), env_extra=None, cwd=None):
    tmp = tempfile.mkdtemp(prefix="hg-e2e-")
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join([LIB] + list(preload_extra))
    env["HEAPGROW_OUTPUT"] = os.path.join(tmp, "t.%p.hgt")
    env["E2E_TRACED"] = "1"
    env.pop("HEAPGROW_QUIET", None)
    env.update(env_extra or {})
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=no_core, cwd=cwd)
    out, err = proc.communicate(timeout=120)
    p = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    p.pid = proc.pid
    ok(p.returncode == expect_rc, f"{name}: exit status {expect_rc}",
       f"got {p.returncode}; stderr: {p.stderr[-2000:]}")
    ok("FAIL " not in p.stderr, f"{name}: program checks pass", p.stderr[-2000:])
    traces = {}
    for f in sorted(os.listdir(tmp)):
        m = re.match(r"t\.(\d+)\.hgt$", f)
        if m:
            traces[int(m.group(1))] = os.path.join(tmp, f)
    return p, traces


def run_signalled(name, argv, sigs, expect_rc, traced=True, gap=0.0, delay=0.0):
    """Starts argv (under the tracer when traced), waits for its line "ready"
    (then delay seconds), sends it each signal of sigs (gap seconds apart) and
    waits for it to end."""
    tmp = tempfile.mkdtemp(prefix="hg-e2e-")
    env = dict(os.environ)
    env.pop("HEAPGROW_QUIET", None)
    if traced:
        env["LD_PRELOAD"] = LIB
        env["HEAPGROW_OUTPUT"] = os.path.join(tmp, "t.%p.hgt")
        env["E2E_TRACED"] = "1"
    else:
        env.pop("LD_PRELOAD", None)
        env.pop("E2E_TRACED", None)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=no_core)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line == "ready\n":
            break
    time.sleep(delay)
    for i, sig in enumerate(sigs):
        if i and gap:
            time.sleep(gap)
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    p = subprocess.CompletedProcess(argv, proc.returncode, "".join(lines) + out, err)
    ok(p.returncode == expect_rc, f"{name}: exit status {expect_rc}",
       f"got {p.returncode}; stderr: {p.stderr[-2000:]}")
    ok("FAIL " not in p.stderr, f"{name}: program checks pass", p.stderr[-2000:])
    traces = {}
    for f in sorted(os.listdir(tmp)):
        m = re.match(r"t\.(\d+)\.hgt$", f)
        if m:
            traces[int(m.group(1))] = os.path.join(tmp, f)
    return p, traces


def check_trace(name, path, end, leaks, caller_module):
    """end = (reason, status) or None; leaks = [(addr, size)]."""
    with open(path, "rb") as fh:
        ok(fh.read(2) == b"\x1f\x8b", f"{name}: trace is gzip")
    try:
        with gzip.open(path) as g:
            raw = g.read()
        ok(raw[:8] == b"HEAPGRW\x01", f"{name}: gzip stream complete, magic")
    except (EOFError, OSError) as e:
        ok(False, f"{name}: gzip stream complete, magic", str(e))
    d = parse_dump(path)
    ok(d["rc"] == 0 and not d["ended_early"], f"{name}: hgdump reads it to the end",
       d["stderr"])
    if end is not None:
        ok(d["end"] == end, f"{name}: END {end}", f"got {d['end']}")
    live = d["live"] or {}
    # docs/FORMAT.md: whole seconds below 16 MiB, 2^32 - 1 from 16 MiB on.
    bad_times = [(a, v[0], v[2]) for a, v in live.items()
                 if (v[2] != 4294967295 if v[0] >= 1 << 24 else v[2] % 1000 != 0)]
    ok(not bad_times, f"{name}: live set allocation times kept to the second", str(bad_times[:5]))
    for addr, size in leaks:
        got = live.get(addr)
        if not ok(got is not None and got[0] == size,
                  f"{name}: leak {size} bytes at {addr:#x} in the final live set",
                  f"got {got}"):
            continue
        frames = d["stacks"].get(got[1], [])
        mod = module_of(d, frames[0]) if frames else None
        ok(mod is not None and os.path.realpath(mod) == os.path.realpath(caller_module),
           f"{name}: innermost frame of the {size}-byte leak is in {os.path.basename(caller_module)}",
           f"frame {frames[:1]} in {mod}")
    return d


def leaks_of(stdout, pid=None):
    out = []
    for line in stdout.splitlines():
        m = re.match(r"(?:PID (\d+) )?LEAK 0x([0-9a-f]+) (\d+)", line)
        if m and (pid is None or int(m.group(1)) == pid):
            out.append((int(m.group(2), 16), int(m.group(3))))
    return out


def skip(name, reason):
    """A check that cannot run here: TAP "ok ... # SKIP reason"."""
    results.append((True, f"{name} # SKIP {reason}", ""))


def first_frame_outside(d, frames, modules):
    """The module of the first frame not in one of `modules` (base names)."""
    for f in frames:
        mod = module_of(d, f)
        if mod is None or os.path.basename(mod) not in modules:
            return mod
    return None


def own_counters(d, exe, through=()):
    """Counters (live_bytes, live_count, alloc_count, alloc_bytes) of the
    stacks allocated from `exe`: whose first frame outside the modules named
    in `through` (e.g. libc for strdup) is in exe."""
    real = os.path.realpath(exe)
    own = []
    for sid, c in d["counters"].items():
        mod = first_frame_outside(d, d["stacks"].get(sid, []), through)
        if mod is not None and os.path.realpath(mod) == real:
            own.append(c)
    return tuple(sum(c[i] for c in own) for i in range(4))


def one_trace(name, traces):
    ok(len(traces) == 1, f"{name}: exactly one trace", f"got {sorted(traces)}")
    return next(iter(traces.values())) if traces else None


def check_realloc_zero(name, d):
    """contract.c's realloc(malloc(4321), 0): the block left the live set."""
    live = d["live"] or {}
    n4321 = sum(1 for size, *_ in live.values() if size == 4321)
    ok(n4321 == 0, f"{name}: realloc(p, 0) took the 4321-byte block out of the final live set",
       f"{n4321} such blocks live")
    c = [v for v in d["counters"].values() if v[3] == 4321]
    ok(c == [(0, 0, 1, 4321)], f"{name}: its stack counted 1 allocation of 4321 bytes, "
       "0 live", f"{c}")


# --- the malloc family's contracts, glibc -----------------------------------
exe = CFG["contract"]
p, traces = run("contract", [exe], 7)
t = one_trace("contract", traces)
if t:
    # (hg_request_dump() returning 0 is checked by the program; when the writer
    # serves the request before exit is up to its thread.)
    d = check_trace("contract", t, ("exit", 7), leaks_of(p.stdout), exe)
    check_realloc_zero("contract", d)

# --- without the tracer, the public API answers -1 (weak symbol) -------------
q = subprocess.run([exe], capture_output=True, text=True,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
ok(q.returncode == 7, "contract without tracer: exit 7 (hg_request_dump_if_loaded -1)",
   q.stderr)

# --- HEAPGROW_UNWIND=fp gives the same innermost frames ----------------------
p, traces = run("contract-fp", [exe], 7, env_extra={"HEAPGROW_UNWIND": "fp"})
t = one_trace("contract-fp", traces)
if t:
    d = check_trace("contract-fp", t, ("exit", 7), leaks_of(p.stdout), exe)
    check_realloc_zero("contract-fp", d)

# --- jemalloc linked in ------------------------------------------------------
if CFG.get("contract_jemalloc"):
    exe_j = CFG["contract_jemalloc"]
    p, traces = run("jemalloc", [exe_j], 7)
    t = one_trace("jemalloc", traces)
    if t:
        d = check_trace("jemalloc", t, ("exit", 7), leaks_of(p.stdout), exe_j)
        check_realloc_zero("jemalloc", d)

# --- tcmalloc preloaded after the tracer -------------------------------------
if CFG.get("tcmalloc"):
    p, traces = run("tcmalloc", [exe], 7, preload_extra=[CFG["tcmalloc"]],
                    env_extra={"E2E_TCMALLOC": "1"})
    t = one_trace("tcmalloc", traces)
    if t:
        d = check_trace("tcmalloc", t, ("exit", 7), leaks_of(p.stdout), exe)
        check_realloc_zero("tcmalloc", d)

# --- C++ ---------------------------------------------------------------------
exe = CFG["cxx"]
p, traces = run("c++", [exe], 3)
t = one_trace("c++", traces)
if t:
    check_trace("c++", t, ("exit", 3), leaks_of(p.stdout), exe)

# --- threads -----------------------------------------------------------------
exe = CFG["threads"]
p, traces = run("threads", [exe], 0)
t = one_trace("threads", traces)
if t:
    leaks = leaks_of(p.stdout)
    ok(len(leaks) == 500, "threads: 500 short-lived threads leaked one block each",
       f"{len(leaks)}")
    d = check_trace("threads", t, ("exit", 0), leaks, exe)
    n777 = sum(1 for s, *_ in (d["live"] or {}).values() if s == 777)
    ok(n777 == 500, "threads: exactly 500 live blocks of 777 bytes", f"{n777}")
    # The program's own totals against the trace's counters of its own sites.
    m = re.search(r"TOTALS (\d+) (\d+)", p.stdout)
    own = [c for sid, c in d["counters"].items()
           if d["stacks"].get(sid) and module_of(d, d["stacks"][sid][0]) is not None
           and os.path.realpath(module_of(d, d["stacks"][sid][0])) == os.path.realpath(exe)]
    got = (sum(c[2] for c in own), sum(c[3] for c in own))
    ok(m is not None and got == (int(m.group(1)), int(m.group(2))),
       "threads: alloc_count and alloc_bytes of the program's sites equal its own totals",
       f"trace {got}, program {m.group(0) if m else None}")
    live = (sum(c[0] for c in own), sum(c[1] for c in own))
    ok(live == (500 * 777, 500), "threads: live bytes/count of the program's sites at exit "
       "= the 500 leaked blocks", f"{live}")

# --- fork: three processes, three traces -------------------------------------
exe = CFG["fork"]
p, traces = run("fork", [exe], 0)
m = re.search(r"CHILDREN (\d+) (\d+)", p.stdout)
ok(m is not None and len(traces) == 3, "fork: one trace per process",
   f"{sorted(traces)} / {p.stdout}")
if m and len(traces) == 3:
    c1, c2 = int(m.group(1)), int(m.group(2))
    parent = [pid for pid in traces if pid not in (c1, c2)][0]
    pl = leaks_of(p.stdout, parent)
    d = check_trace("fork parent", traces[parent], ("exit", 0), pl, exe)
    sizes = sorted(s for s, *_ in (d["live"] or {}).values() if s in (1111, 2222, 3333))
    ok(sizes == [1111], "fork parent: only its own leak", f"{sizes}")
    d = check_trace("fork child exit", traces[c1], ("exit", 5), pl + leaks_of(p.stdout, c1), exe)
    ok("flags=1" in (d["header"] or ""), "fork child: header has the fork flag", d["header"])
    check_trace("fork child _exit", traces[c2], ("_exit", 6), pl + leaks_of(p.stdout, c2), exe)

# --- a daemon child closes every descriptor: its trace goes on -----------------
p, traces = run("fork daemon", [exe, "daemon"], 0)
m = re.search(r"DAEMON (\d+)", p.stdout)
ok(m is not None and int(m.group(1)) in traces and len(traces) == 2,
   "fork daemon: one trace per process", f"{sorted(traces)} / {p.stdout}")
if m and int(m.group(1)) in traces and len(traces) == 2:
    c = int(m.group(1))
    parent = [pid for pid in traces if pid != c][0]
    pl = leaks_of(p.stdout, parent)
    check_trace("fork daemon parent", traces[parent], ("exit", 0), pl, exe)
    d = check_trace("fork daemon child", traces[c], ("exit", 7), pl + leaks_of(p.stdout, c), exe)
    sizes = sorted(s for s, *_ in (d["live"] or {}).values() if s in (1111, 4444, 5555))
    ok(sizes == [1111, 4444, 5555],
       "fork daemon child: the block allocated after closing every descriptor is traced",
       f"{sizes}")

# --- dlopen / dlclose / RTLD_DEEPBIND ----------------------------------------
exe = CFG["dlopen"]
lib = CFG["alloclib"]
p, traces = run("dlopen", [exe, lib, os.path.basename(lib)], 0)
t = one_trace("dlopen", traces)
if t:
    leaks = leaks_of(p.stdout)
    # The 3333-byte block comes from the library, still loaded at exit.
    d = check_trace("dlopen", t, ("exit", 0), [x for x in leaks if x[1] == 3333], lib)
    ok(p.stderr.count("RTLD_DEEPBIND") == 1, "dlopen: one message about RTLD_DEEPBIND",
       p.stderr)
    ok(d["warnings"].count(1) == 1, "dlopen: one WARNING record (code 1, deepbind)",
       f"{d['warnings']}")
    ok(any(v == lib for v in d["modules"].values()), "dlopen: the library is in the module map")
    live = d["live"] or {}
    x = [a for a, s in leaks if s == 4444]
    ok(x and live.get(x[0], (0,))[0] == 4444, "dlopen: block from the unloaded library is live")

# --- whole stacks: libunwind and the frame-pointer walk agree ---------------
exe = CFG["fpstack"]
syms = []
for line in subprocess.run(["nm", "-S", "--defined-only", exe], capture_output=True,
                           text=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tT":
        syms.append((int(f[0], 16), int(f[1], 16), f[3]))


def sym_at(d, addr):
    """Name of the function of exe containing the runtime address addr."""
    real = os.path.realpath(exe)
    bias = [b for path, b in d.get("bias", {}).items() if os.path.realpath(path) == real]
    if not bias:
        return None
    off = addr - bias[0]
    for start, size, name in syms:
        if start <= off < start + size:
            return name.split(".")[0]  # leaf.constprop.0 is leaf
    return None


for unwinder in ("dwarf", "libunwind", "fp"):
    name = f"stack {unwinder}"
    p, traces = run(name, [exe], 0, env_extra={"HEAPGROW_UNWIND": unwinder})
    t = one_trace(name, traces)
    if not t:
        continue
    d = check_trace(name, t, ("exit", 0), leaks_of(p.stdout), exe)
    live = d["live"] or {}
    for addr, size in leaks_of(p.stdout):
        frames = d["stacks"].get(live.get(addr, (0, -1))[1], [])
        got = [sym_at(d, f) for f in frames]
        want = ["leaf", "mid", "main"] if size == 7777 else ["worker"]
        ok(got[:len(want)] == want, f"{name}: {size}-byte block's stack starts {want}", f"{got}")

# --- how processes end ---------------------------------------------------------
exe = CFG["ending"]
for how, rc, end in [("return", 0, ("exit", 0)), ("exit", 12, ("exit", 12)),
                     ("_exit", 9, ("_exit", 9)), ("_Exit", 10, ("_exit", 10)),
                     ("term", -15, ("signal", 15)), ("segv", -11, ("signal", 11)),
                     ("abort", -6, ("signal", 6)), ("exec", 13, ("exec", 0)),
                     ("execfail", 14, ("exit", 14))]:
    p, traces = run(f"ending {how}", [exe, how], rc)
    if how == "exec":
        # The exec'd shell traces into a file of its own (same pid).
        ok(len(traces) == 1 and len(os.listdir(os.path.dirname(next(iter(traces.values()))))) == 2,
           "ending exec: the new image has a trace of its own", f"{traces}")
        t = traces.get(min(traces)) if traces else None
    else:
        t = one_trace(f"ending {how}", traces)
    if t:
        check_trace(f"ending {how}", t, end, leaks_of(p.stdout), exe)

# --- a program's own handler chaining to the previous one --------------------
exe = CFG["chain"]
for mode in ([], ["raw"]):
    name = "chain" + "".join(" " + m for m in mode)
    q = subprocess.run([exe] + mode, capture_output=True, text=True, preexec_fn=no_core,
                       env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    ok(q.returncode == -15, f"{name} untraced: killed by SIGTERM", f"{q.returncode}")
    p, traces = run(name, [exe] + mode, -15)
    t = one_trace(name, traces)
    if t:
        check_trace(name, t, ("signal", 15), leaks_of(p.stdout), exe)

# --- terminating signals from outside: the trace ends as at exit ------------
exe = CFG["signals"]


def check_signal_trace(name, p, traces, signo):
    t = one_trace(name, traces)
    if not t:
        return None
    d = check_trace(name, t, ("signal", signo), leaks_of(p.stdout), exe)
    ok(d["live_reasons"][-1:] == [0], f"{name}: the final live set is an exit dump (reason 0)",
       f"{d['live_reasons']}")
    ok(d["reach"][-1:] == [(0, 0)], f"{name}: and is classified (REACH reason 0, status 0)",
       f"{d['reach']}")
    return d


for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE,
            signal.SIGALRM, signal.SIGUSR1, signal.SIGPROF, signal.SIGXCPU, signal.SIGPWR):
    name = f"{sig.name} from outside"
    p, traces = run_signalled(name, [exe, "wait"], [sig], -sig)
    check_signal_trace(name, p, traces, int(sig))
# The program's own: a write into a closed pipe, an alarm() it never handles.
for mode, sig in (("pipe", signal.SIGPIPE), ("alarm", signal.SIGALRM)):
    name = f"{sig.name} of the program's own ({mode})"
    p, traces = run(name, [exe, mode], -sig)
    check_signal_trace(name, p, traces, int(sig))
# Threads allocating all the while, the signal landing in any of them.
for i in range(5):
    name = f"SIGINT to 4 allocating threads #{i + 1}"
    p, traces = run_signalled(name, [exe, "wait", "4"], [signal.SIGINT], -2)
    check_signal_trace(name, p, traces, 2)
# Signals landing while the interrupted thread is inside the tracer, moving
# live-table entries that the final live set has to wait for: the handler
# lets it go on, and the writer ends the process once the records are written.
rng = random.Random(7)
for i in range(8):
    name = f"SIGINT into a growing live table #{i + 1}"
    p, traces = run_signalled(name, [exe, "grow"], [signal.SIGINT], -2,
                              delay=rng.uniform(0.0, 0.4))
    check_signal_trace(name, p, traces, 2)
# The same request twice (a signal to a process group reaches heapgrow run and
# the program, and heapgrow forwards its copy): the second must not cut the
# trace short. 200,000 live blocks make the final records take a while.
for gap in (0.0, 0.01):
    name = f"SIGINT twice, {gap * 1000:.0f} ms apart"
    p, traces = run_signalled(name, [exe, "wait", "0", "200000"],
                              [signal.SIGINT, signal.SIGINT], -2, gap=gap)
    check_signal_trace(name, p, traces, 2)

# --- what the program sees of the dispositions: the same as untraced --------
q = subprocess.run([exe, "query"], capture_output=True, text=True, preexec_fn=no_core,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
ok(q.returncode == -2 and "FAIL" not in q.stderr, "dispositions untraced: killed by SIGINT",
   f"{q.returncode} {q.stderr}")
p, traces = run("dispositions traced", [exe, "query"], -2)
seen = [ln for ln in p.stdout.splitlines() if not ln.startswith("LEAK ")]
ok(seen == [ln for ln in q.stdout.splitlines() if not ln.startswith("LEAK ")] and len(seen) == 30,
   "dispositions: traced, the program sees exactly what it sees untraced",
   "\n".join(f"{a!r} | {b!r}" for a, b in zip(seen, q.stdout.splitlines())))
for want in ["initial 2 handler=DFL flags=0 mask=0 restorer=none",
             "replaced 2 handler=DFL flags=0 mask=0 restorer=none",
             "SIGINT handled 1 time(s)", "signal(SIGHUP, on_signal) -> DFL",
             "SIGHUP handled 1 time(s)", "sigset(SIGQUIT, DFL) -> HOLD",
             "dfl+flags 15 handler=DFL flags=0x14000000 mask=0x200 restorer=set"]:
    ok(want in seen, f"dispositions: {want}", "\n".join(seen))
t = one_trace("dispositions traced", traces)
if t:
    check_trace("dispositions traced", t, ("signal", 2), leaks_of(p.stdout), exe)

# --- threads started by a library constructor, before main ------------------
exe = CFG["early"]
p, traces = run("early threads", [exe], 0)
t = one_trace("early threads", traces)
if t:
    d = check_trace("early threads", t, ("exit", 0), [], exe)
    # early_lib.c: 4 threads x 20,000 mallocs of 8 + (i * 37 + thread) % 500
    # bytes, all freed. Every one of them is counted, none is still live.
    want_bytes = sum(8 + (i * 37 + k) % 500 for k in range(4) for i in range(20000))
    got = own_counters(d, CFG["early_lib"])
    ok(got == (0, 0, 80000, want_bytes), "early threads: all 80,000 allocations of the "
       f"library's threads traced ({want_bytes} bytes), none live at exit", f"{got}")

# --- a program that frees everything: only glibc's own blocks stay ---------
exe = CFG["clean"]
p, traces = run("clean", [exe], 0)
t = one_trace("clean", traces)
if t:
    d = check_trace("clean", t, ("exit", 0), [], exe)
    m = re.search(r"TOTALS (\d+) (\d+)", p.stdout)
    got = own_counters(d, exe, through=("libc.so.6",))
    ok(m is not None and got == (0, 0, int(m.group(1)), int(m.group(2))),
       "clean: the program's allocations (strdup's too) all counted, none live",
       f"trace {got}, program {m.group(0) if m else None}")
    # What is left: one TLS vector (DTV) per cached thread stack, allocated by
    # the dynamic loader for pthread_create (clean.c's 4 threads), nothing else.
    live = d["live"] or {}
    kinds = sorted((os.path.basename(module_of(d, d["stacks"][sid][0]) or "?"),
                    os.path.basename(first_frame_outside(d, d["stacks"][sid],
                                                         ("ld-linux-x86-64.so.2", "libc.so.6"))
                                     or "?"))
                   for _, sid, *_ in live.values())
    ok(kinds == [("ld-linux-x86-64.so.2", os.path.basename(exe))] * 4,
       "clean: the final live set is exactly the 4 DTVs the loader allocated for its threads",
       f"{kinds}")

# --- free() of blocks the tracer never saw: forwarded silently -------------
exe = CFG["unseen"]
p, traces = run("unseen", [exe], 0)
ok(p.stderr == "", "unseen: nothing on stderr", p.stderr)
t = one_trace("unseen", traces)
if t:
    leaks = leaks_of(p.stdout)
    d = check_trace("unseen", t, ("exit", 0), leaks, exe)
    ok([s for _, s in leaks] == [6543], "unseen: the realloc'ed block is the one leak", f"{leaks}")
    # Traced: the three mallocs that got the freed blocks back (333, 333, 555),
    # the realloc of an unseen block (6543, live) and the malloc after
    # realloc(unseen, 0) (777). The unseen blocks and their frees are not.
    got = own_counters(d, exe)
    ok(got == (6543, 1, 5, 333 + 333 + 555 + 6543 + 777),
       "unseen: the program's traced allocations exactly, the unseen ones not", f"{got}")
    ok(d["warnings"] == [], "unseen: no WARNING records", f"{d['warnings']}")

# --- real programs: exit status kept, every trace valid and ended -----------
def real_program(name, argv, expect_rc):
    p, traces = run(name, argv, expect_rc)
    ok(p.pid in traces, f"{name}: the program's own trace exists", f"{sorted(traces)}")
    for pid, path in sorted(traces.items()):
        want = ("exit", expect_rc) if pid == p.pid else None
        d = check_trace(f"{name} [{'main' if pid == p.pid else 'child'}]", path, want, [], None)
        ok(d["end"] is not None, f"{name}: trace of pid {'main' if pid == p.pid else 'child'} "
           "has an END record", f"{d['end']}")


work = tempfile.mkdtemp(prefix="hg-e2e-real-")
script = os.path.join(work, "script.py")
with open(script, "w") as fh:
    fh.write("import json, sys\n"
             "d = {str(i): list(range(i % 50)) for i in range(20000)}\n"
             "s = json.dumps(d)\n"
             "sys.exit(3 if len(json.loads(s)) == 20000 else 1)\n")
if os.path.exists("/usr/bin/python3"):
    real_program("python3", ["/usr/bin/python3", script], 3)
    # The default unwinder against libunwind on a program without frame
    # pointers: address randomisation off and a fixed hash seed make the two
    # runs allocate alike, so every stack (as module + offset) and its
    # counters must be equal.
    by_unwinder = {}
    for unwinder in ("dwarf", "libunwind"):
        name = f"python3 stacks {unwinder}"
        p, traces = run(name, ["setarch", "-R", "/usr/bin/python3", script], 3,
                        env_extra={"HEAPGROW_UNWIND": unwinder, "PYTHONHASHSEED": "0"})
        # setarch execs python3: the new image traces into t.PID.1.hgt
        t = traces.get(p.pid)
        t = t and t.replace(f"t.{p.pid}.hgt", f"t.{p.pid}.1.hgt")
        ok(t and os.path.exists(t), f"{name}: python3's own trace exists", f"{t}")
        if t and os.path.exists(t):
            d = parse_dump(t)
            def where(addr):
                # module and offset: a library python3 loads itself may land
                # elsewhere (the mmaps before it differ)
                path = module_of(d, addr)
                return (path, addr - d.get("bias", {}).get(path, 0))
            by_unwinder[unwinder] = {tuple(map(where, f)): d["counters"].get(i)
                                     for i, f in d["stacks"].items()}
    a, b = by_unwinder.get("dwarf", {}), by_unwinder.get("libunwind", {})
    ok(len(a) > 100, "python3: the dwarf unwinder recorded over 100 stacks", f"{len(a)}")
    ok(set(a) == set(b), "python3: dwarf and libunwind record the same stacks",
       f"only dwarf: {len(set(a) - set(b))}, only libunwind: {len(set(b) - set(a))}")
    ok(a == b, "python3: and the same counters for each")
    # CPython installs its SIGINT handler (KeyboardInterrupt) only where it
    # finds SIG_DFL: the tracer's handler must not be seen.
    ki = os.path.join(work, "ki.py")
    with open(ki, "w") as fh:
        fh.write("import signal, sys, time\n"
                 "print('handlers', *(signal.getsignal(s) for s in (signal.SIGTERM, "
                 "signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR2, signal.SIGSEGV)), "
                 "signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)\n"
                 "def wait():\n"
                 "    print('ready', flush=True)\n"
                 "    for _ in range(1200):  # short sleeps: a signal just before\n"
                 "        time.sleep(0.05)  # one would not cut a long one short\n"
                 "if sys.argv[1:] == ['uncaught']:\n"
                 "    wait()\n"
                 "try:\n"
                 "    wait()\n"
                 "except KeyboardInterrupt:\n"
                 "    sys.exit(5)\n")
    py = ["/usr/bin/python3", ki]
    q = run_signalled("python3 KeyboardInterrupt untraced", py, [signal.SIGINT], 5,
                      traced=False)[0]
    p, traces = run_signalled("python3 KeyboardInterrupt", py, [signal.SIGINT], 5)
    ok(p.stdout.splitlines()[:1] == q.stdout.splitlines()[:1] and
       q.stdout.startswith("handlers 0 0 0 0 0 True\n"),  # 0 = SIG_DFL, None = unknown
       "python3: signal.getsignal() answers as untraced", f"{p.stdout!r} / {q.stdout!r}")
    t = one_trace("python3 KeyboardInterrupt", traces)
    if t:
        check_trace("python3 KeyboardInterrupt", t, ("exit", 5), [], None)
    run_signalled("python3 uncaught KeyboardInterrupt untraced", py + ["uncaught"],
                  [signal.SIGINT], -2, traced=False)
    # It ends by restoring SIG_DFL and killing itself with SIGINT.
    p, traces = run_signalled("python3 uncaught KeyboardInterrupt", py + ["uncaught"],
                              [signal.SIGINT], -2)
    t = one_trace("python3 uncaught KeyboardInterrupt", traces)
    if t:
        check_trace("python3 uncaught KeyboardInterrupt", t, ("signal", 2), [], None)
git = "/usr/bin/git"
if os.path.exists(git):
    repo = os.path.join(work, "repo")
    os.mkdir(repo)
    subprocess.run([git, "init", "-q", repo], check=True)
    with open(os.path.join(repo, "f.txt"), "w") as fh:
        fh.write("hello\n" * 1000)
    subprocess.run([git, "-C", repo, "add", "f.txt"], check=True)
    real_program("git commit", [git, "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t",
                                "commit", "-q", "-m", "m"], 0)
    real_program("git log", [git, "-C", repo, "log", "--oneline"], 0)
sqlite = "/usr/bin/sqlite3"
if os.path.exists(sqlite):
    csv = os.path.join(work, "rows.csv")
    with open(csv, "w") as fh:
        fh.writelines(f"{i},row{i},{i * 2}\n" for i in range(5000))
    db = os.path.join(work, "db.sqlite")
    real_program("sqlite3", [sqlite, db, "create table t(a, b, c);", ".mode csv",
                             f".import {csv} t", "select count(*) from t;"], 0)
    q = subprocess.run([sqlite, db, "select count(*), sum(a) from t;"], capture_output=True,
                       text=True)
    ok(q.stdout.strip() == "5000|12497500", "sqlite3: 5000 rows imported under the tracer",
       q.stdout)

# --- sampling mode (HEAPGROW_SAMPLE_BYTES): every contract and allocator ----
# At a mean of 64 bytes between samples, blocks below ~64 bytes are sampled
# about half the time and larger ones almost always (the seed is fixed, so
# the outcome is too): pages hold sampled and unsampled blocks side by side,
# and every free goes through the page map. Each program's own checks must
# pass (a free of an unsampled block handed to the wrong place, or a sampled
# one not erased, breaks them or the trace), the blocks it leaks on purpose
# (all large) are in the final live set, and no block of its own is left in
# the live set that it did not leak: every free of a sampled block found it.
SAMPLE_ENV = {"HEAPGROW_SAMPLE_BYTES": "64", "HEAPGROW_SAMPLE_SEED": "1"}


def check_sampled(name, t, end, leaks, exe):
    d = check_trace(name, t, end, leaks, exe)
    ok(" sample_bytes=64 " in (d["header"] or ""), f"{name}: header records sample_bytes=64",
       d["header"])
    with gzip.open(t) as g:
        ok(g.read(9)[8] == 2, f"{name}: a sampled trace is format version 2")
    mine = {a for a, (size, sid, *_) in (d["live"] or {}).items()
            if d["stacks"].get(sid) and module_of(d, d["stacks"][sid][0]) is not None
            and os.path.realpath(module_of(d, d["stacks"][sid][0])) == os.path.realpath(exe)}
    stale = sorted(mine - {a for a, _ in leaks})
    ok(not stale, f"{name}: every sampled block the program freed left the live table",
       f"still live: {[hex(a) for a in stale]}")
    return d


for name, argv, pre, env, status in [
        ("sampled contract", [CFG["contract"]], [], {}, 7),
        ("sampled jemalloc", [CFG.get("contract_jemalloc")], [], {}, 7),
        ("sampled tcmalloc", [CFG["contract"]], [CFG.get("tcmalloc")], {"E2E_TCMALLOC": "1"}, 7),
        ("sampled c++", [CFG["cxx"]], [], {}, 3),
        ("sampled threads", [CFG["threads"]], [], {}, 0)]:
    if argv[0] is None or None in pre:
        continue
    p, traces = run(name, argv, status, preload_extra=pre, env_extra=dict(SAMPLE_ENV, **env))
    t = one_trace(name, traces)
    if t:
        check_sampled(name, t, ("exit", status), leaks_of(p.stdout), argv[0])

# A fork child keeps sampling: its trace is sampled at the same rate, with the
# parent's sampled blocks inherited and its own sampled.
p, traces = run("sampled fork", [CFG["fork"]], 0, env_extra=SAMPLE_ENV)
m = re.search(r"CHILDREN (\d+) (\d+)", p.stdout)
ok(m is not None and len(traces) == 3, "sampled fork: one trace per process",
   f"{sorted(traces)} / {p.stdout}")
if m and len(traces) == 3:
    c1, c2 = int(m.group(1)), int(m.group(2))
    parent = [pid for pid in traces if pid not in (c1, c2)][0]
    pl = leaks_of(p.stdout, parent)
    check_sampled("sampled fork parent", traces[parent], ("exit", 0), pl, CFG["fork"])
    d = check_sampled("sampled fork child", traces[c1], ("exit", 5),
                      pl + leaks_of(p.stdout, c1), CFG["fork"])
    ok("flags=1" in (d["header"] or ""), "sampled fork child: header has the fork flag",
       d["header"])
    check_sampled("sampled fork child _exit", traces[c2], ("_exit", 6),
                  pl + leaks_of(p.stdout, c2), CFG["fork"])

# An invalid rate keeps exact mode (the header says 0) with one message.
p, traces = run("bad sample", [CFG["ending"], "return"], 0,
                env_extra={"HEAPGROW_SAMPLE_BYTES": "512KB"})
t = one_trace("bad sample", traces)
if t:
    d = check_trace("bad sample", t, ("exit", 0), leaks_of(p.stdout), CFG["ending"])
    ok(" sample_bytes=0 " in (d["header"] or ""), "bad sample: header records sample_bytes=0",
       d["header"])
    ok(p.stderr.count("invalid HEAPGROW_* value") == 1, "bad sample: one message", p.stderr)

# --- secure-execution mode: a set-user-ID program stays untraced ----------
def nosuid(path):
    return bool(os.statvfs(path).f_flag & os.ST_NOSUID)


def secure_mode():
    name = "setuid"
    if os.geteuid() != 0:
        return skip(name, "needs root to make a set-user-ID program of another user")
    bases = [b for b in (tempfile.gettempdir(), CFG["scratch"]) if not nosuid(b)]
    if not bases:
        return skip(name, f"{tempfile.gettempdir()} and {CFG['scratch']} are mounted nosuid")
    d = tempfile.mkdtemp(prefix="hg-e2e-suid-", dir=bases[0])
    try:
        secure_runs(name, d)
    finally:
        shutil.rmtree(d)  # no set-user-ID file of nobody's left behind


def secure_runs(name, d):
    # The program finds the library through its relative RUNPATH
    # "hgsecure-lib", from the working directory d; the loader opens it as
    # nobody in the set-user-ID run, hence the modes.
    os.chmod(d, 0o755)
    os.mkdir(os.path.join(d, "hgsecure-lib"), 0o755)
    shutil.copy(LIB, os.path.join(d, "hgsecure-lib", "libheapgrow.so"))
    out = os.path.join(d, "out")
    os.mkdir(out)
    os.chmod(out, 0o777)  # nobody could write a trace here: only the tracer stops it
    env = dict(os.environ, HEAPGROW_OUTPUT=os.path.join(out, "t.%p.hgt"))
    env.pop("LD_PRELOAD", None)
    env.pop("LD_LIBRARY_PATH", None)  # (meson test sets it) both runs use the copy
    for kind, want_secure, want_api in [("plain", 0, 0), ("suid", 1, -1)]:
        prog = os.path.join(d, kind)
        with open(CFG["secure"], "rb") as src, open(prog, "wb") as dst:
            dst.write(src.read())
        if kind == "suid":
            os.chown(prog, 65534, 65534)
            os.chmod(prog, 0o4755)
        else:
            os.chmod(prog, 0o755)
        before = set(os.listdir(out))
        p = subprocess.run([prog], capture_output=True, text=True, env=env, cwd=d, timeout=60)
        new = sorted(set(os.listdir(out)) - before)
        ok((p.returncode, p.stdout, p.stderr) ==
           (0, f"AT_SECURE={want_secure} API={want_api}\n", ""),
           f"{name} [{kind}]: the program runs undisturbed, AT_SECURE={want_secure}, "
           f"hg_request_dump() = {want_api}", f"{p.returncode} {p.stdout!r} {p.stderr!r}")
        if kind == "plain":
            # The control: the same library linked the same way traces (the
            # program and its fork child).
            ok(len(new) == 2, f"{name} [plain]: two traces written", f"{new}")
        else:
            ok(new == [], f"{name} [suid]: no trace written", f"{new}")


secure_mode()

# --- HEAPGROW_OUTPUT unwritable: the program runs untraced with its status and
# one message.

p = subprocess.run([CFG["ending"], "exit"], capture_output=True, text=True,
                   env=dict(os.environ, LD_PRELOAD=LIB,
                            HEAPGROW_OUTPUT="/nonexistent-dir/x.hgt"))
ok(p.returncode == 12, "unwritable output: program keeps its exit status", p.stderr)
ok(p.stderr.count("heapgrow:") == 1, "unwritable output: one message", p.stderr)

print(f"1..{len(results)}")
for i, (good, name, diag) in enumerate(results, 1):
    print(f"{'ok' if good else 'not ok'} {i} - {name}")
    if not good and diag:
        for line in str(diag).splitlines()[:20]:
            print(f"# {line}")
