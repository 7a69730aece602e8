#!/usr/bin/env python3
"""End-to-end test of the samples: each one runs under `heapgrow run`, its
trace goes through `heapgrow report --format json`, and the report must say
exactly what the sample's comments say.

    e2e_samples.py HEAPGROW SAMPLES_SOURCE_DIR SAMPLE_EXECUTABLE...

For each sample (and its fixed twin):
  - `heapgrow run` exits 0 (the sample's own status) and the report is JSON of
    format "heapgrow-report";
  - a growing sample has its growing site flagged ("growth": {"growing": true})
    with the exact function, file and line: the line is found by grepping the
    source for the `/* GROWS */` marker, so edits to a sample cannot make the
    test stale;
  - no other site is flagged: every flagged site must be the GROWS line or a
    line marked `/* GROWS (also)` (allocations that grow with the same data
    structure, in a few big steps, such as uthash's bucket array; they may or
    may not be flagged);
  - a fixed twin (and churn, the clean case) has no growing site at all;
  - leaked-at-exit bytes and counts are exact: at the GROWS line, and summed
    over every site of the sample's own code (sites inside libc, the loader or
    libstdc++'s own start-up are not the sample's and are not counted);
  - the trace ended cleanly, and the number of allocations the sample's own
    sites made is exact (the tracer missed none).

Every check reads the site's own frame (its function, file and line): the
analyzer skips the allocator, the wrappers and the C++ standard library's
frames (docs/SITES.md), so even the C++ sample's site is the user's function
that called `emplace`, never a std:: frame. A site counts as the sample's own
when its file is the sample's source (or samples/sample.h).

The reports pasted in samples/README.md are checked too: every fenced block
preceded by a marker `<!-- report: SAMPLE ARGS... [| head -N] -->` must be
what `heapgrow report ARGS TRACE` (text, first N lines) prints for the fresh
trace of SAMPLE, once both are normalised: numbers other than source line
numbers, byte amounts, sparklines, addresses, pids and the executable's path
vary from run to run and are masked; the wording, the lines, the sites and
their order must match. A growing site at a `GROWS (also)` line may or may
not be flagged (see above), so its entry in "Growing sites" is left out of
both sides. `--update-readme` rewrites those blocks from the fresh runs
instead (the executable's path shortened to build/samples/NAME, the sources'
to samples/NAME.c):

    e2e_samples.py --update-readme HEAPGROW SAMPLES_SOURCE_DIR SAMPLE_EXECUTABLE...

(a directory among the executables stands for the executables in it, so
`build/samples` will do).

Output is TAP. Environment: HG_E2E_JOBS (parallel runs, default 4),
HG_E2E_ONLY (comma-separated sample names), HG_E2E_SECONDS (passed to the
samples as --seconds; default: the samples' own 3.5 s), HG_E2E_KEEP (keep the
traces and reports in this directory).
"""

import concurrent.futures
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile


class Case:
    def __init__(self, exe, source, grows=None, site_leak=None, total_leak=(0, 0),
                 allocs=None, wrapper=None):
        self.exe = exe              # executable name
        self.source = source        # its source file in samples/
        self.grows = grows          # function holding the GROWS line, or None (clean)
        self.site_leak = site_leak  # (bytes, count) leaked at the GROWS line
        self.total_leak = total_leak  # (bytes, count) leaked by all the sample's sites
        self.allocs = allocs        # allocations by all the sample's sites, or None
        self.wrapper = wrapper      # --wrapper argument for the report


