"""Where the wearer can have been between two fixes, and how soon they can reach a zone.

Both questions come from the zone engine (firmware/zones.py), in each zone's own plane
(decimetres), with small integers and no allocation.

Between two fixes far apart (a sparse receiver, an outage), `crossing` looks at the
reachable region: the wearer went from fix A to fix B along a path of length at most L
(`path_dm`: SLACK_PCT % of the fastest the fixes show, the straight line |AB| or either
Doppler speed over the time the wearer can have been moving, so one that set off from rest
at A is judged by the leg itself; a wearer the accelerometer saw still at A can only have
moved since it saw them move off). Every point P of such a path has |AP| + |PB| <= L: it
lies in the ellipse with foci A and B and major axis L.
- CERTAIN: a cross-section of that ellipse at right angles to AB, between A and B, lies
  wholly inside the zone by the decision margin. Every path from A to B crosses that line
  within the ellipse, so the wearer was surely inside: the engine raises breach + clear.
- POSSIBLE: the ellipse reaches into the zone by the margin somewhere, but no cross-section
  is wholly inside: the wearer could have been in (or could have gone round). The engine
  raises `crossing_possible`, a quieter record for the centre to look at.
The result packs the verdict with where along AB it was found (in 1/256 of |AB|) and the
ellipse's half-width there (dm): the alert's time and position are interpolated there, its
accuracy radius widened by that half-width.

`box_dm`: a lower bound on the distance to a zone far away, for the engine's clearance
(how far the last fix is from anywhere a rule could break: the tag's receiver may sleep
while the wearer could not get there even at the reach speed, firmware/duty.py).
"""

from emtag.firmware.plausibility import isqrt

NONE = 0
POSSIBLE = 1
CERTAIN = 2
SLACK_PCT = 120  # a wearer's speed between two fixes: up to 1.2x the fastest they show
STEPS = 16  # cross-sections along the ellipse
SAMPLES = 5  # points across each, looking for the deepest reachable one


def path_dm(d, va, vb, dt):
    """The longest path (dm) between fixes d dm apart, with Doppler speeds va, vb (mm/s,
    None when not reported), the wearer on the move for dt ms in between."""
    longest = d
    if va is not None and va * dt // 100000 > longest:
        longest = va * dt // 100000
    if vb is not None and vb * dt // 100000 > longest:
        longest = vb * dt // 100000
    return longest * SLACK_PCT // 100


def crossing(z, want, ax, ay, bx, by, length, need, cap):
    """Did a path of at most `length` dm from (ax, ay) to (bx, by) enter zone z by `need`
    dm? want: 1 for an exclusion zone (looking inside), -1 for an inclusion zone (looking
    outside). Returns verdict | fraction << 2 | half-width << 10 (see the module doc)."""
    dx = bx - ax
    dy = by - ay
    d = isqrt(dx * dx + dy * dy)
    if d == 0:
        dx, d = 1, 1  # any axis will do
    a = length // 2  # semi-major axis
    c = d // 2
    b = isqrt(a * a - c * c) if a > c else 0  # semi-minor axis
    mx = (ax + bx) // 2
    my = (ay + by) // 2
    if _depth(z, want, mx, my, dx, dy, d, 0, 0, cap) + a < need:
        return NONE  # every point of the ellipse is within a of the middle
    best = -cap - 1
    best_at = 0
    best_w = 0
    for k in range(STEPS + 1):
        u = -a + 2 * a * k // STEPS
        w = b * isqrt(a * a - u * u) // a if a else 0
        for j in range(SAMPLES if w else 1):  # across the cross-section, for POSSIBLE
            v = w * (2 * j - SAMPLES + 1) // (SAMPLES - 1)  # -w .. w
            s = _depth(z, want, mx, my, dx, dy, d, u, v, cap)
            if s > best:
                best = s
                best_at = u
                best_w = w
        if -c < u < c and _across(z, want, mx, my, dx, dy, d, u, w, need, cap):
            return CERTAIN | _frac(u, c, d) << 2 | w << 10
    if best >= need:
        return POSSIBLE | _frac(best_at, c, d) << 2 | best_w << 10
    return NONE


def _depth(z, want, mx, my, dx, dy, d, u, v, cap):
    """How deep (dm) into the zone's forbidden side the point (u along AB from the middle,
    v to its left) lies."""
    z.px = mx + (dx * u - dy * v) // d
    z.py = my + (dy * u + dx * v) // d
    return want * z.measure(cap)


def _across(z, want, mx, my, dx, dy, d, u, w, need, cap):
    """Is the whole cross-section at u (from -w to w) at least `need` deep? A point `depth`
    deep holds the chord within depth - need of it that deep too: walk by those steps;
    steps under w / 32 give up (a cross-section that grazes the edge is not sure)."""
    v = -w
    least = w // 32 + 1
    while True:
        r = _depth(z, want, mx, my, dx, dy, d, u, v, cap) - need
        if r < least:
            return False
        if v + r >= w:
            return True
        v += r


def _frac(u, c, d):
    f = (u + c) * 256 // d
    return 0 if f < 0 else (255 if f > 255 else f)


def place(snap, r, t0_ms, lat0, lon0, dt):
    """Move snap (a copy of fix B) to where along A -> B crossing() found the crossing
    (interpolated time and position), its accuracy radius widened by the half-width."""
    f = (r >> 2) & 255
    t = t0_ms + dt * f // 256
    snap.t = t // 1000
    snap.t_ms = t % 1000
    snap.lat = lat0 + (snap.lat - lat0) * f // 256
    snap.lon = lon0 + (snap.lon - lon0) * f // 256
    snap.acc_cm = (snap.acc_cm or 0) + (r >> 10) * 10
    return snap


def box_dm(z, lat, lon):
    """A lower bound on the distance (dm) from (lat, lon) to zone z's bounding box."""
    dl = z.lat_lo - lat if lat < z.lat_lo else (lat - z.lat_hi if lat > z.lat_hi else 0)
    dn = z.lon_lo - lon if lon < z.lon_lo else (lon - z.lon_hi if lon > z.lon_hi else 0)
    dl = (min(dl, 1 << 24) << 16) // z.klat  # degrees x 1e7 -> dm, rounded down
    dn = (min(dn, 1 << 24) << 16) // z.klon
    return dl if dl > dn else dn
