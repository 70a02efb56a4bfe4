"""Benchmark the tag's CBOR codec (protocol/cbor.py) on a fix record, the item the tag
encodes most: on the MicroPython unix port and on CPython, against cbor2 (its C extension)
on CPython, all measured in this run. Prints microseconds per encode and per decode, and
the ratios to cbor2.

Usage: python -m emtag.tools.bench_cbor [-n COUNT]
"""

import argparse
import sys
import time

from emtag.host import unixport

# One loop for both interpreters: a fix record built by records.fix_record (a 32-byte
# chain hash and the fix's integer fields), encoded and decoded n times; clock() is in
# microseconds.
LOOP = """
from emtag.protocol import cbor, records
class Fix:
    t, t_ms, lat, lon, acc_cm = 1772442470, 593, 534631001, -22913000, 509
    fix, sats, hdop, alt_cm, speed_mmps, course_cdeg = 3, 9, 91, 4500, 1389, 23050
REC = records.fix_record(4711, b"\\x5a" * 32, Fix())
def run(clock, n, dumps=cbor.dumps, loads=cbor.loads):
    wire = dumps(REC)
    assert loads(wire) == REC
    t0 = clock()
    for _ in range(n):
        dumps(REC)
    t1 = clock()
    for _ in range(n):
        loads(wire)
    t2 = clock()
    return (t1 - t0) / n, (t2 - t1) / n, len(wire)
"""

MPY_MAIN = """
import time
print("@@", *run(lambda: time.time_ns() // 1000, %d))
"""


def bench_micropython(n):
    if unixport.binary() is None:
        return None
    proc = unixport.run(["-c", LOOP + MPY_MAIN % n], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return tuple(float(x) for x in line.split()[1:])
    raise RuntimeError("MicroPython run failed:\n" + proc.stdout + proc.stderr)


def bench_cpython(n, peer=False):
    ns: dict = {}
    exec(LOOP, ns)
    clock = lambda: time.perf_counter() * 1e6  # noqa: E731
    if not peer:
        return ns["run"](clock, n)
    import cbor2

    return ns["run"](clock, n, lambda o: cbor2.dumps(o, canonical=True), cbor2.loads)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20000, help="encodes and decodes (20000)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("-n must be at least 1")
    rows = [
        ("emtag, MicroPython unix port", bench_micropython(args.n)),
        ("emtag, CPython", bench_cpython(args.n)),
        ("cbor2 (C), CPython", bench_cpython(args.n, peer=True)),
    ]
    peer = rows[-1][1]
    print("fix record, %d B on the wire; mean of %d encodes and %d decodes"
          % (peer[2], args.n, args.n))
    for name, r in rows:
        if r is None:
            print("%-30s (MicroPython unix port not installed)" % name)
            continue
        print("%-30s encode %7.2f us (%5.1fx cbor2)  decode %7.2f us (%5.1fx cbor2)"
              % (name, r[0], r[0] / peer[0], r[1], r[1] / peer[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
