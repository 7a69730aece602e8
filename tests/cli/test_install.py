#!/usr/bin/env python3
"""`meson install` gives a working heapgrow (TAP).

argv: MESON BUILD_ROOT PREFIX BINDIR. Installs the runtime files into a
staging directory (DESTDIR), then runs the staged heapgrow: it must find its
own installed libheapgrow.so (not the build tree's), trace a program and read
the trace back.
"""
import json
import os
import subprocess
import sys
import tempfile

MESON, BUILD, PREFIX, BINDIR = sys.argv[1:5]


def main():
    print("1..1")
    with tempfile.TemporaryDirectory(prefix="hg_install_") as d:
        dest = os.path.join(d, "stage")
        try:
            r = subprocess.run([MESON, "install", "-C", BUILD, "--no-rebuild", "--quiet",
                                "--destdir", dest, "--tags", "runtime"],
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, "meson install: " + r.stdout + r.stderr
            bindir = BINDIR if os.path.isabs(BINDIR) else os.path.join(PREFIX, BINDIR)
            exe = dest + os.path.join(bindir, "heapgrow")
            assert os.access(exe, os.X_OK), f"{exe} installed"
            env = dict(os.environ, NO_COLOR="1")
            for k in ("HEAPGROW_LIB", "LD_PRELOAD", "HEAPGROW_OUTPUT"):
                env.pop(k, None)
            r = subprocess.run([exe, "run", "--no-report", "-o", "t.hgt", "--", "sh", "-c",
                                'echo "$LD_PRELOAD"; exit 4'], cwd=d, env=env,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 4, "status: " + r.stderr
            lib = r.stdout.strip()
            assert lib.startswith(os.path.realpath(dest) + "/") and \
                lib.endswith("/heapgrow/libheapgrow.so"), "the installed library: " + lib
            r = subprocess.run([exe, "report", "--format", "json", "t.hgt"], cwd=d, env=env,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, "report: " + r.stderr
            p = json.loads(r.stdout)["process"]
            assert (p["end_reason"], p["exit_status"]) == ("_exit", 4) or \
                (p["end_reason"], p["exit_status"]) == ("exit", 4), p
            print("ok 1 - installed heapgrow finds its library and reads its trace")
        except AssertionError as ex:
            print("not ok 1 - installed heapgrow finds its library and reads its trace")
            for line in str(ex).splitlines():
                print(f"# {line}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