# The leaks are the ones documented at the top of each sample, and checked with
# valgrind --leak-check=full --show-leak-kinds=all, which counts the same
# blocks. The allocation counts are valgrind's "total heap usage" allocs, less
# the few that are not the sample's (glibc's thread TLS, libstdc++'s emergency
# pool). shared_map_bounded has none: whether an evicted regular client comes
# back (one more allocation) depends on how its threads interleave.
CASES = [
    Case('session_table', 'session_table.c', 'session_table_insert',
         (784000, 3500), (816768, 3501), allocs=45501),
    Case('session_table_ttl', 'session_table.c', allocs=45501),
    Case('cache_noevict', 'cache_noevict.c', 'cache_insert',
         (7838400, 7100), (7854784, 7101), allocs=42201),
    Case('cache_lru', 'cache_noevict.c', allocs=43881),
    Case('shared_map', 'shared_map.c', 'client_map_insert',
         (1040384, 4064), (1048576, 4065), allocs=28065),
    Case('shared_map_bounded', 'shared_map.c'),
    Case('listeners', 'listeners.c', 'request_watch_config',
         (2000000, 10000), (2000000, 10000), allocs=30000),
    Case('listeners_unregister', 'listeners.c', allocs=30000),
    Case('high_cardinality_keys', 'high_cardinality_keys.c', 'metrics_series_get',
         (1536000, 12000), (1544192, 12001), allocs=48001),
    Case('normalized_keys', 'high_cardinality_keys.c', allocs=36193),
    Case('weak_hash', 'weak_hash.c', 'dedup_resize', (1417728, 1), (1430016, 257),
         allocs=30093),
    Case('good_hash', 'weak_hash.c', total_leak=(14848, 257), allocs=29402),
    Case('churn', 'churn.c', allocs=131018),
    Case('pool_leak', 'pool_leak.c', 'pool_get', (9849568, 19858), (9849568, 19858),
         allocs=39858),
    Case('pool_ok', 'pool_leak.c', total_leak=(1488, 3), allocs=20003),
    # GCC 12 libstdc++ on x86-64: 5050 x (72-byte node + 40-byte key + 700-byte
    # vector) + 40696-byte bucket array at the GROWS line; + the 56-byte map.
    Case('cpp_cache', 'cpp_cache.cc', 'cache_put', (4141296, 15151), (4141352, 15152),
         allocs=30210),
    Case('cpp_cache_bounded', 'cpp_cache.cc', allocs=40181),
    Case('wrapper', 'wrapper.c', 'audit_log_append', (1680000, 10000), (1680000, 10000),
         allocs=40000, wrapper='my_alloc'),
    Case('wrapper_fixed', 'wrapper.c', allocs=40000, wrapper='my_alloc'),
    Case('uthash_map', 'uthash_map.c', 'user_touch', (436800, 4200), (453248, 4202),
         allocs=40207),
    Case('uthash_map_delete', 'uthash_map.c', allocs=40228),
]

def base_name(function):
    """'cache_put(std::string const&, ...)' -> 'cache_put'."""
    if function is None:
        return None
    return function.split('(')[0].strip()


def is_own(site, source):
    """Whether the site's own frame is in the sample's source (or sample.h)."""
    return os.path.basename(site.get('file') or '') in (source, 'sample.h')


def markers(path):
    """Line numbers of the GROWS marker (exactly one, or none) and of the
    GROWS (also) markers."""
    grows, also = [], []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if '/* GROWS */' in line:
                grows.append(n)
            elif '/* GROWS (also)' in line:
                also.append(n)
    if len(grows) > 1:
        raise ValueError('%s: %d GROWS markers, expected at most one' % (path, len(grows)))
    return (grows[0] if grows else None), also


def describe(site):
    g = site.get('growth') or {}
    return '%s at %s:%s (end_live_bytes %s, slope %s B/s, leaked %s)' % (
        site.get('function'), os.path.basename(site.get('file') or '?'), site.get('line'),
        site.get('end_live_bytes'), g.get('slope_bytes_per_s'), site.get('leaked'))


