#!/usr/bin/env python3
"""Writes the crafted traces of tests/data (run from anywhere; rewrites them).

An encoder of its own, written from docs/FORMAT.md rather than from
preload/encode.c, so the golden tests cross-check the format's prose too.

  small.hgt      every record type, ends with END (exit)
  killed.hgt     the writer killed mid-snapshot: half a record, no gzip trailer
  future.hgt     format version 3
  sampled.hgt    a sampled trace (format version 2, sample_bytes 65536): estimated
                 counters computed here with libm, independently of estimate.h
  notgz.hgt      plain text
  badstack.hgt   a snapshot referring to an undefined stack
  unknown.hgt    an unknown record tag and extra payload bytes (both ignored)
"""
import math
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"HEAPGRW\x01"


def u(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(v):
    return u(((v << 1) ^ (v >> 63)) & (2**64 - 1))


def b(data):
    if isinstance(data, str):
        data = data.encode()
    return u(len(data)) + data


def rec(tag, payload):
    return bytes([tag]) + u(len(payload)) + payload


def header(wrappers="", sample_bytes=0):
    return rec(1, u(1234) + u(1) + u(1700000000123456789) + u(777) + b("/usr/bin/demo")
               + u(2) + b("demo") + b("--fast") + u(100) + u(64) + u(sample_bytes) + u(0)
               + b(wrappers) + u(12) + u(0))


def module(mid, t, bias, start, end, path, bid):
    return rec(2, u(mid) + u(t) + u(bias) + u(start) + u(end) + b(path) + b(bid))


def unload(mid, t):
    return rec(3, u(mid) + u(t))


def stack(sid, frames):
    p = u(sid) + u(len(frames))
    prev = None
    for f in frames:
        p += u(f) if prev is None else s(f - prev)
        prev = f
    return rec(4, p)


def snapshot(t, rss, totals, counters):
    p = u(t) + u(rss) + b"".join(u(x) for x in totals) + u(len(counters))
    for c in counters:
        p += b"".join(u(x) for x in c)
    return rec(5, p)


SAMPLE_RATE = 65536
EST_ONE = 4096  # HG_EST_COUNT_ONE


def weigh(size, rate=SAMPLE_RATE):
    """docs/FORMAT.md, "Sampled traces": what one sampled allocation stands
    for: (bytes, count in 1/4096), each rounded to the nearest integer."""
    p = -math.expm1(-size / rate)
    return int(size / p + 0.5), int(EST_ONE / p + 0.5)


def sampled_snapshot(t, rss, blocks_alloc, blocks_live, dropped=0):
    """Version-2 SNAPSHOT listing every stack, from {stack: [sizes]} of the
    sampled blocks allocated so far and of those still live."""
    tot = [0] * 8
    est = [0] * 7
    counters = []
    for sid in sorted(blocks_alloc):
        a, lv = blocks_alloc[sid], blocks_live.get(sid, [])
        wa, wl = [weigh(x) for x in a], [weigh(x) for x in lv]
        c = (sid, sum(lv), len(lv), len(a), sum(a),
             sum(w[0] for w in wl), sum(w[1] for w in wl), sum(w[1] for w in wa),
             sum(w[0] for w in wa))
        counters.append(c)
        tot[0] += c[3]; tot[1] += c[4]; tot[4] += c[1]; tot[5] += c[2]
        est[0] += c[7]; est[1] += c[8]; est[4] += c[5]; est[5] += c[6]
    tot[2], tot[3], tot[6], tot[7] = tot[0] - tot[5], tot[1] - tot[4], tot[4], dropped
    est[2], est[3], est[6] = est[0] - est[5], est[1] - est[4], est[4]
    p = u(t) + u(rss) + b"".join(u(x) for x in tot) + b"".join(u(x) for x in est)
    p += u(len(counters))
    for c in counters:
        p += b"".join(u(x) for x in c)
    return rec(5, p)


def sampled_records():
    a1 = {1: [100, 100, 3000], 2: [200000]}
    return [
        MAGIC + u(2) + header("", SAMPLE_RATE),
        module(1, 10, 0x555555554000, 0x555555554000, 0x555555559000, "/usr/bin/demo", b""),
        stack(1, [0x555555555123, 0x555555555456]),
        stack(2, [0x555555555789]),
        sampled_snapshot(100000000, 4 << 20, a1, {1: [100, 100, 3000], 2: [200000]}),
        sampled_snapshot(200000000, 5 << 20, a1, {1: [100], 2: [200000]}),
        live_begin(300000000, 0, 2),
        live_chunk([(0x5555555A0000, 100, 1, 50), (0x7FFFF0000000, 200000, 2, 60)]),
        live_end(2),
        end(300000002, 0, 0),
    ]


def live_begin(t, reason, count):
    return rec(6, u(t) + u(reason) + u(count))


def live_chunk(entries):
    p = u(len(entries))
    prev = 0
    for addr, size, sid, tms in entries:
        p += s(addr - prev) + u(size) + u(sid) + u(tms)
        prev = addr
    return rec(7, p)


def live_end(count):
    return rec(8, u(count))


def end(t, reason, status):
    return rec(9, u(t) + u(reason) + s(status))


def warning(t, code, msg):
    return rec(10, u(t) + u(code) + b(msg))


def gz(parts, finish=True):
    """gzip with a sync flush after every part, as the writer does; without
    finish, the stream stops after the last flush (no final block, no
    trailer), like the file of a killed process."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = bytearray()
    for p in parts:
        out += c.compress(p) + c.flush(zlib.Z_SYNC_FLUSH)
    if finish:
        out += c.flush(zlib.Z_FINISH)
    return bytes(out)


def small_records():
    return [
        MAGIC + u(1) + header("my_alloc*"),
        module(1, 10, 0x555555554000, 0x555555554000, 0x555555559000, "/usr/bin/demo",
               bytes.fromhex("0123456789abcdef")),
        module(2, 11, 0x7FFFF7C00000, 0x7FFFF7C00000, 0x7FFFF7E00000,
               "/lib/x86_64-linux-gnu/libc.so.6", b""),
        stack(1, [0x555555555123, 0x555555555456, 0x7FFFF7C29D90]),
        stack(2, [0x555555555789]),
        snapshot(100000000, 4 << 20, [3, 3000, 1, 100, 2900, 2, 3000, 0],
                 [(1, 2000, 1, 2, 2100), (2, 900, 1, 1, 900)]),
        warning(150000000, 2, "live table could not grow"),
        snapshot(200000000, 5 << 20, [5, 5000, 2, 1100, 3900, 3, 3900, 1],
                 [(1, 3000, 2, 4, 4100)]),
        live_begin(300000000, 0, 3),
        live_chunk([(0x5555555A0000, 1000, 1, 50), (0x5555555A1000, 2000, 1, 150),
                    (0x555555590000, 900, 2, 60)]),
        live_end(3),
        unload(2, 300000001),
        end(300000002, 0, 0),
    ]


def main():
    files = {}
    files["small.hgt"] = gz(small_records())
    recs = small_records()[:8]
    recs[-1] = recs[-1][: len(recs[-1]) // 2]  # killed while writing it
    files["killed.hgt"] = gz(recs, finish=False)
    files["future.hgt"] = gz([MAGIC + u(3) + header()])
    files["sampled.hgt"] = gz(sampled_records())
    files["notgz.hgt"] = b"this is not a heapgrow trace\n"
    files["badstack.hgt"] = gz([MAGIC + u(1) + header(), stack(1, [0x1000]),
                                snapshot(1, 0, [0] * 8, [(1, 1, 1, 1, 1), (17, 1, 1, 1, 1)])])
    files["unknown.hgt"] = gz([MAGIC + u(1) + header(), rec(99, b"\x01\x02\x03"),
                               rec(9, u(5) + u(1) + s(3) + b"\xff\xfe")])
    for name, data in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
