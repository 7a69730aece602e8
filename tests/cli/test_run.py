#!/usr/bin/env python3
"""`heapgrow run` and the command line around it, end to end (TAP).

argv: HEAPGROW STATIC_EXE. Each case runs the real heapgrow binary in a fresh
temporary directory and asserts exact exit statuses, messages, argv and
environment as the program sees them. Nothing here needs a trace: every run
uses --no-report, and the checks are about the launcher (docs/USAGE.md).
"""
import os
import signal
import stat
import subprocess
import sys
import tempfile

HEAPGROW = os.path.abspath(sys.argv[1])
STATIC_EXE_ARG = sys.argv[2] if len(sys.argv) > 2 else ""
STATIC_EXE = os.path.abspath(STATIC_EXE_ARG) if STATIC_EXE_ARG else ""
# Programs that carry Go's .go.buildinfo section (tests/cli/fake_go.c), linked
# dynamically and statically; "" when not built.
FAKE_GO_DYN = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else ""
FAKE_GO_STATIC = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else ""
LIB_DIR = os.path.join(os.path.dirname(os.path.dirname(HEAPGROW)), "preload")
LIB = os.path.realpath(os.path.join(LIB_DIR, "libheapgrow.so"))

cases = []


class Skip(Exception):
    pass


def case(fn):
    cases.append(fn)
    return fn


def run(args, cwd, env=None, **kw):
    e = dict(os.environ)
    e.pop("HEAPGROW_LIB", None)
    e.pop("LD_PRELOAD", None)
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    return subprocess.run([HEAPGROW] + args, cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=60, **kw)


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


@case
def exit_status_zero_and_three(d):
    eq(run(["run", "--no-report", "--", "sh", "-c", "exit 0"], d).returncode, 0, "exit 0")
    eq(run(["run", "--no-report", "--", "sh", "-c", "exit 3"], d).returncode, 3, "exit 3")
    eq(run(["run", "--no-report", "sh", "-c", "exit 42"], d).returncode, 42, "without --")


@case
def killed_by_signal_is_128_plus_n(d):
    eq(run(["run", "--no-report", "--", "sh", "-c", "kill -TERM $$"], d).returncode, 143,
       "SIGTERM")
    eq(run(["run", "--no-report", "--", "sh", "-c", "kill -KILL $$"], d).returncode, 137,
       "SIGKILL")


@case
def arguments_pass_through_untouched(d):
    args = ["a b", 'q"uote', "it's", "", "--no-report", "-o", "$HOME", "*"]
    r = run(["run", "--no-report", "--", "sh", "-c", 'for a in "$@"; do printf "[%s]\\n" "$a"; done',
             "argv0"] + args, d)
    eq(r.returncode, 0, "status")
    eq(r.stdout, "".join(f"[{a}]\n" for a in args), "argv seen by the program")


