#!/usr/bin/env python3
"""Builds a MiniDebugInfo copy of a shared library, the way distributions
ship stripped binaries: everything stripped but .dynsym, plus a section
.gnu_debugdata holding an xz-compressed ELF whose .symtab keeps only the
function symbols that .dynsym lacks (the static ones).

Usage: minidebuginfo.py OBJCOPY NM INPUT OUTPUT
"""
import lzma
import os
import subprocess
import sys
import tempfile


def defined_functions(nm, path, dynamic):
    args = [nm, '--defined-only', '--format=posix'] + (['-D'] if dynamic else []) + [path]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] in ('T', 't', 'W'):
            names.add(fields[0])
    return names


def main():
    objcopy, nm, src, dst = sys.argv[1:5]
    keep = defined_functions(nm, src, False) - defined_functions(nm, src, True)
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, 'full.debug')
        mini = os.path.join(tmp, 'mini.debug')
        keep_file = os.path.join(tmp, 'keep')
        with open(keep_file, 'w') as f:
            f.write(''.join(name + '\n' for name in sorted(keep)))
        subprocess.run([objcopy, '--only-keep-debug', src, full], check=True)
        subprocess.run([objcopy, '--strip-all', '--remove-section', '.comment',
                        '--keep-symbols=' + keep_file, full, mini], check=True)
        xz = os.path.join(tmp, 'mini.xz')
        with open(mini, 'rb') as f, open(xz, 'wb') as g:
            g.write(lzma.compress(f.read(), format=lzma.FORMAT_XZ))
        subprocess.run([objcopy, '--strip-all', '--add-section', '.gnu_debugdata=' + xz,
                        src, dst], check=True)


if __name__ == '__main__':
    main()
