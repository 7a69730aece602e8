#!/usr/bin/env python3
"""End to end: `heapgrow run` traces tests/cli/e2e_grow.c, `heapgrow report`
answers in JSON and text, and the answer names exactly the known sites (TAP).

argv: HEAPGROW E2E_GROW_EXE E2E_GROW_SOURCE
"""
import json
import os
import subprocess
import sys
import tempfile

HEAPGROW, PROG, SOURCE = (os.path.abspath(a) for a in sys.argv[1:4])
STEPS = 60


def site_lines():
    lines = {}
    with open(SOURCE) as f:
        for no, text in enumerate(f, 1):
            if "SITE:" in text:
                lines[text.split("SITE:")[1].split()[0]] = no
    return lines


LINES = site_lines()


def hg(args, cwd, **kw):
    env = dict(os.environ, NO_COLOR="1")
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        env.pop(k, None)
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
