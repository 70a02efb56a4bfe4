"""Benchmark ES256 sign/verify: emtag's pure-Python P-256 on the MicroPython unix port and on
CPython, against `cryptography` (OpenSSL) on CPython, all measured in this run.

Usage: python -m emtag.tools.bench_p256 [-n COUNT] [--heapsize 192k]
"""

import argparse
import os
import sys
import time

from emtag.firmware import p256
from emtag.host import unixport

D = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721

# Same loop on both interpreters: clock() returns microseconds.
LOOP = """
from emtag.firmware import p256
def run(clock, n):
    t0 = clock()
    pub = p256.public_point(%d)  # first use also builds the comb table
    t1 = clock()
    msgs = [b"fix %%d" %% i for i in range(n)]
    sigs = [p256.sign(%d, m) for m in msgs]
    t2 = clock()
    for m, s in zip(msgs, sigs):
        assert p256.verify(pub, m, s)
    t3 = clock()
    return t1 - t0, (t2 - t1) / n, (t3 - t2) / n
""" % (D, D)

MPY_MAIN = """
import time
print("@@", *run(lambda: time.time_ns() // 1000, %d))  # ticks_us would wrap
"""


def bench_micropython(n, heapsize):
    if unixport.binary() is None:
        return None
    proc = unixport.run(
        ["-c", LOOP + MPY_MAIN % n], heapsize=heapsize, capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return tuple(float(x) for x in line.split()[1:])
    raise RuntimeError("MicroPython run failed:\n" + proc.stdout + proc.stderr)


def bench_cpython(n):
    # Drop the comb table so its build is timed as on the tag.
    p256._comb_table = None
    ns: dict = {}
    exec(LOOP, ns)
    return ns["run"](lambda: time.perf_counter() * 1e6, n)


def bench_cryptography(n):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(D, ec.SECP256R1())
    pub = key.public_key()
    algo = ec.ECDSA(hashes.SHA256())
    msgs = [b"fix %d" % i for i in range(n)]
    t1 = time.perf_counter()
    sigs = [key.sign(m, algo) for m in msgs]
    t2 = time.perf_counter()
    for m, s in zip(msgs, sigs, strict=True):
        pub.verify(s, m, algo)
    t3 = time.perf_counter()
    return 0.0, (t2 - t1) * 1e6 / n, (t3 - t2) * 1e6 / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="signatures per implementation")
    ap.add_argument("--heapsize", default=unixport.HEAPSIZE, help="MicroPython heap")
    args = ap.parse_args(argv)
    rows = []
    mpy = bench_micropython(args.n, args.heapsize)
    if mpy is None:
        print("MicroPython unix port not installed: skipping it", file=sys.stderr)
    else:
        rows.append(("emtag p256, MicroPython %s heap" % args.heapsize, mpy))
    rows.append(("emtag p256, CPython %d.%d" % sys.version_info[:2], bench_cpython(args.n)))
    rows.append(("cryptography (OpenSSL), CPython", bench_cryptography(args.n * 10)))
    print("ES256 (P-256, SHA-256), %d signatures each; host: %s" % (args.n, os.uname().machine))
    print(
        "%-36s %10s %10s %10s %10s %9s"
        % ("", "sign/s", "verify/s", "sign ms", "verify ms", "setup ms")
    )
    for name, (setup, sign_us, verify_us) in rows:
        print(
            "%-36s %10.0f %10.0f %10.3f %10.3f %9.1f"
            % (name, 1e6 / sign_us, 1e6 / verify_us, sign_us / 1e3, verify_us / 1e3, setup / 1e3)
        )
    ref = rows[-1][1]
    print("ratios (time relative to cryptography; higher is slower):")
    for name, (_, sign_us, verify_us) in rows[:-1]:
        print("  %-34s sign x%.0f, verify x%.0f" % (name, sign_us / ref[1], verify_us / ref[2]))
    if mpy is not None:
        cpy = rows[1][1]
        print(
            "  MicroPython / CPython (emtag p256)   sign x%.1f, verify x%.1f"
            % (mpy[1] / cpy[1], mpy[2] / cpy[2])
        )
    print("setup = first public_point(), which builds the fixed-base comb table")


if __name__ == "__main__":
    main()