@case
def program_found_on_path(d):
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    prog = os.path.join(bindir, "myprog")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\necho \"found $1\"\nexit 5\n")
    os.chmod(prog, 0o755)
    r = run(["run", "--no-report", "--", "myprog", "x y"], d,
            env={"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
    eq(r.returncode, 5, "status")
    eq(r.stdout, "found x y\n", "stdout")


@case
def missing_program_is_127(d):
    r = run(["run", "--no-report", "--", "no-such-program-hg", "a"], d)
    eq(r.returncode, 127, "status")
    eq(r.stderr, "heapgrow: no-such-program-hg: command not found\n", "message")
    eq(os.listdir(d), [], "no trace file for a program that never ran")


@case
def not_executable_is_126(d):
    p = os.path.join(d, "data.txt")
    with open(p, "w") as f:
        f.write("not a program\n")
    r = run(["run", "--no-report", "--", p], d)
    eq(r.returncode, 126, "status")
    eq(r.stderr, f"heapgrow: {p}: Permission denied\n", "message")


@case
def existing_output_is_refused(d):
    out = os.path.join(d, "out.hgt")
    with open(out, "w") as f:
        f.write("precious")
    r = run(["run", "--no-report", "-o", out, "--", "sh", "-c", "echo ran"], d)
    eq(r.returncode, 2, "status")
    eq(r.stdout, "", "the program did not run")
    eq(r.stderr, f"heapgrow: {out} exists; not overwriting it (use --force)\n", "message")
    eq(open(out).read(), "precious", "file untouched")
    r = run(["run", "--no-report", "--force", "-o", out, "--", "sh", "-c", "echo ran"], d)
    eq(r.returncode, 0, "status with --force")
    eq(r.stdout, "ran\n", "ran with --force")
    assert not os.path.exists(out) or open(out, "rb").read() != b"precious", "old file removed"


@case
def missing_output_directory_refused(d):
    r = run(["run", "--no-report", "-o", "nodir/t.hgt", "--", "sh", "-c", "echo ran"], d)
    eq(r.returncode, 2, "status")
    eq(r.stdout, "", "not run")
    eq(r.stderr, f"heapgrow: cannot write the trace in {os.path.realpath(d)}/nodir: "
       "No such file or directory\n", "message")


@case
def environment_of_the_program(d):
    os.mkdir(os.path.join(d, "sub"))
    r = run(["run", "--no-report", "-o", "sub/t.hgt", "--interval", "250", "--sample", "4096",
             "--max-frames", "32", "--wrapper", "my_alloc", "--wrapper", "x*", "--", "sh", "-c",
             'printf "%s\\n" "$LD_PRELOAD" "$HEAPGROW_OUTPUT" "$HEAPGROW_ROOT_PID" "$$" '
             '"$HEAPGROW_INTERVAL_MS" "$HEAPGROW_SAMPLE_BYTES" "$HEAPGROW_MAX_FRAMES" '
             '"$HEAPGROW_WRAPPERS"'], d,
            env={"LD_PRELOAD": "libm.so.6", "HEAPGROW_WRAPPERS": "pool_get"})
    eq(r.returncode, 0, "status: " + r.stderr)
    lines = r.stdout.split("\n")
    eq(lines[0], LIB + ":libm.so.6", "LD_PRELOAD: ours first, the user's kept")
    eq(lines[1], os.path.join(os.path.realpath(d), "sub/t.hgt"), "HEAPGROW_OUTPUT absolute")
    eq(lines[2], lines[3], "HEAPGROW_ROOT_PID is the program's pid")
    eq(lines[4:8], ["250", "4096", "32", "pool_get,my_alloc,x*"], "settings")


@case
def default_output_name(d):
    r = run(["run", "--no-report", "--", "sh", "-c", 'echo "$HEAPGROW_OUTPUT $$"'], d)
    eq(r.returncode, 0, "status")
    out, pid = r.stdout.split()
    eq(out, os.path.join(os.path.realpath(d), f"heapgrow.sh.{pid}.hgt"), "default name")
    assert out in r.stderr, f"heapgrow names the file: {r.stderr!r}"


@case
def output_pattern_expanded(d):
    r = run(["run", "--no-report", "-o", "t.%e.%p.hgt", "--", "sh", "-c",
             'echo "$HEAPGROW_OUTPUT $$"'], d)
    out, pid = r.stdout.split()
    eq(out, os.path.join(os.path.realpath(d), f"t.sh.{pid}.hgt"), "%e and %p")
    r = run(["run", "--no-report", "-o", "t%%.hgt", "--", "sh", "-c", 'echo "$HEAPGROW_OUTPUT"'],
            d)
    eq(r.stdout, os.path.join(os.path.realpath(d), "t%%.hgt") + "\n",
       "a literal % reaches the library as %%")
    assert os.path.join(os.path.realpath(d), "t%.hgt") in r.stderr, r.stderr
    r = run(["run", "--no-report", "-o", "t.%x.hgt", "--", "sh", "-c", "echo ran"], d)
    eq(r.returncode, 2, "unknown % sequence")
    eq(r.stdout, "", "not run")


@case
def static_executable_refused(d):
    if not STATIC_EXE_ARG:
        raise Skip("no static libc to build a static program with")
    r = run(["run", "--no-report", "--", STATIC_EXE], d)
    eq(r.returncode, 2, "status")
    eq(r.stdout, "", "not run")
    eq(r.stderr, f"heapgrow: {STATIC_EXE} is statically linked: the dynamic loader never runs, "
       "so LD_PRELOAD cannot trace it (rebuild it dynamically linked)\n", "message")


@case
def setuid_program_runs_untraced_with_a_warning(d):
    if os.geteuid() != 0:
        raise Skip("needs root to make a set-user-ID file of another user")
    prog = os.path.join(d, "suid_true")
    with open("/bin/true", "rb") as src, open(prog, "wb") as dst:
        dst.write(src.read())
    os.chown(prog, 65534, 65534)
    os.chmod(prog, 0o4755)
    r = run(["run", "--no-report", "--", prog], d)
    eq(r.returncode, 0, "status")
    assert r.stderr.startswith(f"heapgrow: warning: {prog} is set-user/group-ID: the loader "
                               "ignores LD_PRELOAD in secure-execution mode, so it runs "
                               "untraced\n"), r.stderr


@case
def go_programs(d):
    if not FAKE_GO_DYN:
        raise Skip("fake Go programs not built")
    r = run(["run", "--no-report", "-o", "g.hgt", "--", FAKE_GO_DYN], d)
    eq((r.returncode, r.stdout), (0, "fake go\n"), "a dynamic Go program runs")
    assert r.stderr.startswith(f"heapgrow: warning: {FAKE_GO_DYN} is a Go program: only its C "
                               "allocations (cgo) are traced, not Go's own heap\n"), r.stderr
    if not FAKE_GO_STATIC:
        raise Skip("no static libc for the static one")
    r = run(["run", "--no-report", "--", FAKE_GO_STATIC], d)
    eq((r.returncode, r.stdout), (2, ""), "a static Go program is refused")
    eq(r.stderr, f"heapgrow: {FAKE_GO_STATIC} is a statically linked Go program: LD_PRELOAD "
       "cannot trace it, and Go's heap does not use malloc (use Go's pprof)\n", "message")


@case
def signals_are_forwarded(d):
    e = dict(os.environ, NO_COLOR="1")
    e.pop("LD_PRELOAD", None)
    for sig, script, want in [
            (signal.SIGTERM, "echo ready; exec sleep 600", 143),
            (signal.SIGUSR1, 'trap "exit 7" USR1; echo ready; while :; do sleep 0.05; done', 7),
            (signal.SIGINT, "echo ready; exec sleep 600", 130)]:
        p = subprocess.Popen([HEAPGROW, "run", "--no-report", "--", "sh", "-c", script], cwd=d,
                             env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        eq(p.stdout.readline(), "ready\n", "program started")
        p.send_signal(sig)
        p.wait(timeout=60)
        eq(p.returncode, want, f"status after {sig.name}")


@case
def sample_sizes(d):
    """--sample takes binary suffixes and hands the program the byte count."""
    for arg, want in [("0", "0"), ("4096", "4096"), ("512K", "524288"), ("512k", "524288"),
                      ("512KiB", "524288"), ("1M", "1048576"), ("2MiB", "2097152"),
                      ("1g", "1073741824"), ("1024G", "1099511627776"), ("100B", "100")]:
        r = run(["run", "--no-report", "--sample", arg, "--", "sh", "-c",
                 'echo "$HEAPGROW_SAMPLE_BYTES"'], d)
        eq((r.returncode, r.stdout), (0, want + "\n"), f"--sample {arg}: {r.stderr}")
    r = run(["run", "--no-report", "--sample", "512KB", "--", "sh", "-c", "echo ran"], d)
    eq((r.returncode, r.stdout), (2, ""), "--sample 512KB refused")
    eq(r.stderr, "heapgrow: --sample: '512KB': KB/MB/GB are ambiguous (1000 or 1024?); use K, "
       "M, G or KiB, MiB, GiB (1024)\n", "KB message")
    for arg in ["1025G", "1099511627777", "2T", "-1", "x", "K", "1.5M", ""]:
        r = run(["run", "--no-report", "--sample", arg, "--", "sh", "-c", "echo ran"], d)
        eq((r.returncode, r.stdout), (2, ""), f"--sample {arg!r} refused")
        eq(r.stderr, "heapgrow: --sample: expected a byte count from 0 to 1099511627776 (1 TiB), "
           f"optionally with a suffix K, M, G (KiB, MiB, GiB), got '{arg}'\n", f"{arg!r} message")


@case
def check_refuses_sampled_leak_gate(d):
    """A sampled run cannot be a leak gate: check refuses it before running
    anything, unless the gate is growth only."""
    msg = ("a sampled run can only be a growth gate: it sees a 64-byte leak with probability "
           "0.0122% and cannot classify reachability, so it would pass most leaks. Add "
           "--leak-kinds none --fail-on-growth to gate on estimated growth, or trace every "
           "allocation (no --sample) for the leak gate\n")
    r = run(["check", "--sample", "512K", "--", "sh", "-c", "echo ran"], d)
    eq((r.returncode, r.stdout), (2, ""), "check --sample refused")
    eq(r.stderr, "heapgrow: check: --sample 524288: " + msg, "message")
    r = run(["check", "--sample", "512K", "--fail-on-growth", "--", "sh", "-c", "echo ran"], d)
    eq((r.returncode, r.stdout), (2, ""), "still refused without --leak-kinds none")
    r = run(["check", "--leak-kinds", "none", "--", "sh", "-c", "echo ran"], d,
            env={"HEAPGROW_SAMPLE_BYTES": "512K"})
    eq((r.returncode, r.stdout), (2, ""), "the environment's rate is refused too")
    eq(r.stderr, "heapgrow: check: HEAPGROW_SAMPLE_BYTES 524288: " + msg, "message (env)")
    r = run(["check", "--sample", "0", "--", "sh", "-c", "echo ran"], d,
            env={"HEAPGROW_SAMPLE_BYTES": "512K"})
    eq((r.returncode, r.stdout), (0, "ran\n"), "--sample 0 overrides the environment: " + r.stderr)
    r = run(["check", "--sample", "512K", "--leak-kinds", "none", "--fail-on-growth", "--", "sh",
             "-c", 'echo "ran $HEAPGROW_SAMPLE_BYTES"'], d)
    eq((r.returncode, r.stdout), (0, "ran 524288\n"), "a growth-only gate may sample: " + r.stderr)
    assert r.stderr.endswith("; 0 growing sites; 1 sampled process: growth estimated, leaks not "
                             "checked.\n"), r.stderr


@case
def usage_errors(d):
    r = run(["run"], d)
    eq(r.returncode, 2, "run without program")
    assert r.stderr.startswith("heapgrow: run: no program given\nusage: heapgrow run"), r.stderr
    eq(run(["run", "--interval", "0", "--", "true"], d).returncode, 2, "--interval 0")
    eq(run(["run", "--interval", "1x", "--", "true"], d).returncode, 2, "--interval 1x")
    eq(run(["run", "--max-frames", "257", "--", "true"], d).returncode, 2, "--max-frames 257")
    eq(run(["run", "--bogus", "--", "true"], d).returncode, 2, "unknown option")
    eq(run(["frobnicate"], d).returncode, 2, "unknown command")
    eq(run([], d).returncode, 2, "no command")
    r = run(["check"], d)
    eq(r.returncode, 2, "check without program")
    assert r.stderr.startswith("heapgrow: check: no program given\nusage: heapgrow check"), r.stderr
    eq(run(["check", "--error-exitcode", "0", "--", "true"], d).returncode, 2,
       "--error-exitcode 0")
    eq(run(["check", "--help"], d).returncode, 0, "check --help")
    r = run(["--version"], d)
    eq(r.returncode, 0, "--version")
    assert r.stdout.startswith("heapgrow "), r.stdout
    eq(run(["--help"], d).returncode, 0, "--help")
    eq(run(["run", "--help"], d).returncode, 0, "run --help")


@case
def library_not_found(d):
    r = run(["run", "--no-report", "--", "true"], d, env={"HEAPGROW_LIB": "/nonexistent/lib.so"})
    eq(r.returncode, 2, "status")
    eq(r.stderr, "heapgrow: HEAPGROW_LIB=/nonexistent/lib.so: no such file\n", "message")


@case
def report_errors(d):
    r = run(["report", "nope.hgt"], d)
    eq(r.returncode, 2, "missing trace")
    assert r.stderr.startswith("heapgrow: nope.hgt: ") and r.stderr.count("\n") == 1, r.stderr
    junk = os.path.join(d, "junk.hgt")
    with open(junk, "w") as f:
        f.write("this is not a trace\n")
    r = run(["report", junk], d)
    eq(r.returncode, 2, "not a trace")
    assert r.stderr.startswith(f"heapgrow: {junk}: ") and r.stderr.count("\n") == 1, r.stderr
    r = run(["report", "-o", junk, junk], d)
    eq((r.returncode, r.stderr), (2, f"heapgrow: {junk} exists; not overwriting it (use --force)\n"),
       "-o existing")
    eq(run(["report", "--format", "xml", junk], d).returncode, 2, "--format xml")
    eq(run(["report", "--group-by", "line", junk], d).returncode, 2, "--group-by line")
    eq(run(["report"], d).returncode, 2, "no trace")
    eq(run(["report", junk, junk], d).returncode, 2, "two traces")


def main():
    print(f"1..{len(cases)}")
    failed = 0
    for i, fn in enumerate(cases, 1):
        with tempfile.TemporaryDirectory(prefix="hg_cli_") as d:
            try:
                fn(d)
                print(f"ok {i} - {fn.__name__}")
            except Skip as ex:
                print(f"ok {i} - {fn.__name__} # SKIP {ex}")
            except Exception as ex:  # noqa: BLE001 - report every failure as TAP
                failed += 1
                print(f"not ok {i} - {fn.__name__}")
                for line in str(ex).splitlines() or [repr(ex)]:
                    print(f"# {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
