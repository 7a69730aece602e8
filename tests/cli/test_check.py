#!/usr/bin/env python3
"""`heapgrow check` end to end (TAP): the SARIF log (--sarif) of real runs
with exact numbers, the exit status rules, suppressions that match, do not
match or are malformed, and descendant processes checked and named.

argv: HEAPGROW E2E_GROW E2E_GROW_SOURCE REACH_CASES REACH_CASES_SOURCE

e2e_grow (tests/cli/e2e_grow.c) loses a 60-node list of 4096-byte nodes
(1 direct + 59 indirect) and 3 blocks of 1000 bytes, and grows; reach_cases
(tests/reach/reach_cases.c) "list" loses a 10-node list of 48-byte nodes
(1 + 9), "interior" keeps only an interior pointer to 200 bytes (possible),
"data" keeps 601 bytes reachable from globals (passes).
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sarif_check  # noqa: E402

HEAPGROW, GROW, GROW_SRC, REACH, REACH_SRC = (os.path.abspath(a) for a in sys.argv[1:6])
STEPS = 60


def grow_lines():
    lines = {}
    with open(GROW_SRC) as f:
        for no, text in enumerate(f, 1):
            if "SITE:" in text:
                lines[text.split("SITE:")[1].split()[0]] = no
    return lines


def reach_line(function, call):
    """The line of the first `call` in reach_cases.c's function `function`."""
    inside = False
    with open(REACH_SRC) as f:
        for no, text in enumerate(f, 1):
            if f" {function}(" in text and text.lstrip().startswith("__attribute__"):
                inside = True
            elif inside and call in text:
                return no
    raise AssertionError(f"{call} not found in {function}")


GROW_LINES = grow_lines()
LIST_LINE = reach_line("site_list", "malloc(")
INTERIOR_LINE = reach_line("site_interior", "calloc(")

cases = []


def case(fn):
    cases.append(fn)
    return fn


def check(args, d, cwd=None):
    e = dict(os.environ, NO_COLOR="1", TMPDIR=d)
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        e.pop(k, None)
    return subprocess.run([HEAPGROW, "check"] + args, cwd=cwd or d, env=e, capture_output=True,
                          text=True, timeout=300)


def eq(got, want, what):
    assert got == want, f"{what}:\n got  {got!r}\n want {want!r}"


def load(path):
    with open(path) as f:
        doc = json.load(f)
    sarif_check.validate(doc)
    return doc


def file_uri(path):
    return "file://" + urllib.parse.quote(os.path.realpath(path), safe="/-._~")


def no_temporaries(d):
    left = [n for n in os.listdir(d) if ".tmp." in n]
    eq(left, [], "temporary files left")


@case
def sarif_of_a_leaking_program(d):
    r = check(["--sarif", "out.sarif", "--", GROW], d)
    eq(r.returncode, 23, "status: " + r.stderr)
    doc = load(os.path.join(d, "out.sarif"))
    uri = file_uri(GROW_SRC)  # the sources are outside the working directory
    eq(sarif_check.results(doc), [
        ("heapgrow/definite-leak", "error", uri, None, GROW_LINES["grow"], "grow_step"),
        ("heapgrow/definite-leak", "error", uri, None, GROW_LINES["leak"], "leak_once"),
    ], "results")
    run = doc["runs"][0]
    pid = run["results"][0]["properties"]["pid"]
    exe = os.path.realpath(GROW)
    eq([res["message"]["text"] for res in run["results"]], [
        f"Direct leak of 4096 byte(s) in 1 object(s) allocated from grow_step, and "
        f"{(STEPS - 1) * 4096} byte(s) in {STEPS - 1} object(s) reachable only through them "
        f"(indirect leak), in process {pid} {exe}.",
        f"Direct leak of 3000 byte(s) in 3 object(s) allocated from leak_once, in process "
        f"{pid} {exe}.",
    ], "messages")
    p = run["results"][0]["properties"]
    eq((p["bytes"], p["objects"], p["indirectBytes"], p["indirectObjects"], p["isDescendant"]),
       (4096, 1, (STEPS - 1) * 4096, STEPS - 1, False), "properties")
    eq(f"heapgrow check: process {pid} {exe}\n" in r.stderr, True, "stderr names the process")
    frames = run["results"][0]["stacks"][0]["frames"]
    eq([f["location"]["logicalLocations"][0]["fullyQualifiedName"] for f in frames[:2]],
       ["grow_step", "main"], "stack")
    inv = run["invocations"][0]
    eq((inv["executionSuccessful"], inv["exitCode"], inv["arguments"]),
       (True, 23, ["check", "--sarif", "out.sarif", "--", GROW]), "invocation")
    eq(inv["workingDirectory"]["uri"], file_uri(d) + "/", "working directory")
    eq(run["tool"]["driver"]["name"], "heapgrow", "driver")
    no_temporaries(d)