def run_case(heapgrow, exe_path, workdir, case, seconds, text_args=()):
    """Runs one sample traced and returns (status, stderr, {label: report}):
    the JSON reports, and the text report for each argument tuple of
    text_args under the label ('text',) + args."""
    trace = os.path.join(workdir, case.exe + '.hgt')
    cmd = [heapgrow, 'run', '--no-report', '-o', trace, '--', exe_path]
    if seconds:
        cmd += ['--seconds', seconds]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    reports = {}
    if p.returncode != 0:
        return p.returncode, p.stderr.decode(errors='replace'), reports
    variants = [('report', [])]
    if case.wrapper:
        variants = [('report --wrapper ' + case.wrapper, ['--wrapper', case.wrapper]),
                    ('report', [])]
    for label, extra in variants:
        r = subprocess.run([heapgrow, 'report', '--format', 'json'] + extra + [trace],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            return r.returncode, '%s: %s' % (label, r.stderr.decode(errors='replace')), reports
        reports[label] = json.loads(r.stdout.decode())
        with open(os.path.join(workdir, '%s.%s.json' % (case.exe, len(reports))), 'wb') as f:
            f.write(r.stdout)
    env = dict(os.environ, NO_COLOR='1')
    for args in text_args:
        r = subprocess.run([heapgrow, 'report'] + list(args) + [trace], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, env=env)
        if r.returncode != 0:
            return r.returncode, 'report %s: %s' % (' '.join(args),
                                                    r.stderr.decode(errors='replace')), reports
        reports[('text',) + tuple(args)] = r.stdout.decode()
    return 0, '', reports


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, diag=()):
        self.n += 1
        print('%s %d - %s' % ('ok' if ok else 'not ok', self.n, what))
        if not ok:
            self.failed += 1
            for line in diag:
                print('# ' + line)
        sys.stdout.flush()
        return ok


def check_case(tap, case, src_dir, status, err, reports):
    name = case.exe
    if not tap.check(status == 0, '%s: traced run and report succeed' % name,
                     err.splitlines()[-20:] + ['exit status %s' % status]):
        return
    label = 'report --wrapper ' + case.wrapper if case.wrapper else 'report'
    rep = reports[label]
    tap.check(rep.get('format') == 'heapgrow-report', '%s: JSON format is heapgrow-report' % name,
              ['format: %r' % rep.get('format')])
    proc = rep.get('process') or {}
    tap.check(proc.get('ended_cleanly') is True and proc.get('exit_status') == 0,
              '%s: the trace ended cleanly, with exit status 0' % name,
              ['process: ended_cleanly %r, exit_status %r, end_reason %r' % (
                  proc.get('ended_cleanly'), proc.get('exit_status'), proc.get('end_reason'))])
    sites = rep.get('sites') or []
    grows_line, also_lines = markers(os.path.join(src_dir, case.source))
    flagged = [s for s in sites if (s.get('growth') or {}).get('growing') is True]
    where = '%s:%s' % (case.source, grows_line)

    def at(frame, line):
        return (frame is not None and frame.get('line') == line
                and os.path.basename(frame.get('file') or '') == case.source)

    if case.grows:
        hits = [s for s in flagged if at(s, grows_line)
                and base_name(s.get('function')) == case.grows]
        tap.check(len(hits) >= 1,
                  '%s: %s at %s flagged growing' % (name, case.grows, where),
                  ['flagged: ' + describe(s) for s in flagged] +
                  ['site: ' + describe(s) for s in sites[:8]])
        allowed = [grows_line] + also_lines
    else:
        allowed = []
    stray = [s for s in flagged if not any(at(s, line) for line in allowed)]
    tap.check(not stray, '%s: %s' % (name, 'no other site flagged growing' if case.grows
                                     else 'no site flagged growing'),
              ['wrongly flagged: ' + describe(s) for s in stray])

    def leaked(selected):
        b = c = 0
        for s in selected:
            lk = s.get('leaked') or {}
            if lk.get('bytes') is None or lk.get('count') is None or lk['bytes'] < 0:
                return None
            b += lk['bytes']
            c += lk['count']
        return (b, c)

    own = [s for s in sites if is_own(s, case.source)]
    if case.grows and case.site_leak is not None:
        at_grows = [s for s in own if at(s, grows_line)]
        got = leaked(at_grows)
        tap.check(got == case.site_leak,
                  '%s: leaked at %s: %d bytes in %d blocks' % ((name, where) + case.site_leak),
                  ['got %r from %d site(s)' % (got, len(at_grows))])
    if case.allocs is not None:
        got = sum(s.get('alloc_count') or 0 for s in own)
        tap.check(got == case.allocs,
                  '%s: every allocation of the sample seen: %d' % (name, case.allocs),
                  ['got %d' % got])
    got = leaked(own)
    tap.check(got == case.total_leak,
              '%s: leaked by the sample: %d bytes in %d blocks' % ((name,) + case.total_leak),
              ['got %r' % (got,)] + ['site: ' + describe(s) for s in own
                                     if (s.get('leaked') or {}).get('count')])

    if case.wrapper and case.grows:
        # Without --wrapper, everything comes from the wrapper: it is the site.
        plain = reports['report']
        flagged_plain = [s for s in plain.get('sites') or []
                         if (s.get('growth') or {}).get('growing') is True]
        tap.check(any(base_name(s.get('function')) == case.wrapper and
                      os.path.basename(s.get('file') or '') == case.source
                      for s in flagged_plain),
                  '%s: without --wrapper, the flagged site is %s itself' % (name, case.wrapper),
                  ['flagged: ' + describe(s) for s in flagged_plain])


