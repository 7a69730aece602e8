#!/usr/bin/env python3
"""Faults around a traced program (issue 7): SIGKILL at random moments, an
output directory that is missing or read-only, a file size limit reached
mid-run, a full filesystem. The program keeps running with its own output
and exit status intact, the tracer says what went wrong in one line, and
whatever trace was written is readable and marked as ended early.

usage: test_faults.py HEAPGROW LIBHEAPGROW STRESS_EXE [KILL_RUNS]
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "real"))
from hgtap import ok, skip, done, report_json  # noqa: E402

HG, LIB, EXE = sys.argv[1:4]
KILL_RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 30
TMP = tempfile.mkdtemp(prefix="hg-faults-")


def preload_env(trace):
    e = dict(os.environ)
    e.update({"LD_PRELOAD": LIB, "HEAPGROW_OUTPUT": trace, "HEAPGROW_INTERVAL_MS": "20"})
    return e


def hg_lines(stderr):
    return [ln for ln in stderr.splitlines() if ln.startswith("heapgrow")]


def check_ended_early(name, trace, write_error=None):
    """The report reads the partial trace and says it ended early; with
    write_error, also that writing it failed, and with which error."""
    rc, j, err = report_json(HG, trace)
    if not ok(rc == 0 and j is not None, name + ": the partial trace is readable", err):
        return
    p = j["process"]
    ok(p["ended_early"] is not None and not p["ended_cleanly"],
       name + ": the report says the trace ended early", repr(p))
    if write_error is not None:
        ok(p["write_error"] == write_error and
           p["ended_early"].startswith("trace incomplete: writing it stopped at ") and
           ("(%s)" % write_error) in p["ended_early"] and "killed" not in p["ended_early"],
           name + ": ... because writing failed (%s), not 'process killed?'" % write_error,
           repr(p))


# --- SIGKILL at random moments ----------------------------------------------
def kill_runs():
    bad = []
    for seed in range(KILL_RUNS):
        rng = random.Random(seed)
        trace = os.path.join(TMP, "kill%d.hgt" % seed)
        args = ["signal", "5000"] if seed % 2 else ["xthreads", "8", "2000000"]
        p = subprocess.Popen([EXE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=preload_env(trace), text=True)
        ready = p.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.6))
        p.send_signal(signal.SIGKILL)
        p.communicate()
        what = "seed %d (%s)" % (seed, args[0])
        if ready != "ready\n" or p.returncode != -signal.SIGKILL:
            bad.append(what + ": not killed as planned, rc %s" % p.returncode)
            continue
        if not os.path.exists(trace):
            bad.append(what + ": no trace")
            continue
        rc, j, err = report_json(HG, trace)
        if rc != 0 or j is None:
            bad.append(what + ": report failed: " + err.strip())
        elif j["process"]["ended_early"] is None or j["process"]["ended_cleanly"]:
            bad.append(what + ": not marked as ended early")
        elif any(s["leaked"]["bytes"] is not None for s in j["sites"]):
            bad.append(what + ": leaks claimed from a killed process")
        os.unlink(trace)
    ok(not bad, "SIGKILL at %d random moments: every trace readable, ended early, "
       "leaks unknown" % KILL_RUNS, "\n".join(bad))


# --- output directory missing / read-only ------------------------------------
def unwritable(name, trace):
    p = subprocess.run([EXE, "fork", "3"], capture_output=True, text=True,
                       env=preload_env(trace), timeout=120)
    ok(p.returncode == 0 and p.stdout == "ready\ndone fork\n",
       name + ": the program runs, output and exit status intact", p.stdout + p.stderr)
    lines = hg_lines(p.stderr)
    ok(len(lines) == 1 and trace in lines[0],
       name + ": one clear message naming the trace", p.stderr)


def try_mount(where, opts):
    if os.geteuid() != 0:
        return "not root"
    os.makedirs(where, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", where],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else "mount failed: " + r.stderr.strip()


def umount(where):
    subprocess.run(["umount", where], capture_output=True)


def full_trace(name, trace, env_extra=None, preexec=None, message="", args=("stacks", "17")):
    """The stacks program writes a ~1 MiB trace; something stops it short."""
    env = preload_env(trace)
    p = subprocess.run([EXE] + list(args), capture_output=True, text=True, env=env,
                       timeout=180, preexec_fn=preexec)
    ok(p.returncode == 0 and p.stdout == "ready\ndone %s\n" % args[0],
       name + ": the program runs, output and exit status intact", p.stdout + p.stderr)
    lines = hg_lines(p.stderr)
    ok(len(lines) == 1 and message in lines[0] and trace in lines[0],
       name + ": one clear message (%s)" % message, p.stderr)
    if os.path.exists(trace) and os.path.getsize(trace) > 0:
        check_ended_early(name, trace, write_error=message)
    else:
        ok(True, name + ": no trace at all (nothing could be written)")


def hostile_names():
    """A program whose path and arguments hold quotes, backslashes, control
    characters and invalid UTF-8: the JSON report stays valid JSON and gives
    the names back (invalid bytes as U+FFFD), its children's too."""
    d = os.path.join(TMP.encode(), b"w\"e\\i\x01rd\xff\xfe\x1b[31m dir\t")
    os.makedirs(d)
    exe = d + b"/pr\"og\x7f\xc3\x28"
    shutil.copy(EXE, exe)
    trace = os.path.join(TMP, "names.hgt")
    arg = b"2\x01\"\\\xff"
    p = subprocess.run([HG.encode(), b"run", b"--no-report", b"-o", trace.encode(), b"--",
                        exe, b"fork", arg], capture_output=True, timeout=120)
    ok(p.returncode == 0, "hostile names: the program runs", p.stderr)
    q = subprocess.run([HG, "report", "--format", "json", "--top", "0", trace],
                       capture_output=True, timeout=120)
    try:
        import json
        j = json.loads(q.stdout)
    except ValueError as e:
        return ok(False, "hostile names: the JSON report is valid JSON", repr(e))
    ok(q.returncode == 0, "hostile names: the JSON report is valid JSON")
    want = exe.decode("utf-8", "replace")
    ok(j["process"]["exe"] == want and
       j["process"]["argv"] == [want, "fork", arg.decode("utf-8", "replace")],
       "hostile names: exe and argv given back", repr(j["process"]))
    ok(len(j["processes"]) == 2 and all(c["exe"] == want for c in j["processes"]),
       "hostile names: in the children's reports too", repr(j["processes"])[:500])
    # The text outputs never pass a control byte or invalid UTF-8 through.
    esc = exe.replace(b"\\", b"\\\\")
    for b in (0x01, 0x09, 0x1b, 0x7f, 0xff, 0xfe, 0xc3):
        esc = esc.replace(bytes([b]), b"\\x%02x" % b)
    q = subprocess.run([HG, "report", "--top", "0", trace], capture_output=True, timeout=120,
                       env=dict(os.environ, NO_COLOR="1"))
    text_ok(q.stdout, esc, "hostile names: text report", q.stderr)
    q = subprocess.run([HG.encode(), b"check", b"--leak-kinds", b"all", b"--", exe, b"fork", arg],
                       capture_output=True, timeout=120)
    text_ok(q.stderr, esc, "hostile names: check's LeakSanitizer-shaped output", q.stderr)