@case
def sarif_paths_relative_to_the_working_directory(d):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(GROW_SRC))))
    out = os.path.join(d, "rel.sarif")
    r = check(["--sarif", out, "--", GROW], d, cwd=root)
    eq(r.returncode, 23, "status: " + r.stderr)
    doc = load(out)
    eq([x[2:5] for x in sarif_check.results(doc)],
       [("tests/cli/e2e_grow.c", "%SRCROOT%", GROW_LINES["grow"]),
        ("tests/cli/e2e_grow.c", "%SRCROOT%", GROW_LINES["leak"])], "relative locations")
    eq(doc["runs"][0]["originalUriBaseIds"], {"%SRCROOT%": {"uri": file_uri(root) + "/"}},
       "base")
    eq(os.listdir(root).count("rel.sarif"), 0, "nothing written in the working directory")


@case
def sarif_growth(d):
    supp = os.path.join(d, "supp")
    with open(supp, "w") as f:
        f.write("leak:*\n")
    r = check(["--fail-on-growth", "--suppressions", supp, "--sarif", "g.sarif", "--", GROW], d)
    eq(r.returncode, 23, "status: " + r.stderr)
    doc = load(os.path.join(d, "g.sarif"))
    eq(sarif_check.results(doc),
       [("heapgrow/growth", "error", file_uri(GROW_SRC), None, GROW_LINES["grow"], "grow_step")],
       "one growth result")
    res = doc["runs"][0]["results"][0]
    assert res["message"]["text"].startswith("Growth of "), res["message"]["text"]
    assert res["properties"]["slopeBytesPerSecond"] > 0, res["properties"]


@case
def descendants_are_checked_and_named_and_the_program_status_comes_first(d):
    r = check(["--sarif", "fam.sarif", "--", "sh", "-c", '"$0" list; "$0" interior; exit 4',
               REACH], d)
    eq(r.returncode, 4, "the program's own failure comes first: " + r.stderr)
    doc = load(os.path.join(d, "fam.sarif"))
    run = doc["runs"][0]
    uri = file_uri(REACH_SRC)
    eq(sarif_check.results(doc), [
        ("heapgrow/definite-leak", "error", uri, None, LIST_LINE, "site_list"),
        ("heapgrow/possible-leak", "error", uri, None, INTERIOR_LINE, "site_interior"),
    ], "results")
    exe = os.path.realpath(REACH)
    props = [res["properties"] for res in run["results"]]
    eq([(p["isDescendant"], p["exe"]) for p in props], [(True, exe), (True, exe)], "descendants")
    assert props[0]["pid"] != props[1]["pid"], props
    texts = [res["message"]["text"] for res in run["results"]]
    eq(texts[0], f"Direct leak of 48 byte(s) in 1 object(s) allocated from site_list, and 432 "
       f"byte(s) in 9 object(s) reachable only through them (indirect leak), in descendant "
       f"process {props[0]['pid']} (child of {props[0]['parentPid']}) {exe}.", "list message")
    eq(texts[1], f"Possible leak of 200 byte(s) in 1 object(s) allocated from site_interior, in "
       f"descendant process {props[1]['pid']} (child of {props[1]['parentPid']}) {exe}.",
       "interior message")
    for p in props:
        assert (f"heapgrow check: descendant process {p['pid']} (child of {p['parentPid']}) "
                f"{exe}\n") in r.stderr, r.stderr
    assert "\nSUMMARY: heapgrow: 680 byte(s) leaked in 11 allocation(s).\n" in r.stderr, r.stderr
    eq(run["invocations"][0]["exitCode"], 4, "invocation exit code")


