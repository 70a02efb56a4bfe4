# The zone engine's per-fix path allocates nothing: 20 polygons of 200 vertices, a drive
# past every one of them, each fix that raises no alert run under micropython.heap_lock()
# (on CPython the same track runs, without the lock). Timing: emtag bench zones.
import math
import struct

from emtag.firmware import zonetable
from emtag.protocol import cbor

MICROPYTHON_HEAPSIZE = "1M"

LAT0 = 534631000
LON0 = -22913000
T0 = 1767600000
M_PER_E7 = 0.0111319
COS0 = math.cos(math.radians(LAT0 / 1e7))


def pos(north_m, east_m):
    return (LAT0 + round(north_m / M_PER_E7), LON0 + round(east_m / (M_PER_E7 * COS0)))


class F:
    def __init__(self, t, north_m, east_m, speed_mmps):
        self.t, self.t_ms = t, 0
        self.lat, self.lon = pos(north_m, east_m)
        self.acc_cm, self.speed_mmps, self.sats, self.hdop, self.fix = 850, speed_mmps, 9, 100, 3
        self.course_cdeg = self.alt_cm = 0


def centres():
    # a 5 x 4 grid, 1.2 km apart
    return [(1200 * (k // 5), 1200 * (k % 5)) for k in range(20)]


def zone_table():
    items = [[1, {}, [], 20]]
    for k, (cn, ce) in enumerate(centres()):
        ring = b""
        for i in range(200):
            a = 2 * math.pi * i / 200
            r = 300 + 40 * math.sin(5 * a)  # a wavy outline, concave in places
            ring += struct.pack("<ii", *pos(cn + r * math.sin(a), ce + r * math.cos(a)))
        items.append(["zone-%d" % k, 0, 20000, 0, [], [1, [[ring]]]])
    return b"".join(cbor.dumps(cbor.dumps(item)) for item in items)


def track():
    """Along each row of zones, 380 m north of their centres: past 20 boundaries, inside the
    approach buffers, at 12 m/s, a fix a second."""
    t = T0
    for row in range(4):
        for k in range(500):
            yield F(t, 1200 * row + 380, -600 + 12 * k, 12000)
            t += 1


def test_per_fix_path_allocates_nothing():
    table = zone_table()
    # first pass: which fixes raise alerts (those allocate: a tuple, maybe a Snap)
    eng = zonetable.engine(table)
    assert len(eng.zones) == 20
    raised = bytearray()
    for f in track():
        raised.append(eng.update(f))
    assert sum(raised) >= 20  # a zone_approach for every zone passed
    assert sum(1 for n in raised if not n) > 1900
    try:
        import micropython  # type: ignore[import-not-found]
    except ImportError:
        return  # CPython: nothing more to see
    # second pass, same fixes, a fresh engine: every quiet fix under heap_lock
    eng = zonetable.engine(table)
    k = 0
    for f in track():
        if k == 0 or raised[k]:  # the first fix sets up the filter (a cosine: floats)
            n = eng.update(f)
        else:
            micropython.heap_lock()
            try:
                n = eng.update(f)
            except MemoryError:
                n = -1
            finally:
                micropython.heap_unlock()
        assert n == raised[k], "fix %d: %d alerts (-1: it allocated), %d before" % (k, n, raised[k])
        k += 1