# ---- samples/README.md ----

MARKER = re.compile(r'^<!-- report: (\w+)((?: [^|>]+?)?)(?: \| head -(\d+))? -->$')


class Block:
    """A report pasted in samples/README.md: the marker's line, the block's
    fenced lines [start, end), the sample, the report's arguments, head."""

    def __init__(self, marker_line, start, end, sample, args, head):
        self.marker_line, self.start, self.end = marker_line, start, end
        self.sample, self.args, self.head = sample, args, head

    def label(self):
        return 'report %s%s of %s' % (' '.join(self.args),
                                       ' | head -%d' % self.head if self.head else '',
                                       self.sample)


def readme_blocks(lines):
    """The marked blocks of README lines (without their newlines)."""
    blocks = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or lines[i + 1] != '```' or '```' not in lines[i + 2:]:
            raise ValueError('samples/README.md:%d: a report marker must precede a fenced block'
                             % (i + 1))
        end = lines.index('```', i + 2)
        blocks.append(Block(i, i + 2, end, m.group(1), tuple(m.group(2).split()),
                            int(m.group(3)) if m.group(3) else None))
    return blocks


def report_lines(text, head):
    lines = text.rstrip('\n').split('\n')
    return lines[:head] if head else lines


def drop_optional_growth(lines, source, also_lines):
    """Leaves out the entries of "Growing sites" whose site is at a GROWS
    (also) line of source: they may or may not be flagged."""
    if not also_lines:
        return lines
    places = ['%s:%d ' % (source, n) for n in also_lines]
    out, i, in_growing = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line.startswith('Growing sites'):
            in_growing = True
        elif not line.strip():
            in_growing = False
        if in_growing and re.match(r'^\s+\d+\. ', line):
            j = i + 1
            while j < len(lines) and lines[j].startswith('     ') and \
                    not re.match(r'^\s+\d+\. ', lines[j]) and not lines[j].startswith('     ...'):
                j += 1
            if j > i + 1 and any(p in lines[i + 1] for p in places):
                i = j
                continue
        out.append(line)
        i += 1
    return out


def short_paths(line):
    """Source paths of the samples as samples/NAME.c, whatever the build
    directory made of them (../samples/, /abs/path/samples/)."""
    return re.sub(r'\S*/samples/([\w.]+\.(?:c|cc|h):)', r'samples/\1', line)


def normalise(lines):
    """Masks what varies between runs of the same program."""
    out = []
    for line in lines:
        line = short_paths(line)
        line = re.sub(r'^(heapgrow: process|Process) \d+ (\S+?)(,|$)',
                      lambda m: '%s PID %s%s' % (m.group(1), os.path.basename(m.group(2)),
                                                 m.group(3)), line)
        line = re.sub(r'0x[0-9a-f]+', '0x#', line)
        line = re.sub('[\u2581-\u2588]+', '~', line)
        line = re.sub(r'-?\d+(\.\d+)? (B|KiB|MiB|GiB|TiB|PiB)\b', '<bytes>', line)
        line = re.sub(r'\b\d+ sites? grows?\b', 'N site(s) grow', line)
        line = re.sub(r'(?<![\w.:/-])\d[\d,]*(\.\d+)?', '#', line)
        out.append(line)
    return out


