#!/usr/bin/env python3
"""Runs the fuzz target for meson (TAP).

  run_fuzz.py FUZZER fuzz SECONDS CORPUS_DIR   fuzz for SECONDS from the seed
                                               corpus (new inputs go to a
                                               temporary directory, never into
                                               the source tree)
  run_fuzz.py FUZZER replay REGRESSIONS_DIR    every crash reproducer once
"""
import os
import shutil
import subprocess
import sys
import tempfile

fuzzer, mode = sys.argv[1], sys.argv[2]
env = dict(os.environ)
env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")


def tail(text):
    return "\n".join("# " + ln for ln in text.splitlines()[-40:])


if mode == "fuzz":
    seconds, corpus = sys.argv[3], sys.argv[4]
    work = tempfile.mkdtemp(prefix="hg-fuzz-")
    try:
        p = subprocess.run([fuzzer, "-max_total_time=" + seconds, "-max_len=65536",
                            "-timeout=10", "-rss_limit_mb=2048",
                            "-artifact_prefix=" + work + "/", work, corpus],
                           capture_output=True, text=True, env=env)
        crashes = [f for f in os.listdir(work) if f.startswith(("crash-", "leak-",
                                                               "timeout-", "oom-"))]
        print("ok 1 - fuzzed %s s from the seed corpus" % seconds if p.returncode == 0
              and not crashes else "not ok 1 - fuzzer found %r" % crashes)
        if p.returncode != 0 or crashes:
            print(tail(p.stderr))
        else:
            print("# " + (p.stderr.strip().splitlines() or [""])[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("1..1")
    sys.exit(0)
elif mode == "replay":
    d = sys.argv[3]
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))
    files = [f for f in files if not f.endswith(".md")]
    for i, f in enumerate(files, 1):
        p = subprocess.run([fuzzer, "-runs=1", f], capture_output=True, text=True, env=env,
                           timeout=120)
        print(("ok %d - %s" if p.returncode == 0 else "not ok %d - %s")
              % (i, os.path.basename(f)))
        if p.returncode != 0:
            print(tail(p.stderr))
    if not files:
        print("ok 1 # SKIP no reproducers yet")
        print("1..1")
    else:
        print("1..%d" % len(files))
else:
    sys.exit(2)
