#!/usr/bin/env python3
"""bench-smoke: bench/run still builds and runs (no timing is checked).

Runs `bench/run --quick --no-heaptrack --reps 1 --no-build` against the meson
build directory given as argv[1] and checks that it exits 0 and prints a
markdown table with one row per workload of `bench/run --list`, each with a
wall time, a heapgrow ratio, a peak RSS and a trace size. TAP on stdout.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "run")


def main():
    build = sys.argv[1]
    names = [line.split("\t")[0] for line in
             subprocess.run([sys.executable, RUN, "--list"], check=True, capture_output=True,
                            text=True).stdout.splitlines()]
    print("1..%d" % (2 + len(names)))
    ok = True
    print("%s 1 - bench/run --list names workloads (%s)"
          % ("ok" if names else "not ok", ", ".join(names)))
    proc = subprocess.run([sys.executable, RUN, "--quick", "--no-heaptrack", "--reps", "1",
                           "--no-build", "--build-dir", build],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        ok = False
        print("not ok 2 - bench/run exit %d" % proc.returncode)
        for line in proc.stderr.splitlines()[-30:]:
            print("# " + line)
    else:
        print("ok 2 - bench/run exit 0")
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] in names and cells[0] not in rows:
            rows[cells[0]] = cells
    # Columns without heaptrack: workload, count, untraced, ratio, overhead,
    # peak RSS untraced, peak RSS heapgrow, trace heapgrow, heapgrow report.
    cell_re = [None, r"[\d,]+", r"[\d.]+ s", r"[\d.]+×", r"[-+]\d+ %", r"[\d.]+ (B|KiB|MiB|GiB)",
               r"[\d.]+ (B|KiB|MiB|GiB)", r"[\d.]+ (B|KiB|MiB|GiB)", r"[\d.]+ s"]
    for i, name in enumerate(names):
        cells = rows.get(name)
        good = cells is not None and len(cells) == len(cell_re) and all(
            rx is None or re.fullmatch(rx, c) for rx, c in zip(cell_re, cells))
        ok = ok and good
        print("%s %d - table row for %s: %s" % ("ok" if good else "not ok", 3 + i, name,
                                                 " | ".join(cells) if cells else "missing"))
    if not ok:
        for line in proc.stdout.splitlines():
            print("# " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