def check_readme(tap, blocks, lines, results, src_dir, update):
    """Compares (or, with update, rewrites) every marked block. results maps
    a sample to its reports. Returns the new README lines."""
    by_exe = {c.exe: c for c in CASES}
    new = list(lines)
    edits = []
    for b in blocks:
        case = by_exe.get(b.sample)
        reports = results.get(b.sample)
        what = 'samples/README.md:%d: %s' % (b.marker_line + 1, b.label())
        text = reports.get(('text',) + b.args) if reports else None
        if text is None:
            tap.check(False, what + ' (no fresh run)', ['sample %s did not run' % b.sample])
            continue
        fresh = report_lines(text, b.head)
        if update:
            fresh = [short_paths(re.sub(r'^(heapgrow: process \d+ )(\S+/)?([^/\s,]+)(,)',
                                        r'\1build/samples/\3\4', line)) for line in fresh]
            edits.append((b, fresh))
            tap.check(True, what + ' rewritten')
            continue
        _, also = markers(os.path.join(src_dir, case.source)) if case else (None, [])
        source = case.source if case else ''
        want = normalise(drop_optional_growth(lines[b.start:b.end], source, also))
        got = normalise(drop_optional_growth(fresh, source, also))
        diff = list(difflib.unified_diff(want, got, 'README', 'fresh run', lineterm='', n=1))
        tap.check(want == got, what + ' matches a fresh run (numbers masked)',
                  diff[:40] + ['(tests/e2e_samples.py --update-readme rewrites the blocks)'])
    for b, fresh in reversed(edits):  # bottom up: earlier blocks keep their lines
        new[b.start:b.end] = fresh
    return new


def main(argv):
    update = len(argv) > 1 and argv[1] == '--update-readme'
    if update:
        argv = argv[:1] + argv[2:]
    if len(argv) < 4:
        print('usage: %s [--update-readme] HEAPGROW SAMPLES_SOURCE_DIR SAMPLE_EXECUTABLE...'
              % argv[0], file=sys.stderr)
        return 2
    heapgrow, src_dir, exes = argv[1], argv[2], []
    for arg in argv[3:]:
        if os.path.isdir(arg):  # a build's samples/ directory: its executables
            exes += sorted(os.path.join(arg, f) for f in os.listdir(arg)
                           if os.path.isfile(os.path.join(arg, f))
                           and os.access(os.path.join(arg, f), os.X_OK))
        else:
            exes.append(arg)
    readme = os.path.join(src_dir, 'README.md')
    with open(readme, encoding='utf-8') as f:
        readme_lines = f.read().split('\n')
    blocks = readme_blocks(readme_lines)
    by_name = {os.path.basename(e): e for e in exes}
    only = [x for x in os.environ.get('HG_E2E_ONLY', '').split(',') if x]
    cases = [c for c in CASES if not only or c.exe in only]
    seconds = os.environ.get('HG_E2E_SECONDS')
    jobs = int(os.environ.get('HG_E2E_JOBS', '4'))
    keep = os.environ.get('HG_E2E_KEEP')
    tmp = None
    if keep:
        os.makedirs(keep, exist_ok=True)
        workdir = keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix='hg-e2e-')
        workdir = tmp.name

    tap = Tap()
    missing = [c.exe for c in cases if c.exe not in by_name]
    tap.check(not missing, 'every sample executable was given', ['missing: ' + ' '.join(missing)])
    cases = [c for c in cases if c.exe in by_name]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_case, heapgrow, by_name[c.exe], workdir, c, seconds,
                               sorted({b.args for b in blocks if b.sample == c.exe}))
                   for c in cases]
        for case, fut in zip(cases, futures):
            try:
                status, err, reports = fut.result()
            except Exception as e:  # a timeout, bad JSON: report it, go on
                status, err, reports = -1, '%s: %s' % (type(e).__name__, e), {}
            check_case(tap, case, src_dir, status, err, reports)
            results[case.exe] = reports
    ran = {c.exe for c in cases}
    new = check_readme(tap, [b for b in blocks if b.sample in ran], readme_lines, results,
                       src_dir, update)
    if update and new != readme_lines:
        with open(readme, 'w', encoding='utf-8') as f:
            f.write('\n'.join(new))
    print('1..%d' % tap.n)
    if tmp:
        tmp.cleanup()
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
