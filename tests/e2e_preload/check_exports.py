#!/usr/bin/env python3
"""TAP: the dynamic symbols libheapgrow.so defines are exactly the list in
tests/exported_symbols.txt (interposed names + public API; STYLE.md §2).
Usage: check_exports.py LIBHEAPGROW EXPORTED_SYMBOLS_TXT"""
import subprocess
import sys

out = subprocess.run(["nm", "-D", "--defined-only", sys.argv[1]], capture_output=True,
                     text=True, check=True).stdout
got = sorted({line.split()[-1] for line in out.splitlines() if line.strip()})
want = sorted({line.strip() for line in open(sys.argv[2])
               if line.strip() and not line.startswith("#")})
print("1..1")
if got == want:
    print("ok 1 - exported symbols match tests/exported_symbols.txt")
else:
    print("not ok 1 - exported symbols match tests/exported_symbols.txt")
    for s in sorted(set(got) - set(want)):
        print(f"# unexpected: {s}")
    for s in sorted(set(want) - set(got)):
        print(f"# missing: {s}")
