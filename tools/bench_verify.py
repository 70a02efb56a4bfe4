"""`emtag verify` on a long record stream: fixes per second and peak memory, against the
floor any verifier must pay, measured in this run on the same file.

The stream: one tag, FIXES fixes sealed by a checkpoint every 15 records (firmware/
evidence.py), written as the tag uploads them. `emtag verify --key` runs in a child process
(its output to /dev/null) whose peak RSS is read from the kernel. The peer: the same items
through the libraries alone (cbor2 decode, SHA-256 of every payload, cryptography's ES256
verify of every signed item), in one pass with no bookkeeping.

Targets (issue 13): >= 20,000 fixes/s, peak memory <= 50 MB whatever the stream's size.
"""

import os
import subprocess
import sys
import tempfile
import time

import cbor2

from emtag.tools import benchstreams

TARGET_RATE = 20000
TARGET_MB = 50

HELP = "emtag verify: fixes/s and peak memory on a long stream, against the libraries' floor"

# peak RSS from the kernel's VmHWM: a fresh count for the new program (getrusage's maxrss
# would carry over the size of the process that forked it)
CHILD = (
    "import sys\n"
    "from emtag.cli import main\n"
    "rc = main.main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "sys.stderr.write('@@ %s\\n' % hwm)\n"
    "sys.exit(rc)\n"
)


def add_arguments(p):
    p.add_argument("--fixes", type=int, default=100000, help="fixes (default: %(default)s)")


def floor(items, pub):
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    ecdsa = ec.ECDSA(hashes.SHA256())
    t0 = time.perf_counter()
    for _, wire in items:
        if wire[0] == 0xD2:
            prot, _, payload, sig = cbor2.loads(wire).value
            tbs = cbor2.dumps(["Signature1", prot, b"", payload])
            r, s = int.from_bytes(sig[:32]), int.from_bytes(sig[32:])
            key.verify(encode_dss_signature(r, s), tbs, ecdsa)
        else:
            payload = wire
        cbor2.loads(payload)
        hashlib.sha256(payload).digest()
    return time.perf_counter() - t0


def emtag_verify(path, key_path):
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", CHILD, "verify", "--key", key_path, path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("emtag verify failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    kb = int(r.stderr.rsplit("@@ ", 1)[1].split()[0])
    return took, kb / 1024


def run(args):
    t0 = time.perf_counter()
    signer, items = benchstreams.stream(7, args.fixes)
    n_fix = benchstreams.fixes_in(items)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "records.cbor")
        with open(path, "wb") as f:
            for _, w in items:
                f.write(w)
        key_path = os.path.join(tmp, "tag.pub")
        with open(key_path, "wb") as f:
            f.write(signer.public_key())
        size = os.path.getsize(path)
        print("%d fixes, %d records, %.1f MB (made in %.1f s)"
              % (n_fix, len(items), size / 1e6, time.perf_counter() - t0))  # fmt: skip
        small = os.path.join(tmp, "small.cbor")
        with open(small, "wb") as f:
            for _, w in items[:1600]:
                f.write(w)
        _, base_mb = emtag_verify(small, key_path)
        took, mb = emtag_verify(path, key_path)
    peer = floor(items, signer.public_key())
    print("emtag verify                  %8.0f fixes/s, peak %.1f MB (%.1f MB on 1,600 records)"
          % (n_fix / took, mb, base_mb))  # fmt: skip
    print("peer: libraries alone (floor) %8.0f fixes/s" % (n_fix / peer))
    print("ratio emtag/floor             %8.2f (time, including the process start)" % (took / peer))
    print("target %d fixes/s: %s; target %d MB: %s"
          % (TARGET_RATE, "met" if n_fix / took >= TARGET_RATE else "NOT met", TARGET_MB,
             "met" if mb <= TARGET_MB else "NOT met"))  # fmt: skip
    return 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    sys.exit(run(p.parse_args()))
