"""Benchmark the tag's NMEA parser over the gpsd corpus against pynmea2, in one run.

    python tools/bench_nmea.py [--repeat N] [CORPUS_DIR]

Prints sentences/s for emtag on CPython (its default fast path, nmea_cpython.py, and
the tag's own code with portable=True), emtag in the MicroPython unix port, pynmea2 on
CPython, the ratios emtag/pynmea2, and bytes allocated per sentence on MicroPython.

The workload is every capture in the corpus, comment lines dropped, as one byte stream;
a "sentence" is a line holding a `$`. emtag does all its work (framing, checksum,
decoding every field it uses to integers, epoch assembly into a Fix). pynmea2 is timed
twice: parse() alone, which checks and splits a line but converts no field until one is
read, and parse() followed by reading the fields emtag decodes (PYNMEA2_FIELDS): the same
output, and the peer the 2x target is checked against. Best of --repeat interleaved runs;
the MicroPython figure counts feed() only.
"""

import argparse
import gc
import glob
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.join(HERE, "..", "..", "shared", "corpus", "gpsd")

MP_BENCH = r"""
import sys, gc, time
from emtag.firmware.nmea import NmeaParser
f = open(sys.argv[1], 'rb')
data = f.read()
f.close()
repeat = int(sys.argv[2])
def on_fix(fix):
    pass
best = 1 << 60
for _ in range(repeat):
    p = NmeaParser(on_fix)
    gc.collect()
    t = time.ticks_us()
    p.feed(data)
    p.flush()
    best = min(best, time.ticks_diff(time.ticks_us(), t))
p = NmeaParser(on_fix)
p.feed(data)  # warm: first use of each path
gc.collect()
gc.disable()  # nothing is freed, so mem_alloc grows by every byte allocated
a = gc.mem_alloc()
p.feed(data)
p.flush()
grown = gc.mem_alloc() - a
gc.enable()
print("MP", best, grown)
"""

# pynmea2 fields that hold what emtag decodes, per sentence type
PYNMEA2_FIELDS = {
    "RMC": ("timestamp", "status", "latitude", "longitude", "spd_over_grnd", "true_course",
            "datestamp", "mode_indicator"),
    "GGA": ("timestamp", "latitude", "longitude", "gps_qual", "num_sats", "horizontal_dil",
            "altitude"),
    "GLL": ("timestamp", "latitude", "longitude", "status"),
    "GNS": ("timestamp", "latitude", "longitude", "mode_indicator", "num_sats", "hdop",
            "altitude"),
    "ZDA": ("timestamp", "day", "month", "year"),
    "GST": ("timestamp", "std_dev_latitude", "std_dev_longitude", "std_dev_of_semi_major",
            "std_dev_of_semi_minor"),
    "GSA": ("mode_fix_type",) + tuple("sv_id%02d" % i for i in range(1, 13))
    + ("pdop", "hdop", "vdop"),
    "GSV": tuple("sv_prn_num_%d" % i for i in range(1, 5))
    + tuple("snr_%d" % i for i in range(1, 5)),
    "VTG": ("true_track", "spd_over_grnd_kts", "spd_over_grnd_kmph", "faa_mode"),
}


def load(corpus):
    from emtag.host.nmeacapture import strip_comments

    paths = sorted(glob.glob(os.path.join(corpus, "*.log")))
    if not paths:
        sys.exit("no .log files in " + corpus)
    data = b"".join(strip_comments(open(p, "rb").read()) for p in paths)
    lines = [line.decode("latin-1") for line in data.splitlines() if b"$" in line]
    return data, lines, len(paths)


def emtag_run(data, portable):
    from emtag.firmware.nmea import NmeaParser

    def run():
        p = NmeaParser(lambda fix: None, portable=portable)
        p.feed(data)
        p.flush()

    return run


def pynmea2_run(lines, fields):
    import pynmea2

    def run():
        for line in lines:
            try:
                msg = pynmea2.parse(line)
            except Exception:
                continue
            if fields:
                for name in PYNMEA2_FIELDS.get(getattr(msg, "sentence_type", ""), ()):
                    try:
                        getattr(msg, name)
                    except Exception:
                        pass

    return run


def best_interleaved(repeat, runs):
    """Best time of each run; rounds alternate between them so that a busy machine
    slows all of them alike and the ratios stay fair."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for k, fn in enumerate(runs):
            gc.collect()
            gc.disable()  # as timeit does: collector pauses are noise here
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
            gc.enable()
    return best


def bench_micropython(data, repeat):
    from emtag.host import unixport

    if unixport.binary() is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".nmea", delete=False) as f:
        f.write(data)
    try:
        # a heap big enough to hold the whole corpus in memory; the parser needs ~3 kB
        proc = unixport.run(["-c", MP_BENCH, f.name, str(repeat)], heapsize="8m",
                            capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(f.name)
    for line in proc.stdout.splitlines():
        if line.startswith("MP "):
            _, us, grown = line.split()
            return int(us) / 1e6, int(grown)
    sys.exit("MicroPython benchmark failed:\n" + proc.stdout + proc.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    data, lines, nfiles = load(args.corpus)
    n = len(lines)
    rate = lambda seconds: n / seconds  # noqa: E731

    cp, cp_portable, py, py_fields = best_interleaved(args.repeat, [
        emtag_run(data, portable=False), emtag_run(data, portable=True),
        pynmea2_run(lines, fields=False), pynmea2_run(lines, fields=True),
    ])
    mp = bench_micropython(data, args.repeat)

    print("corpus: %d files, %d bytes, %d sentences; best of %d runs; %s" % (
        nfiles, len(data), n, args.repeat, sys.version.split()[0]))
    print("emtag     CPython, fast path              %9.0f sentences/s" % rate(cp))
    print("emtag     CPython, tag's code (portable)  %9.0f sentences/s" % rate(cp_portable))
    if mp is None:
        print("emtag     MicroPython unix port         (not installed)")
    else:
        print("emtag     MicroPython unix port           %9.0f sentences/s" % rate(mp[0]))
    print("pynmea2   CPython, parse() + same fields  %9.0f sentences/s" % rate(py_fields))
    print("pynmea2   CPython, parse() alone          %9.0f sentences/s" % rate(py))
    print("ratio emtag/pynmea2 (CPython), same output: %.2f (target 2)" % (py_fields / cp))
    print("ratio emtag/pynmea2 (CPython), against parse() converting no field: %.2f"
          % (py / cp))
    if mp is not None:
        print("MicroPython: %d bytes allocated in %d sentences (%.2f bytes/sentence, %s per byte)"
              % (mp[1], n, mp[1] / n, "none" if mp[1] == 0 else "%.4f" % (mp[1] / len(data))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
