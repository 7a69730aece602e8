#!/usr/bin/env python3
"""`heapgrow check` in the CI set-ups docs/CI.md shows, for real (TAP): a tiny
project with one leaking and one clean test ("tidy": "clean" is a
reserved target name in both build systems), run by `meson test --wrapper`,
by a meson test setup (exe_wrapper), and by ctest through a test launcher
and through add_test(COMMAND heapgrow check -- ...); each log merged with
the jq command of the docs. The leaking test must fail with status 23, the
clean one pass. ctest and jq cases are skipped where cmake or jq is absent.

argv: HEAPGROW MESON DOCS_CI_MD (the commands tried are the docs', verbatim)
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sarif_check  # noqa: E402

HEAPGROW = os.path.abspath(sys.argv[1])
MESON = sys.argv[2]
with open(sys.argv[3]) as _f:
    DOCS = _f.read()

# Loses one 100-byte block; the stack below main is scrubbed so that no stale
# copy of its address keeps it reachable (as tests/reach/reach_cases.c).
LEAKY_C = r"""#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void lose(void)
{
    char *p = malloc(100); /* LEAK */
    memset(p, 1, 100);
    __asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) static void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

int main(void)
{
    volatile char pad[8192];
    memset((char *)pad, 0, sizeof pad);
    lose();
    scrub();
    return 0;
}
"""
TIDY_C = r"""#include <stdio.h>
#include <stdlib.h>

static char *kept; /* reachable until exit: not a leak */

int main(void)
{
    char *p = malloc(64);
    free(p);
    kept = malloc(32);
    printf("tidy\n");
    return kept == NULL;
}
"""
LEAK_LINE = LEAKY_C.splitlines().index("    char *p = malloc(100); /* LEAK */") + 1

MESON_BUILD = """project('hgci', 'c')
leaky = executable('leaky', 'leaky.c')
tidy = executable('tidy', 'tidy.c')
test('leaky', leaky)
test('tidy', tidy)
add_test_setup('heapgrow',
  exe_wrapper : [find_program('heapgrow'), 'check', '--sarif', '%e.sarif', '--'])
"""

CMAKE_LISTS = """cmake_minimum_required(VERSION 3.16)
project(hgci C)
enable_testing()
add_executable(leaky leaky.c)
add_executable(tidy tidy.c)
add_test(NAME leaky COMMAND leaky)
add_test(NAME tidy COMMAND tidy)
if(HEAPGROW)
  add_test(NAME leaky_explicit COMMAND ${HEAPGROW} check --sarif explicit.sarif
           -- $<TARGET_FILE:leaky>)