@case
def gate_status_when_the_program_succeeds(d):
    eq(check(["--", REACH, "list"], d).returncode, 23, "gate fails: 23")
    eq(check(["--error-exitcode", "9", "--", REACH, "list"], d).returncode, 9, "own code")
    r = check(["--sarif", "clean.sarif", "--", REACH, "data"], d)
    eq((r.returncode, r.stderr), (0, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s).\n"),
       "reachable blocks pass")
    doc = load(os.path.join(d, "clean.sarif"))
    eq(doc["runs"][0]["results"], [], "no results")
    inv = doc["runs"][0]["invocations"][0]
    eq((inv["executionSuccessful"], inv["exitCode"], inv["toolExecutionNotifications"]),
       (True, 0, []), "invocation")
    # a program that fails without leaking: its status
    eq(check(["--", "sh", "-c", '"$0" data; exit 6', REACH], d).returncode, 6, "the program's 6")


@case
def suppressions_match_or_not(d):
    supp = os.path.join(d, "s")
    with open(supp, "w") as f:
        f.write("# none of these is in the stack of site_list\nleak:no_such_function*\n"
                "leak:other.c\nleak:libnothing.so*\n")
    r = check(["--suppressions", supp, "--", REACH, "list"], d)
    eq(r.returncode, 23, "rules that match nothing: still failing")
    assert "\nSUMMARY: heapgrow: 480 byte(s) leaked in 10 allocation(s).\n" in r.stderr and \
        "suppressed" not in r.stderr, r.stderr
    for rule in ("leak:site_list", "leak:run_case", "leak:reach_cases.c", "leak:reach_*",
                 "leak:" + os.path.realpath(REACH)):
        with open(supp, "w") as f:
            f.write(rule + "\n")
        r = check(["--suppressions", supp, "--sarif", "s.sarif", "--", REACH, "list"], d)
        eq((r.returncode, r.stderr),
           (0, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 1 site suppressed.\n"),
           rule)
        eq(load(os.path.join(d, "s.sarif"))["runs"][0]["results"], [], rule + ": no results")
    # in descendants too
    with open(supp, "w") as f:
        f.write("leak:site_*\n")
    r = check(["--suppressions", supp, "--", "sh", "-c", '"$0" list; "$0" interior', REACH], d)
    eq((r.returncode, r.stderr.splitlines()[-1]),
       (0, "SUMMARY: heapgrow: 0 byte(s) leaked in 0 allocation(s); 2 sites suppressed."),
       "descendants' sites suppressed")


@case
def malformed_suppressions(d):
    supp = os.path.join(d, "bad")
    for text, line in (("leak:ok\n\n# c\nleak:\n", 4), ("leak:a\nsite_list\n", 2),
                       ("  \nLeak:x\n", 2)):
        with open(supp, "w") as f:
            f.write(text)
        r = check(["--suppressions", supp, "--sarif", "m.sarif", "--", REACH, "list"], d)
        eq((r.returncode, r.stderr),
           (2, f"heapgrow: {supp}:{line}: expected leak:PATTERN or growth:PATTERN\n"), text)
        eq(os.path.exists(os.path.join(d, "m.sarif")), False, "no log for a usage error")
    r = check(["--suppressions", os.path.join(d, "missing"), "--", REACH, "list"], d)
    eq((r.returncode, r.stderr),
       (2, f"heapgrow: {os.path.join(d, 'missing')}: No such file or directory\n"), "missing")


@case
def sarif_file_names(d):
    # an existing log is replaced; %e and %p name it per program
    with open(os.path.join(d, "old.sarif"), "w") as f:
        f.write("not json")
    eq(check(["--sarif", "old.sarif", "--", REACH, "list"], d).returncode, 23, "status")
    load(os.path.join(d, "old.sarif"))
    eq(check(["--sarif", "%e.%p.sarif", "--", REACH, "list"], d).returncode, 23, "status")
    names = [n for n in os.listdir(d) if n.startswith("reach_cases.") and n.endswith(".sarif")]
    eq(len(names), 1, "one log named by %e.%p: " + repr(os.listdir(d)))
    doc = load(os.path.join(d, names[0]))
    eq(names[0], f"reach_cases.{doc['runs'][0]['results'][0]['properties']['pid']}.sarif",
       "the program's pid")
    # never the trace
    r = check(["-o", "same", "--sarif", "same", "--", REACH, "list"], d)
    eq((r.returncode, r.stderr), (2, "heapgrow: --sarif same: the same file as the trace (-o)\n"),
       "-o and --sarif the same")
    eq(os.path.exists(os.path.join(d, "same")), False, "nothing ran")
    os.mkdir(os.path.join(d, "sub"))
    r = check(["-o", "same", "--sarif", "./sub/../same", "--", REACH, "list"], d)
    eq((r.returncode, r.stderr),
       (2, "heapgrow: --sarif ./sub/../same: the same file as the trace (-o)\n"),
       "the same entry by another name")
    # a trace of an earlier run, by name or through a link
    eq(check(["-o", "t.hgt", "--", REACH, "data"], d).returncode, 0, "a trace")
    with open(os.path.join(d, "t.hgt"), "rb") as f:
        trace = f.read()
    eq(trace[:2], b"\x1f\x8b", "gzip")
    os.symlink("t.hgt", os.path.join(d, "link.sarif"))
    for name, prog in (("t.hgt", "data"), ("link.sarif", "list")):
        r = check(["--sarif", name, "--", REACH, prog], d)
        eq(r.returncode, 2 if prog == "data" else 23, f"{name}: the gate's status, or 2")
        assert (f"\nheapgrow: --sarif {os.path.join(d, name)} is a trace; not overwriting it\n"
                in "\n" + r.stderr), r.stderr
        with open(os.path.join(d, "t.hgt"), "rb") as f:
            eq(f.read() == trace, True, "the trace is intact")
    # bad names, before the program runs
    for args, msg in (
            (["--sarif", "nodir/x.sarif"],
             f"heapgrow: cannot write the SARIF log in {os.path.join(d, 'nodir')}: "
             "No such file or directory\n"),
            (["--sarif", "x%q"], "heapgrow: --sarif x%q: only %p (pid), %e (program name) and "
             "%% may follow '%'\n"),
            (["--sarif", ""], "heapgrow: --sarif: empty file name\n")):
        r = check(args + ["--", REACH, "list"], d)
        eq((r.returncode, r.stderr), (2, msg), repr(args))
    os.mkdir(os.path.join(d, "adir"))
    r = check(["--sarif", "adir", "--", REACH, "data"], d)
    eq((r.returncode, r.stderr), (2, f"heapgrow: --sarif {os.path.join(d, 'adir')}: is a "
                                     "directory\n"), "a directory")
    no_temporaries(d)


@case
def sarif_when_nothing_was_checked(d):
    r = check(["--sarif", "n.sarif", "--", os.path.join(d, "no-such-program")], d)
    eq(r.returncode, 127, "not found: " + r.stderr)
    doc = load(os.path.join(d, "n.sarif"))
    inv = doc["runs"][0]["invocations"][0]
    eq((inv["executionSuccessful"], inv["exitCode"], doc["runs"][0]["results"]),
       (False, 127, []), "unsuccessful invocation")
    eq([n["level"] for n in inv["toolExecutionNotifications"]], ["error"], "one error")
    # killed: leaks unknown, said as a notification
    r = check(["--sarif", "k.sarif", "--", GROW, "kill"], d)
    eq(r.returncode, 137, "killed")
    inv = load(os.path.join(d, "k.sarif"))["runs"][0]["invocations"][0]
    eq(inv["executionSuccessful"], True, "checked")
    assert any(n["message"]["text"].startswith("Leaks unknown for process ")
               for n in inv["toolExecutionNotifications"]), inv


def main():
    print(f"1..{len(cases)}")
    failed = 0
    for i, fn in enumerate(cases, 1):
        with tempfile.TemporaryDirectory(prefix="hg_check_") as d:
            d = os.path.realpath(d)
            try:
                fn(d)
                print(f"ok {i} - {fn.__name__}")
            except Exception as ex:  # noqa: BLE001 - every failure as TAP
                failed += 1
                print(f"not ok {i} - {fn.__name__}")
                for line in str(ex).splitlines() or [repr(ex)]:
                    print(f"# {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