def text_ok(out, esc, name, diag):
    """out holds no control byte but newlines, is valid UTF-8, and names the
    program by its escaped path."""
    bad = [b for b in out if b < 0x20 and b != 0x0a or b == 0x7f]
    try:
        out.decode("utf-8")
        is_utf8 = True
    except UnicodeDecodeError:
        is_utf8 = False
    ok(not bad and is_utf8, name + ": no control byte, valid UTF-8",
       "%r\n%r" % (sorted(set(bad)), diag[-2000:]))
    ok(esc in out, name + ": the program named by its escaped path",
       "%r not in\n%r" % (esc, out[-2000:]))


def main():
    hostile_names()
    kill_runs()
    unwritable("output directory missing", os.path.join(TMP, "missing", "t.hgt"))
    ro = os.path.join(TMP, "ro")
    why = try_mount(ro, "ro,size=1m")
    if why:
        skip("read-only output directory", why)
        skip("read-only output directory: message", why)
    else:
        try:
            unwritable("read-only output directory", os.path.join(ro, "t.hgt"))
        finally:
            umount(ro)

    def fsize():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, 100 * 1024))
    full_trace("ulimit -f 100 KiB", os.path.join(TMP, "fsize.hgt"), preexec=fsize,
               message="File too large")
    # The limit met by the final live set, which the program's own thread
    # writes at exit: SIGXFSZ there used to kill the program (status 153) and
    # lose its buffered output. 1,000,000 live blocks: their addresses are
    # written in table order, which follows address order, so they compress
    # well (300,000 make ~83 KB) and the limit must still be met.
    full_trace("ulimit -f 100 KiB reached at exit", os.path.join(TMP, "fsize-exit.hgt"),
               preexec=fsize, message="File too large", args=("exitlive", "1000000"))

    # The same through `heapgrow run`: its exit status is the program's.
    trace = os.path.join(TMP, "fsize-run.hgt")
    p = subprocess.run([HG, "run", "--no-report", "-o", trace, "--", EXE, "stacks", "17"],
                       capture_output=True, text=True, timeout=180, preexec_fn=fsize)
    ok(p.returncode == 0 and p.stdout == "ready\ndone stacks\n",
       "heapgrow run, ulimit -f: exit status and output intact", p.stdout + p.stderr)
    ok(sum("cannot write trace" in ln for ln in p.stderr.splitlines()) == 1,
       "heapgrow run, ulimit -f: the tracer's message once", p.stderr)
    ok("heapgrow: trace incomplete: writing it stopped at " in p.stderr and
       "(File too large); what was written is in " + trace in p.stderr and
       "trace written to" not in p.stderr,
       "heapgrow run, ulimit -f: says the trace is incomplete and why, not 'written to'",
       p.stderr)
    check_ended_early("heapgrow run, ulimit -f", trace, write_error="File too large")

    # `check` cannot vouch for a process whose trace it could not finish: the
    # program exited 0, so the gate's own status (23) says it failed, and why.
    p = subprocess.run([HG, "check", "--", EXE, "stacks", "17"], capture_output=True, text=True,
                       timeout=180, preexec_fn=fsize)
    ok(p.returncode == 23 and p.stdout == "ready\ndone stacks\n",
       "heapgrow check, ulimit -f: the program's output intact, the gate fails (23)",
       f"{p.returncode}\n{p.stdout}{p.stderr}")
    ok(re.search(r"^heapgrow check: process \d+ \S+: its trace is incomplete \(writing it "
                 r"failed: .*File too large.*\), so its leaks cannot be checked$",
                 p.stderr, re.M) is not None and "; 1 incomplete trace." in p.stderr,
       "heapgrow check, ulimit -f: says which process, why, and in the summary", p.stderr)

    small = os.path.join(TMP, "small")
    why = try_mount(small, "size=256k")
    if why:
        for t in ("program intact", "message", "trace"):
            skip("full filesystem: " + t, why)
    else:
        try:
            full_trace("full 256 KiB filesystem", os.path.join(small, "t.hgt"),
                       message="No space left on device")
        finally:
            umount(small)


try:
    main()
finally:
    for d in ("ro", "small"):
        umount(os.path.join(TMP, d))
    shutil.rmtree(TMP, ignore_errors=True)
done()