endif()
"""

# The commands of docs/CI.md, verbatim.
MESON_WRAPPER = "heapgrow check --sarif %e.sarif --"
LAUNCHER = "heapgrow;check;--sarif;%e.sarif;--"
# The merge of docs/CI.md: one run, every log's invocations and results.
JQ_MERGE = ('.[0] + {runs: [.[0].runs[0] + {invocations: [.[].runs[0].invocations[]], '
            'results: [.[].runs[0].results[]]}]}')

n = 0
failed = 0


def tap(fn):
    global n, failed
    n += 1
    try:
        skip = fn()
        print(f"ok {n} - {fn.__name__}" + (f" # SKIP {skip}" if skip else ""))
    except Exception as ex:  # noqa: BLE001 - every failure as TAP
        failed += 1
        print(f"not ok {n} - {fn.__name__}")
        for line in str(ex).splitlines() or [repr(ex)]:
            print(f"# {line}")


def env():
    e = dict(os.environ, NO_COLOR="1")
    for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_WRAPPERS", "HEAPGROW_OUTPUT"):
        e.pop(k, None)
    # heapgrow on PATH, as the docs assume (the build tree's finds its library).
    e["PATH"] = os.path.dirname(HEAPGROW) + os.pathsep + e.get("PATH", "")
    # A nested meson must not take the outer `meson test`'s settings.
    for k in list(e):
        if k.startswith("MESON_"):
            e.pop(k)
    return e


def sh(args, cwd, ok_codes=(0,)):
    r = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode in ok_codes, f"{args}: status {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def eq(got, want, what):
    assert got == want, f"{what}:\n got  {got!r}\n want {want!r}"


def project(d):
    src = os.path.join(d, "src")
    os.mkdir(src)
    for name, text in (("leaky.c", LEAKY_C), ("tidy.c", TIDY_C), ("meson.build", MESON_BUILD),
                       ("CMakeLists.txt", CMAKE_LISTS)):
        with open(os.path.join(src, name), "w") as f:
            f.write(text)
    return src


def check_logs(leaky, tidy, src, status):
    """The leaking test's log: one definite leak of 100 bytes at leaky.c's
    LEAK line, exit status 23; the clean one: nothing."""
    with open(leaky) as f:
        doc = json.load(f)
    sarif_check.validate(doc)
    uri = "file://" + os.path.join(os.path.realpath(src), "leaky.c")
    eq(sarif_check.results(doc), [("heapgrow/definite-leak", "error", uri, None, LEAK_LINE, "lose")],
       "leaky: results")
    eq(doc["runs"][0]["results"][0]["properties"]["bytes"], 100, "leaky: bytes")
    eq(doc["runs"][0]["invocations"][0]["exitCode"], status, "leaky: status")
    with open(tidy) as f:
        cdoc = json.load(f)
    sarif_check.validate(cdoc)
    eq((cdoc["runs"][0]["results"], cdoc["runs"][0]["invocations"][0]["exitCode"]), ([], 0),
       "tidy: no result, status 0")
    if shutil.which("jq") is None:
        return "jq not installed: merge not tried"
    r = subprocess.run(["jq", "-s", JQ_MERGE, leaky, tidy], capture_output=True, text=True,
                       timeout=60)
    eq(r.returncode, 0, "jq: " + r.stderr)
    merged = json.loads(r.stdout)
    sarif_check.validate(merged)
    eq((len(merged["runs"]), len(merged["runs"][0]["invocations"]),
        sarif_check.results(merged)), (1, 2, sarif_check.results(doc)), "merged")
    return None


def meson_results(build, log="testlog.json"):
    """{test name: (result, returncode)} from meson's JSON test log (named
    after the wrapper's program or the setup: testlog-heapgrow.json), read
    and removed."""
    out = {}
    path = os.path.join(build, "meson-logs", log)
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out[t["name"]] = (t["result"], t["returncode"])
    os.unlink(path)
    return out


def meson_wrapper_and_setup():
    with tempfile.TemporaryDirectory(prefix="hg_ci_") as d:
        d = os.path.realpath(d)
        src = project(d)
        build = os.path.join(d, "build")
        sh([MESON, "setup", build, src], d)
        sh(["ninja", "-C", build], d)
        # Without heapgrow both pass.
        sh([MESON, "test", "-C", build], d)
        eq(meson_results(build), {"leaky": ("OK", 0), "tidy": ("OK", 0)}, "plain")
        # The docs' --wrapper, exactly.
        r = sh([MESON, "test", "-C", build, "--wrapper", MESON_WRAPPER], d, ok_codes=(1,))
        eq(meson_results(build, "testlog-heapgrow.json"),
           {"leaky": ("FAIL", 23), "tidy": ("OK", 0)}, "meson test --wrapper\n" + r.stdout)
        # Tests run in the build directory: the logs are there.
        skip = check_logs(os.path.join(build, "leaky.sarif"), os.path.join(build, "tidy.sarif"),
                          src, 23)
        # The same through the project's own test setup.
        for name in ("leaky.sarif", "tidy.sarif"):
            os.unlink(os.path.join(build, name))
        sh([MESON, "test", "-C", build, "--setup", "heapgrow"], d, ok_codes=(1,))
        eq(meson_results(build, "testlog-heapgrow.json"),
           {"leaky": ("FAIL", 23), "tidy": ("OK", 0)}, "--setup heapgrow")
        check_logs(os.path.join(build, "leaky.sarif"), os.path.join(build, "tidy.sarif"), src, 23)
        return skip


def cmake_version():
    r = subprocess.run(["cmake", "--version"], capture_output=True, text=True, timeout=60)
    m = re.search(r"version (\d+)\.(\d+)", r.stdout)
    return (int(m.group(1)), int(m.group(2)))


def ctest_launcher_and_command():
    if shutil.which("cmake") is None or shutil.which("ctest") is None:
        return "cmake not installed"
    # CMake >= 3.29 has a test launcher; before it, add_test uses the
    # cross-compiling emulator unconditionally (policy CMP0158).
    var = "CMAKE_TEST_LAUNCHER" if cmake_version() >= (3, 29) else \
        "CMAKE_CROSSCOMPILING_EMULATOR"
    with tempfile.TemporaryDirectory(prefix="hg_ci_") as d:
        d = os.path.realpath(d)
        src = project(d)
        build = os.path.join(d, "cbuild")
        sh(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Debug", f"-DHEAPGROW={HEAPGROW}",
            f"-D{var}={LAUNCHER}"], d)
        sh(["cmake", "--build", build], d)
        r = sh(["ctest", "--test-dir", build, "--output-on-failure"], d, ok_codes=(8,))
        out = r.stdout
        for name, passed in (("leaky", False), ("tidy", True), ("leaky_explicit", False)):
            m = re.search(r"Test +#\d+: %s \.+\** *(Passed|\*\*\*Failed)" % name, out)
            assert m is not None, f"{name} not in ctest's output:\n{out}"
            eq(m.group(1) == "Passed", passed, f"ctest {name}\n{out}")
        assert "SUMMARY: heapgrow: 100 byte(s) leaked in 1 allocation(s)." in out, out
        skip = check_logs(os.path.join(build, "leaky.sarif"), os.path.join(build, "tidy.sarif"),
                          src, 23)
        with open(os.path.join(build, "explicit.sarif")) as f:
            eq(sarif_check.results(json.load(f))[0][0], "heapgrow/definite-leak", "explicit")
        return skip


def docs_show_these_commands():
    for text in (JQ_MERGE, "meson test -C build --wrapper 'heapgrow check --'",
                 f"meson test -C build --wrapper '{MESON_WRAPPER}'",
                 "--wrapper 'heapgrow check --suppressions ci/heapgrow.supp --sarif %e.sarif --'",
                 f"-DCMAKE_TEST_LAUNCHER='{LAUNCHER}'",
                 f"-DCMAKE_CROSSCOMPILING_EMULATOR='{LAUNCHER}'",
                 MESON_BUILD.split("\n", 5)[5].strip()):
        assert text in DOCS, f"docs/CI.md does not show: {text}"


def main():
    tap(docs_show_these_commands)
    tap(meson_wrapper_and_setup)
    tap(ctest_launcher_and_command)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
