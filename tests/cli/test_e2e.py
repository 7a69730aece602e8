#!/usr/bin/env python3
"""End to end: `heapgrow run` traces tests/cli/e2e_grow.c, `heapgrow report`
answers in JSON and text, and the answer names exactly the known sites (TAP).
Then the sites a symbolizer gets wrong (tests/cli/e2e_sites.c, e2e_plug.c,
e2e_cache.cpp, built -O2 -g): an inlined function, a static function, a call
through a user's wrapper, a library dlclose'd before exit, C++ methods.

argv: HEAPGROW E2E_GROW_EXE E2E_GROW_SOURCE E2E_SITES_EXE E2E_SITES_SOURCE
      E2E_PLUG_LIB E2E_PLUG_SOURCE E2E_CACHE_EXE E2E_CACHE_SOURCE
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HEAPGROW, PROG, SOURCE = (os.path.abspath(a) for a in sys.argv[1:4])
SITES, SITES_SRC, PLUG, PLUG_SRC, CACHE, CACHE_SRC = (os.path.abspath(a) for a in sys.argv[4:10])
STEPS = 60


def site_lines(source=SOURCE):
    lines = {}
    with open(source) as f:
        for no, text in enumerate(f, 1):
            if "SITE:" in text:
                lines[text.split("SITE:")[1].split()[0]] = no
    return lines


LINES = site_lines()


def hg(args, cwd, env_extra=None, **kw):
    env = dict(os.environ, NO_COLOR="1")
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        env.pop(k, None)
    env.update(env_extra or {})
    return subprocess.run([HEAPGROW] + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, **kw)


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def by_function(sites, name):
    found = [s for s in sites if s["function"] == name]
    eq(len(found), 1, f"sites named {name}")
    return found[0]


def check_program_sites(sites, what):
    g = by_function(sites, "grow_step")
    eq((os.path.basename(g["file"] or ""), g["line"]), ("e2e_grow.c", LINES["grow"]),
       f"{what}: grow_step file:line")
    eq(g["module"], os.path.realpath(PROG), f"{what}: grow_step module")
    eq((g["alloc_count"], g["alloc_bytes"]), (STEPS, STEPS * 4096), f"{what}: grow_step allocs")
    eq((g["end_live_bytes"], g["end_live_count"]), (STEPS * 4096, STEPS),
       f"{what}: grow_step live at end")
    # (the reachability split is tested in tests/reach/)
    eq({k: g["leaked"][k] for k in ("bytes", "count")}, {"bytes": STEPS * 4096, "count": STEPS},
       f"{what}: grow_step leaked")
    eq(g["growth"]["growing"], True, f"{what}: grow_step growing ({g['growth']['reason']})")
    eq(g["stack"][0]["function"], "grow_step", f"{what}: stack starts at the site")
    eq(g["stack"][1]["function"], "main", f"{what}: caller")

    lk = by_function(sites, "leak_once")
    eq(lk["line"], LINES["leak"], f"{what}: leak_once line")
    eq({k: lk["leaked"][k] for k in ("bytes", "count")}, {"bytes": 3000, "count": 3},
       f"{what}: leak_once leaked")
    eq(lk["growth"]["growing"], False, f"{what}: leak_once not growing")

    c = by_function(sites, "churn")
    eq(c["line"], LINES["churn"], f"{what}: churn line")
    eq((c["alloc_count"], c["alloc_bytes"]), (STEPS, STEPS * 512), f"{what}: churn allocs")
    eq({k: c["leaked"][k] for k in ("bytes", "count")}, {"bytes": 0, "count": 0},
       f"{what}: churn leaked")
    eq(c["growth"]["growing"], False, f"{what}: churn not growing")


cases = []


class Skip(Exception):
    """The case cannot run here (a missing facility, not a failure)."""


def case(fn):
    cases.append(fn)
    return fn


@case
def run_then_json_report(d):
    r = hg(["run", "--interval", "10", "-o", "out.hgt", "--", PROG], d)
    eq(r.returncode, 0, "status: " + r.stderr)
    out = os.path.join(os.path.realpath(d), "out.hgt")
    assert f"heapgrow: trace written to {out} (0 descendant traces)\n" in r.stderr, r.stderr
    assert "grow_step at " in r.stderr, "run prints the top sites: " + r.stderr
    r = hg(["report", "--format", "json", "out.hgt"], d)
    eq(r.returncode, 0, "report status: " + r.stderr)
    doc = json.loads(r.stdout)
    eq((doc["format"], doc["version"]), ("heapgrow-report", 1), "format")
    p = doc["process"]
    eq((p["ended_cleanly"], p["end_reason"], p["exit_status"], p["ended_early"]),
       (True, "exit", 0, None), "how it ended")
    eq(p["argv"], [PROG], "argv")
    eq(doc["processes"], [], "no descendants")
    check_program_sites(doc["sites"], "main")
    t = doc["totals"]
    assert t["alloc_count"] >= 2 * STEPS + 3, t
    assert t["end_live_bytes"] >= STEPS * 4096 + 3000, t


@case
def text_report(d):
    eq(hg(["run", "--no-report", "--interval", "10", "-o", "t.hgt", "--", PROG], d).returncode,
       0, "run")
    r = hg(["report", "t.hgt"], d)
    eq(r.returncode, 0, "status: " + r.stderr)
    lines = r.stdout.split("\n")
    assert lines[1].startswith("1 site grows, "), lines[1]
    assert f"grow_step at {SOURCE}:{LINES['grow']}" in r.stdout or \
        f"grow_step at e2e_grow.c:{LINES['grow']}" in r.stdout or \
        f":{LINES['grow']} (e2e_grow)" in r.stdout, r.stdout
    assert "\nLeaked at exit (by bytes)\n" in r.stdout, r.stdout
    assert "240.0 KiB in 60 blocks  grow_step at " in r.stdout, r.stdout
    assert "\033" not in r.stdout, "no colour when piped"
    r = hg(["report", "-o", "r.txt", "t.hgt"], d)
    eq((r.returncode, r.stdout), (0, ""), "report -o")
    with open(os.path.join(d, "r.txt")) as f:
        assert f.read().split("\n")[1].startswith("1 site grows, ")
    eq(hg(["report", "-o", "r.txt", "t.hgt"], d).returncode, 2, "no overwrite")
    eq(hg(["report", "--force", "-o", "r.txt", "--format", "json", "t.hgt"], d).returncode, 0,
       "--force")
    with open(os.path.join(d, "r.txt")) as f:
        eq(json.load(f)["format"], "heapgrow-report", "overwritten with JSON")


@case
def run_settings_reach_the_trace(d):
    r = hg(["run", "--no-report", "--interval", "25", "--wrapper", "my_*", "-o", "s.hgt", "--",
            PROG], d)
    eq(r.returncode, 0, "status: " + r.stderr)
    p = json.loads(hg(["report", "--format", "json", "s.hgt"], d).stdout)["process"]
    eq((p["interval_ms"], p["wrappers"]), (25, "my_*"), "settings recorded in the header")


@case
def killed_program_ends_early(d):
    r = hg(["run", "--interval", "10", "-o", "k.hgt", "--", PROG, "kill"], d)
    eq(r.returncode, 137, "128 + SIGKILL: " + r.stderr)
    assert "trace written to " in r.stderr, r.stderr
    assert "leaks unknown" in r.stderr, "the summary says leaks are unknown: " + r.stderr
    doc = json.loads(hg(["report", "--format", "json", "k.hgt"], d).stdout)
    p = doc["process"]
    eq((p["ended_cleanly"], p["end_reason"], p["exit_status"], p["has_final_live_set"]),
       (False, None, None, False), "no end marker")
    assert p["ended_early"].startswith("trace ends at "), p["ended_early"]
    eq(p["argv"], [PROG, "kill"], "argv")
    g = by_function(doc["sites"], "grow_step")
    eq(g["leaked"], {"bytes": None, "count": None}, "leaks unknown, not zero")
    eq(g["growth"]["growing"], True, "still growing: " + str(g["growth"]["reason"]))


def interrupt(args, d, env=None, group=False):
    """Runs heapgrow ARGS (whose program is e2e_grow "wait"), and once the
    program says "ready" sends SIGINT: to heapgrow, which forwards it (kill
    heapgrow's pid), or with group=True to the whole process group, which
    reaches the program directly and again through heapgrow."""
    import signal
    e = dict(os.environ, NO_COLOR="1", **(env or {}))
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        e.pop(k, None)
    p = subprocess.Popen([HEAPGROW] + args, cwd=d, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=group)
    eq(p.stdout.readline(), "ready\n", "the program started")
    if group:
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(args, p.returncode, out, err)


def check_interrupted_trace(d, trace):
    doc = json.loads(hg(["report", "--format", "json", trace], d).stdout)
    p = doc["process"]
    eq((p["ended_cleanly"], p["end_reason"], p["exit_status"], p["signal"],
        p["has_final_live_set"], p["has_reachability"], p["ended_early"]),
       (True, "signal", None, 2, True, True, None), "ended by SIGINT, with its final live set")
    g = by_function(doc["sites"], "grow_step")
    eq((g["end_live_bytes"], g["end_live_count"]), (STEPS * 4096, STEPS), "grow_step live")
    eq(g["leaked"], {"bytes": STEPS * 4096, "count": STEPS,
                     "definite": {"bytes": 4096, "count": 1},
                     "indirect": {"bytes": (STEPS - 1) * 4096, "count": STEPS - 1},
                     "possible": {"bytes": 0, "count": 0},
                     "reachable": {"bytes": 0, "count": 0}}, "grow_step leaked")
    eq(g["growth"]["growing"], True, "grow_step growing: " + str(g["growth"]["reason"]))
    lo = by_function(doc["sites"], "leak_once")
    eq((lo["leaked"]["bytes"], lo["leaked"]["count"], lo["leaked"]["definite"]),
       (3000, 3, {"bytes": 3000, "count": 3}), "leak_once leaked")


@case
def interrupted_program_keeps_its_leaks(d):
    r = interrupt(["run", "--interval", "10", "-o", "i.hgt", "--", PROG, "wait"], d)
    eq(r.returncode, 130, "128 + SIGINT: " + r.stderr)
    assert ", killed by signal 2\n" in r.stderr, r.stderr
    assert "leaks unknown" not in r.stderr and "without an end marker" not in r.stderr, r.stderr
    assert "240.0 KiB in 60 blocks  grow_step at " in r.stderr, r.stderr
    check_interrupted_trace(d, "i.hgt")


@case
def interrupted_process_group_keeps_its_leaks(d):
    r = interrupt(["run", "--no-report", "--interval", "10", "-o", "g.hgt", "--", PROG, "wait"],
                  d, group=True)
    eq(r.returncode, 130, "128 + SIGINT: " + r.stderr)
    check_interrupted_trace(d, "g.hgt")


@case
def interrupted_from_the_terminal_keeps_its_leaks(d):
    """Ctrl-C typed on the terminal: the tty sends SIGINT to the foreground
    process group (heapgrow and the program); heapgrow does not forward it."""
    import pty
    import termios
    try:
        master, slave = pty.openpty()
    except OSError as ex:  # a chroot without /dev/pts, say
        raise Skip(f"no pseudo-terminal here ({ex})") from ex
    e = dict(os.environ, NO_COLOR="1")
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        e.pop(k, None)

    def controlling_tty():
        os.setsid()
        import fcntl
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([HEAPGROW, "run", "--no-report", "--interval", "10", "-o", "t.hgt",
                          "--", PROG, "wait"], cwd=d, env=e, stdin=slave, stdout=slave,
                         stderr=subprocess.PIPE, preexec_fn=controlling_tty)
    os.close(slave)
    seen = b""
    while b"ready" not in seen:
        b = os.read(master, 4096)
        assert b, "the program's output ended early: " + repr(seen)
        seen += b
    os.write(master, b"\x03")  # ^C: the line discipline sends SIGINT (VINTR)
    try:
        while os.read(master, 4096):
            pass
    except OSError:  # EIO: the other side is closed
        pass
    os.close(master)
    eq(p.wait(timeout=300), 130, "128 + SIGINT: " + p.stderr.read().decode())
    check_interrupted_trace(d, "t.hgt")


@case
def interrupted_check_reports_leaks(d):
    r = interrupt(["check", "--", PROG, "wait"], d, env={"TMPDIR": d})
    eq(r.returncode, 130, "the program's status comes first: " + r.stderr)
    assert "\nSUMMARY: heapgrow: 248760 byte(s) leaked in 63 allocation(s).\n" in r.stderr, \
        r.stderr


def check(args, d):
    env = {"TMPDIR": d}
    e = dict(os.environ, NO_COLOR="1", **env)
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        e.pop(k, None)
    return subprocess.run([HEAPGROW, "check"] + args, cwd=d, env=e, capture_output=True,
                          text=True, timeout=300)


def leak_block(function, line, nbytes, count, kind="Direct leak"):
    return (f"{kind} of {nbytes} byte(s) in {count} object(s) allocated from:\n"
            f"    #0 0x", f" in {function} ", f"e2e_grow.c:{line} (e2e_grow)\n")


@case
def check_fails_on_leaks(d):
    r = check(["--", PROG], d)
    eq(r.returncode, 23, "status: " + r.stderr)
    # The list lost its head: 1 direct leak, the rest indirect (docs/LEAKS.md).
    for fn, site, nbytes, count, kind in [
            ("grow_step", "grow", 4096, 1, "Direct leak"),
            ("grow_step", "grow", (STEPS - 1) * 4096, STEPS - 1, "Indirect leak"),
            ("leak_once", "leak", 3000, 3, "Direct leak")]:
        head, mid, tail = leak_block(fn, LINES[site], nbytes, count, kind)
        i = r.stderr.find(head)
        assert i >= 0, f"{fn} block: " + r.stderr
        first = r.stderr[i:].split("\n")[1] + "\n"
        assert mid in first and first.endswith(tail), first
    assert r.stderr.find("grow_step") < r.stderr.find("leak_once"), "largest leak first"
    assert "\nSUMMARY: heapgrow: 248760 byte(s) leaked in 63 allocation(s).\n" in r.stderr, \
        r.stderr
    kept = [n for n in os.listdir(d) if n.startswith("heapgrow-check.")]
    eq(len(kept), 1, "traces kept when the check fails")
    assert f"heapgrow: traces kept in {os.path.join(d, kept[0])} " in r.stderr, r.stderr


@case
def check_suppressions_and_limits(d):
    supp = os.path.join(d, "supp.txt")
    with open(supp, "w") as f:
        f.write("# ours\nleak:grow_step\n\n  leak:e2e_grow.c  \n")
    r = check(["--suppressions", supp, "--", PROG], d)
    eq(r.returncode, 0, "status: " + r.stderr)
    eq(r.stderr, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 2 sites suppressed.\n",
       "report")
    eq([n for n in os.listdir(d) if n.startswith("heapgrow-check.")], [],
       "traces removed when the check passes")
    eq(check(["--max-leak-bytes", "248760", "--", PROG], d).returncode, 0, "at the limit")
    eq(check(["--max-leak-bytes", "248759", "--error-exitcode", "7", "--", PROG], d).returncode,
       7, "over the limit, own exit code")
    r = check(["--suppressions", supp, "--fail-on-growth", "--", PROG], d)
    eq(r.returncode, 23, "growth fails")
    assert "\nGrowth of " in r.stderr and " in grow_step " in r.stderr, r.stderr
    assert "; 1 growing site; 2 sites suppressed.\n" in r.stderr, r.stderr
    with open(supp, "a") as f:
        f.write("growth:grow_step\n")
    eq(check(["--suppressions", supp, "--fail-on-growth", "--", PROG], d).returncode, 0,
       "growth suppressed")
    with open(supp, "a") as f:
        f.write("grow_step\n")
    r = check(["--suppressions", supp, "--", PROG], d)
    eq((r.returncode, r.stderr),
       (2, f"heapgrow: {supp}:6: expected leak:PATTERN or growth:PATTERN\n"), "malformed")


@case
def check_program_failure_comes_first(d):
    r = check(["--", PROG, "kill"], d)
    eq(r.returncode, 137, "the program's status: " + r.stderr)
    assert "leaks unknown" in r.stderr, r.stderr
    r = check(["-o", "kept.hgt", "--", "sh", "-c", "exit 3"], d)
    eq(r.returncode, 3, "exit 3")
    assert os.path.exists(os.path.join(d, "kept.hgt")), "-o keeps the trace"


def report_on_terminal(d, trace, no_color):
    """Runs `heapgrow report TRACE` with stdout on a pseudo-terminal."""
    import pty
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    if no_color is not None:
        env["NO_COLOR"] = no_color
    try:
        master, slave = pty.openpty()
    except OSError as ex:  # a chroot without /dev/pts, say
        raise Skip(f"no pseudo-terminal here ({ex})") from ex
    p = subprocess.Popen([HEAPGROW, "report", trace], cwd=d, env=env, stdout=slave,
                         stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    eq(p.wait(timeout=60), 0, "status")
    return b"".join(chunks).decode()


@case
def colour_only_on_a_terminal_without_no_color(d):
    eq(hg(["run", "--no-report", "--interval", "10", "-o", "c.hgt", "--", PROG], d).returncode,
       0, "run")
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    piped = subprocess.run([HEAPGROW, "report", "c.hgt"], cwd=d, env=env, capture_output=True,
                           text=True, timeout=60)
    assert "\033[" not in piped.stdout, "piped: no colour"
    tty = report_on_terminal(d, "c.hgt", None)
    assert "\033[1;31m1 site grows" in tty, repr(tty[:300])
    assert "\033[" not in report_on_terminal(d, "c.hgt", "1"), "NO_COLOR=1: no colour"
    assert "\033[1;31m1 site grows" in report_on_terminal(d, "c.hgt", ""), \
        "NO_COLOR empty: colour"


@case
def descendants_are_reported(d):
    r = hg(["run", "--no-report", "--interval", "10", "-o", "fam.hgt", "--", "sh", "-c",
            '"$0"; exit 5', PROG], d)
    eq(r.returncode, 5, "status: " + r.stderr)
    doc = json.loads(hg(["report", "--format", "json", "fam.hgt"], d).stdout)
    main_pid = doc["process"]["pid"]
    progs = [c for c in doc["processes"] if c["exe"] == os.path.realpath(PROG)]
    eq(len(progs), 1, "one descendant trace of the program: "
       + repr([(c["pid"], c["exe"]) for c in doc["processes"]]))
    c = progs[0]
    chain = {p["pid"]: p["parent_pid"] for p in doc["processes"]}
    pid = c["parent_pid"]
    for _ in range(len(chain)):
        if pid == main_pid or pid not in chain:
            break
        pid = chain[pid]
    eq(pid, main_pid, "the parent chain leads to the main process")
    eq(c["exit_status"], 0, "the program's own exit status")
    check_program_sites(c["sites"], "descendant")
    doc = json.loads(hg(["report", "--format", "json", "--no-children", "fam.hgt"], d).stdout)
    eq(doc["processes"], [], "--no-children")


# --- sites a symbolizer gets wrong (e2e_sites.c, e2e_plug.c, e2e_cache.cpp) ---

SITES_LINES = site_lines(SITES_SRC)
PLUG_LINES = site_lines(PLUG_SRC)
CACHE_LINES = site_lines(CACHE_SRC)
_traces = {}


def nm_symbols(path):
    """{name: (address, type letter)} of the ELF symbol table of path."""
    r = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True, check=True)
    syms = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = (int(f[0], 16), f[1])
    return syms


def traced_report(key, run_args, report_args=(), env=None):
    """Runs `heapgrow run` once per key (in a directory kept until exit) and
    returns the JSON report of its trace, with report_args."""
    if key not in _traces:
        d = tempfile.mkdtemp(prefix="hg_e2e_sites_")
        r = hg(["run", "--no-report", "--interval", "10", "-o", "t.hgt"] + run_args, d)
        eq(r.returncode, 0, f"{key}: run status: " + r.stderr)
        _traces[key] = d
    d = _traces[key]
    r = hg(["report", "--format", "json"] + list(report_args) + ["t.hgt"], d,
           **({"env_extra": env} if env else {}))
    eq(r.returncode, 0, f"{key}: report status: " + r.stderr)
    doc = json.loads(r.stdout)
    eq((doc["process"]["end_reason"], doc["process"]["exit_status"]), ("exit", 0),
       f"{key}: the program exited 0")
    return doc


def sites_report(*report_args, env=None):
    return traced_report("sites", ["--", SITES, PLUG], report_args, env)


def check_site(s, function, source, line, module, size, what, caller=None):
    """Exact identity, counts and verdict of a site that allocated STEPS
    blocks of `size` bytes, one per step, and kept them all until exit."""
    eq((s["function"], os.path.basename(s["file"] or ""), s["line"]),
       (function, os.path.basename(source), line), f"{what}: function, file, line")
    eq(s["file"], source, f"{what}: the absolute source path")
    eq(s["module"], os.path.realpath(module), f"{what}: module")
    eq((s["alloc_count"], s["alloc_bytes"]), (STEPS, STEPS * size), f"{what}: allocations")
    eq((s["end_live_count"], s["end_live_bytes"], s["peak_live_bytes"]),
       (STEPS, STEPS * size, STEPS * size), f"{what}: live at end, peak")
    eq((s["leaked"]["count"], s["leaked"]["bytes"]), (STEPS, STEPS * size), f"{what}: leaked")
    eq(s["growth"]["growing"], True, f"{what}: growing ({s['growth']['reason']})")
    eq((s["stack"][0]["function"], s["stack"][0]["line"]), (function, line),
       f"{what}: the stack starts at the site")
    if caller is not None:
        eq(s["stack"][1]["function"], caller, f"{what}: caller")


@case
def inlined_function_is_its_own_site(d):
    syms = nm_symbols(SITES)
    assert "add_entry" not in syms and "main" in syms, \
        "add_entry must be inlined (no out-of-line copy): " + repr(sorted(syms))
    s = by_function(sites_report()["sites"], "add_entry")
    check_site(s, "add_entry", SITES_SRC, SITES_LINES["inline"], SITES, 2048, "add_entry",
               caller="main")
    top, caller = s["stack"][0], s["stack"][1]
    eq((top["inlined"], caller["inlined"]), (True, False), "add_entry inlined into main")
    eq(top["address"], caller["address"], "both frames from one return address")
    eq(caller["file"], SITES_SRC, "main's file")


@case
def static_function_is_named_by_its_own_symbol(d):
    syms = nm_symbols(SITES)
    before, static, after = (syms.get(n) for n in ("sites_before", "static_grow", "sites_after"))
    # The layout the case is about: a local symbol between two exported ones.
    assert before and static and after and before[1] == "T" and static[1] == "t" and \
        after[1] == "T" and before[0] < static[0] < after[0], (before, static, after)
    sites = sites_report()["sites"]
    check_site(by_function(sites, "static_grow"), "static_grow", SITES_SRC,
               SITES_LINES["static"], SITES, 2560, "static_grow", caller="main")
    eq([s["function"] for s in sites if s["function"] in ("sites_before", "sites_after")], [],
       "no site named after a neighbouring exported symbol")


@case
def no_frame_gets_a_file_line_it_is_not_in(d):
    """Code without DWARF of its own (_start, from crt1.o) sits between two
    ranges of e2e_sites.c's unit; it must not borrow that unit's lines."""
    own = {"add_entry", "static_grow", "wrapped_grow", "my_alloc_or_die", "main",
           "sites_before", "sites_after"}
    seen = set()
    for s in sites_report()["sites"]:
        for f in s["stack"]:
            if f["file"] == SITES_SRC:
                seen.add(f["function"])
                assert f["function"] in own, f"{f['function']} at {f['file']}:{f['line']}"
    assert "main" in seen, seen


@case
def user_wrapper_makes_its_caller_the_site(d):
    size, wline, cline = 3072, SITES_LINES["wrapper"], SITES_LINES["wrapped"]
    # Not named: the wrapper is an ordinary function, so it is the site.
    s = by_function(sites_report()["sites"], "my_alloc_or_die")
    check_site(s, "my_alloc_or_die", SITES_SRC, wline, SITES, size, "unnamed wrapper",
               caller="wrapped_grow")
    eq(s["stack"][1]["line"], cline, "the wrapper's caller's line")
    # Named at run time (recorded in the trace), at report time, or by the
    # environment: the site is the wrapper's caller, at its call.
    for how, doc in [
            ("run --wrapper", traced_report("sites-wrapped",
                                            ["--wrapper", "my_alloc_or_die", "--", SITES, PLUG])),
            ("report --wrapper GLOB", sites_report("--wrapper", "my_alloc_*")),
            ("HEAPGROW_WRAPPERS", sites_report(env={"HEAPGROW_WRAPPERS": "x*,my_alloc_or_die"}))]:
        sites = doc["sites"]
        eq([x for x in sites if x["function"] == "my_alloc_or_die"], [],
           f"{how}: no site in the wrapper")
        s = by_function(sites, "wrapped_grow")
        check_site(s, "wrapped_grow", SITES_SRC, cline, SITES, size, how, caller="main")
        eq(by_function(sites, "static_grow")["alloc_count"], STEPS, f"{how}: other sites kept")
    eq(traced_report("sites-wrapped", [])["process"]["wrappers"], "my_alloc_or_die",
       "recorded in the trace")


@case
def dlclosed_library_site_keeps_its_file_line(d):
    syms = nm_symbols(PLUG)
    eq(syms.get("plug_static_grow", (0, "?"))[1], "t", "plug_static_grow is a local symbol")
    s = by_function(sites_report()["sites"], "plug_static_grow")
    # plug_grow tail-calls it (-O2): its caller on the stack is main.
    check_site(s, "plug_static_grow", PLUG_SRC, PLUG_LINES["plug"], PLUG, 1536,
               "plug_static_grow", caller="main")


@case
def cxx_methods_are_demangled_sites(d):
    doc = traced_report("cache", ["--", CACHE])
    put = "Cache::put(unsigned long, unsigned long)"
    found = {s["line"]: s for s in doc["sites"] if s["function"] == put}
    eq(sorted(found), sorted([CACHE_LINES["put"], CACHE_LINES["index"]]),
       "two sites in Cache::put: the new and the map insert")
    # struct Entry: next, key, data[4000]
    check_site(found[CACHE_LINES["put"]], put, CACHE_SRC, CACHE_LINES["put"], CACHE, 4016,
               "new Entry", caller="main")
    # unordered_map::emplace, inlined from libstdc++ headers: the std:: frames
    # are the allocation path, the site is the line of the insert. 60 nodes of
    # 24 bytes and the bucket array are live; the arrays it outgrew are freed.
    ix = found[CACHE_LINES["index"]]
    eq((ix["file"], ix["module"]), (CACHE_SRC, os.path.realpath(CACHE)), "index: file, module")
    eq(ix["stack"][1]["function"], "main", "index: caller")
    eq(ix["end_live_count"], STEPS + 1, "index: live nodes and one bucket array")
    buckets = (ix["end_live_bytes"] - STEPS * 24) // 8
    assert (ix["end_live_bytes"] - STEPS * 24) % 8 == 0 and buckets >= STEPS, ix["end_live_bytes"]
    eq(ix["leaked"]["count"], STEPS + 1, "index: leaked")
    assert ix["alloc_count"] > STEPS + 1, "rehashing allocated more than one bucket array"
    eq(ix["growth"]["growing"], False, "index: a few KiB is below the gain threshold")


@case
def exec_after_fork_is_numbered(d):
    # bash forks a child for "$0" (dash would vfork, which starts no trace),
    # the child writes fam.<pid>.hgt, then execs the program in the same pid:
    # its trace is fam.<pid>.1.hgt (docs/USAGE.md, "Process families"), not
    # fam.<pid>.<pid>.hgt.
    if not os.path.exists("/bin/bash"):
        raise Skip("no /bin/bash")
    r = hg(["run", "--no-report", "--interval", "10", "-o", "fam.hgt", "--", "/bin/bash", "-c",
            '"$0"; exit 5', PROG], d)
    eq(r.returncode, 5, "status: " + r.stderr)
    doc = json.loads(hg(["report", "--format", "json", "fam.hgt"], d).stdout)
    progs = [c for c in doc["processes"] if c["exe"] == os.path.realpath(PROG)]
    eq(len(progs), 1, "one trace of the program: " + repr(sorted(os.listdir(d))))
    pid = progs[0]["pid"]
    eq(sorted(os.listdir(d)), sorted(["fam.hgt", f"fam.{pid}.hgt", f"fam.{pid}.1.hgt"]),
       "trace names")
    eq(os.path.basename(progs[0]["trace"]), f"fam.{pid}.1.hgt", "the program's trace")
    check_program_sites(progs[0]["sites"], "exec'd program")


def main():
    print(f"1..{len(cases)}")
    failed = 0
    for i, fn in enumerate(cases, 1):
        with tempfile.TemporaryDirectory(prefix="hg_e2e_") as d:
            try:
                fn(d)
                print(f"ok {i} - {fn.__name__}")
            except Skip as ex:
                print(f"ok {i} - {fn.__name__} # SKIP {ex}")
            except Exception as ex:  # noqa: BLE001 - every failure as TAP
                failed += 1
                print(f"not ok {i} - {fn.__name__}")
                for line in str(ex).splitlines() or [repr(ex)]:
                    print(f"# {line}")
    for d in _traces.values():
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
