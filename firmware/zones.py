"""Zone engine on the tag: exclusion, inclusion and curfew zones, decided from GNSS fixes.

    engine = zonetable.engine(f)                             # table: protocol/zones.cddl
    for i in range(engine.update(fix)):                      # every fix, plausible or not
        kind, zone_id, snap = engine.events[i]               # log it, signed, at once
    engine.interval_ms()                                     # fix-record interval now

Geometry. Each zone has its own plane: decimetres east/north of the centre of its bounding
box, from a second-order expansion of the WGS84 ellipsoid around that centre (x = N cos(lat)
dlon at the point's own latitude, y = meridian arc plus the curvature of the parallel):
distances in it agree with geodesic ones to a few cm at 10 km. Fixes are projected with
integer fixed-point arithmetic; vertices once, at load, by the same code. Per fix:
- a bounding-box test in degrees x 1e7, widened by what could matter (decision margin,
  approach or near buffer, jump, 60 m), skips far zones before any multiplication;
- the distance to a boundary changes no faster than the fix moves, so while no decision
  threshold lies within the distance moved since a zone was last measured, the old
  measurement stands (most fixes measure nothing);
- polygons (holes, several parts) are measured in chunks of 16 edges with a bounding box
  each: chunks farther than the nearest edge found are skipped, and a chunk wholly right
  of the fix counts its ray crossings from its two ends. Circles are exact.

Decisions. s = signed distance to the boundary (positive inside). A fix's margin is its
accuracy radius (2DRMS) scaled to `sure_z` standard deviations along the boundary normal
(2 by default: 0.71 x the radius): s >= margin is surely inside, s <= -margin surely
outside, anything between uncertain, which changes nothing. When plausibility.FixFilter
has seen an unexplained jump (multipath), the fix must also be sure where it would be
without that jump. A change of side is confirmed after `confirm_s` seconds and
`confirm_fixes` sure fixes on the new side (clearing: `clear_s`, `clear_fixes`), with no
fix on the old side of the boundary in between. When fixes are sparse (more than `gap_s`,
at most `max_gap_s` apart) and the wearer drove straight between them, the segment is
checked too: a transit raises breach + clear. Schedules open and close zones by local
time (firmware/tz.py): a curfew is a scheduled inclusion zone. `near` (and so the fast
fix-record interval, and the duty-cycled receiver staying on): within `near_m` or the
approach buffer outside an exclusion zone, the buffer inside an inclusion zone, uncertain,
confirming, or in breach; it falls back `fast_hold_s` after the last such fix.

Alerts carry the time and position of the first sure fix of the confirmed run (`Snap`): a
record says when the breach began, not when the tag became sure of it.

Pure logic: no machine, no time, no I/O. The per-fix path uses small integers only and
allocates nothing unless an alert is raised (tests/device/test_zones_cost.py checks it
under micropython.heap_lock()). The table loader (zonetable.py) builds the engine and leaves
RAM after loading.
"""

from array import array

from emtag.firmware.plausibility import FixFilter, isqrt

EXCLUSION = 0
INCLUSION = 1
CIRCLE = 0
POLYGONS = 1
WEEK_MIN = 10080
MAX_MARGIN_DM = 10000  # decision margins are capped at 1 km
SLACK_DM = 600  # a zone's exact distance is worked out within margin + approach + 60 m
CHUNK = 16  # edges per bounding box inside a polygon

# confirmed side of a zone
UNKNOWN = 0
INSIDE = 1
OUTSIDE = 2


def minute_of_week(local_s):
    """Minutes since Monday 00:00 of local time local_s (1970-01-01 was a Thursday)."""
    days = local_s // 86400
    return ((days + 3) % 7) * 1440 + (local_s - days * 86400) // 60


ALERT_NAMES = (
    # kind, scheduled -> (breach, clear)
    (("exclusion_breach", "exclusion_clear"), ("exclusion_breach", "exclusion_clear")),
    (("inclusion_breach", "inclusion_clear"), ("curfew_breach", "curfew_clear")),
)
APPROACH = "zone_approach"


class ZoneTableError(ValueError):
    pass


class Snap:
    """The fields of one fix, kept for an alert record (same attribute names as nmea.Fix)."""

    def __init__(self):
        self.t = self.t_ms = self.lat = self.lon = self.acc_cm = None
        self.fix = self.sats = self.hdop = self.speed_mmps = self.course_cdeg = None
        self.alt_cm = None

    def take(self, f):
        self.t = f.t
        self.t_ms = f.t_ms
        self.lat = f.lat
        self.lon = f.lon
        self.acc_cm = f.acc_cm
        self.fix = f.fix
        self.sats = f.sats
        self.hdop = f.hdop
        self.speed_mmps = f.speed_mmps
        self.course_cdeg = f.course_cdeg
        self.alt_cm = f.alt_cm
        return self


class Zone:
    """One zone: geometry in its own plane, schedule, and the engine's state for it."""

    def __init__(self, zid, kind, approach_dm, rule, windows):
        self.id = zid
        self.kind = kind
        self.approach_dm = approach_dm
        self.rule = rule  # tz.Rule or None when always active
        self.windows = windows  # array('H'): start minute of week, duration, ...
        self.shape = CIRCLE
        self.radius_dm = 0
        # polygons: vertices in the plane (dm); per chunk of edges: first edge, end, vertex
        # before the first (ck) and bounding box (cb); all set by zonetable
        self.xs = self.ys = self.cb = array("i")
        self.ck = array("H")
        # the plane: origin (degrees x 1e7) and fixed-point factors; the bounding box
        self.lat0 = self.lon0 = self.kx = self.ky = self.c1 = self.c2 = self.c3 = 0
        self.lat_lo = self.lat_hi = self.lon_lo = self.lon_hi = self.klat = self.klon = 0
        self.px = self.py = 0
        self.reset()

    # per fix
    def project(self, lat, lon):
        """Fix into this zone's plane: self.px, self.py in decimetres."""
        xa = ((lon - self.lon0) * self.kx) >> 16  # 1/256 dm
        ya = ((lat - self.lat0) * self.ky) >> 16
        x1 = (xa + 128) >> 8  # dm, for the second-order terms
        y1 = (ya + 128) >> 8
        self.px = (xa - ((x1 * y1 * self.c1 + 2147483648) >> 32) + 128) >> 8
        self.py = (ya + ((x1 * x1 * self.c2 + y1 * y1 * self.c3 + 2147483648) >> 32) + 128) >> 8

    def far(self, lat, lon, reach):
        """True when (lat, lon) is more than `reach` dm from the zone's bounding box."""
        d = (reach * self.klat) >> 16
        if lat < self.lat_lo - d or lat > self.lat_hi + d:
            return True
        d = (reach * self.klon) >> 16
        return lon < self.lon_lo - d or lon > self.lon_hi + d

    def measure(self, cap):
        """Signed distance (dm, positive inside) of (self.px, self.py) to the boundary, or
        +-cap when it is farther than cap (which saves looking at far edges)."""
        px, py = self.px, self.py
        if self.shape == CIRCLE:
            d2 = px * px + py * py
            d = isqrt(d2)
            if d2 - d * d > d:
                d += 1
            return self.radius_dm - d
        xs = self.xs
        ys = self.ys
        ck = self.ck
        cb = self.cb
        inside = False
        best = cap * cap + 1
        for c in range(0, len(ck), 3):
            # a chunk of edges whose box is farther than the nearest edge so far cannot
            # hold a nearer one; one wholly right of the point crosses the ray y = py an odd
            # number of times exactly when its ends lie on either side of it
            k = c + c // 3  # 4 box values per chunk
            x0 = cb[k]
            x1 = cb[k + 1]
            y0 = cb[k + 2]
            y1 = cb[k + 3]
            ex = x0 - px if px < x0 else (px - x1 if px > x1 else 0)
            ey = y0 - py if py < y0 else (py - y1 if py > y1 else 0)
            need_d = ex * ex + ey * ey < best
            i0 = ck[c]
            i1 = ck[c + 1]
            j = ck[c + 2]
            need_x = False
            if y0 <= py < y1:
                if x0 > px:
                    if (ys[j] > py) != (ys[i1 - 1] > py):
                        inside = not inside
                elif x1 > px:
                    need_x = True
            if not need_d and not need_x:
                continue
            ax = xs[j]
            ay = ys[j]
            for i in range(i0, i1):
                bx = xs[i]
                by = ys[i]
                dx = bx - ax
                dy = by - ay
                qx = px - ax
                qy = py - ay
                if need_x and (ay > py) != (by > py):  # edge straddles the ray y = py, x > px
                    if (qx * dy < qy * dx) == (dy > 0):
                        inside = not inside
                if need_d:
                    t = qx * dx + qy * dy
                    if t <= 0:
                        d2 = qx * qx + qy * qy
                    elif t >= dx * dx + dy * dy:
                        qx = px - bx
                        qy = py - by
                        d2 = qx * qx + qy * qy
                    else:
                        c2 = qx * dy - qy * dx  # distance to the line: c2 / |edge|
                        d2 = c2 * c2 // (dx * dx + dy * dy)
                    if d2 < best:
                        best = d2
                ax = bx
                ay = by
        if best > cap * cap:
            return cap if inside else -cap
        d = isqrt(best)
        if best - d * d > d:  # round to the nearest decimetre
            d += 1
        return d if inside else -d

    def signed_distance_dm(self, lat, lon):
        """Signed distance (dm) of a point in degrees x 1e7; host tools and tests."""
        self.project(lat, lon)
        return self.measure(1 << 30)

    def contains(self, lat, lon):
        return not self.far(lat, lon, 10) and self.signed_distance_dm(lat, lon) > 0

    # schedule
    def active(self, t):
        """Whether a schedule window is open at UTC time t. A window runs from the first
        instant the wall clock shows its start to the first instant it shows its end, so
        it keeps its local times across DST changes (a night curfew is an hour shorter or
        longer then) and never reopens in the hour that repeats."""
        w = self.windows
        if w is None:
            return True
        rule = self.rule
        local = rule.local(t)
        mow = minute_of_week(local)
        minute = local - local % 60
        for i in range(0, len(w), 2):
            back = (mow - w[i]) % WEEK_MIN  # wall-clock minutes since it last opened
            if w[i + 1] + 120 <= back < WEEK_MIN - 120:
                continue  # far from this window, DST or not
            start = minute - back * 60
            if back >= WEEK_MIN - 120:  # opens "soon": it may have opened an hour ago
                start += WEEK_MIN * 60
            if rule.utc(start) <= t < rule.utc(start + w[i + 1] * 60):
                return True
        return False

    # engine state
    def reset(self):
        self.state = UNKNOWN
        self.breach = False
        self.cand = UNKNOWN  # side a run of sure fixes is building toward
        self.cand_t = 0
        self.cand_n = 0
        self.first = Snap()  # first sure fix of the candidate run
        self.s = 0  # signed distance of the last fix (dm)
        self.ref_ok = False  # rx, ry: where s was last measured (plane, dm); rs: s there
        self.rx = self.ry = self.rs = 0
        self.approach_n = 0
        self.approach_t = None  # last zone_approach
        self.approach_armed = True
        self.was_active = False


class ZoneEngine:
    """Every fix in, alerts out. `near`: a zone is close, uncertain or breached."""

    def __init__(self, zones, settings):
        """zones: Zone objects; settings: every setting (zonetable.SETTINGS) by name."""
        self.zones = zones
        g = settings
        self.sure_z = g["sure_z_x100"]
        self.confirm_ms = g["confirm_s"] * 1000
        self.confirm_fixes = g["confirm_fixes"]
        self.clear_ms = g["clear_s"] * 1000
        self.clear_fixes = g["clear_fixes"]
        self.approach_fixes = g["approach_fixes"]
        self.approach_repeat_ms = g["approach_repeat_s"] * 1000
        self.fast_ms = g["fast_interval_s"] * 1000
        self.slow_ms = g["slow_interval_s"] * 1000
        self.fast_hold_ms = g["fast_hold_s"] * 1000
        self.near_dm = g["near_m"] * 10
        self.gap_ms = g["gap_s"] * 1000
        self.max_gap_ms = g["max_gap_s"] * 1000
        self.filter = FixFilter(
            min_sats=g["min_sats"],
            max_hdop=g["max_hdop_x100"],
            max_acc_cm=g["max_acc_m"] * 100,
            max_speed_mmps=g["max_speed_mps"] * 1000,
            jump_z_x100=g["jump_z_x100"],
            jump_hold_ms=g["jump_hold_s"] * 1000,
            jump_decay_cmps=g["jump_decay_cmps"],
            tau_s=g["error_tau_s"],
        )
        self.events = []
        self.n_events = 0
        self.near = False
        self.accepted = False
        self.near_until = None
        self.now_ms = None
        self.prev_ms = None
        self.prev_lat = self.prev_lon = 0
        self.prev_speed = None
        self.prev_margin = 0
        self.transit = Snap()

    def interval_ms(self):
        """Interval between fix records: fast near zones and for a while after."""
        if self.near_until is not None and self.now_ms is not None:
            if self.now_ms < self.near_until:
                return self.fast_ms
        return self.slow_ms

    def update(self, fix):
        """Check one fix; returns n, the number of alerts it raised: self.events[0:n] are
        (alert kind, zone id, Snap of the fix behind it), valid until the next call (the
        list is reused, never shrunk: a fix that raises nothing allocates nothing)."""
        self.n_events = 0
        flt = self.filter
        if not flt.accept(fix):
            self.accepted = False
            return 0
        self.accepted = True
        lat, lon = fix.lat, fix.lon
        now = fix.t * 1000 + (fix.t_ms or 0)
        self.now_ms = now
        margin = (flt.acc_cm * self.sure_z) // 2830  # cm -> dm, 2DRMS -> sigma -> z sigma
        if margin > MAX_MARGIN_DM:
            margin = MAX_MARGIN_DM
        gap = self.prev_ms is not None and self.gap_ms < now - self.prev_ms <= self.max_gap_ms
        jx = flt.jump_x_cm // 10  # dm: where the fix would be without the last jump
        jy = flt.jump_y_cm // 10
        jump = jx != 0 or jy != 0
        jl = flt.jump_cm // 10 + 1 if jump else 0
        # beyond this (plus a zone's approach) from a zone, nothing about it can change
        reach = margin + flt.jump_cm // 10 + SLACK_DM
        near = False
        for z in self.zones:
            if z.windows is not None:
                on = z.active(fix.t)
                if not on:
                    if z.was_active:
                        self._deactivate(z, fix)
                    continue
                if not z.was_active:
                    z.reset()
                    z.was_active = True
            ap = z.approach_dm
            # near: within near_m (or the approach buffer) outside an exclusion zone;
            # within the buffer inside an inclusion zone (at home is not "near" a curfew)
            wide = ap if ap > self.near_dm or z.kind == INCLUSION else self.near_dm
            if z.far(lat, lon, reach + wide):
                s = alt = -(reach + wide) - 1
                z.ref_ok = False
            else:
                z.project(lat, lon)
                # distance to the boundary changes no faster than the fix moves: while no
                # decision threshold can have been crossed, the last measurement stands
                dx = z.px - z.rx
                dy = z.py - z.ry
                g = _gap(z.rs, margin, ap, wide) - jl
                if z.ref_ok and g > 0 and dx * dx + dy * dy < g * g:
                    s = alt = z.rs
                else:
                    s = alt = z.measure(reach + wide)
                    z.rx = z.px
                    z.ry = z.py
                    z.rs = s
                    z.ref_ok = True
                    if jump and _gap(s, margin, ap, wide) <= jl:  # the jump may matter here
                        z.px -= jx
                        z.py -= jy
                        alt = z.measure(reach + wide)
            if gap and z.state != UNKNOWN:
                self._sparse(z, fix, s, margin, reach + wide, now - self.prev_ms)
            z.s = s
            if self._decide(z, fix, s, alt, margin, now):
                near = True
        self.prev_ms = now
        self.prev_lat, self.prev_lon, self.prev_margin = lat, lon, margin
        self.prev_speed = fix.speed_mmps
        self.near = near
        if near:
            self.near_until = now + self.fast_hold_ms
        return self.n_events

    def _push(self, kind, zid, snap):
        ev = self.events
        if self.n_events < len(ev):
            ev[self.n_events] = (kind, zid, snap)
        else:
            ev.append((kind, zid, snap))
        self.n_events += 1

    def _emit(self, z, breach, snap):
        names = ALERT_NAMES[z.kind][1 if z.windows is not None else 0]
        self._push(names[0] if breach else names[1], z.id, snap)
        z.breach = breach

    def _deactivate(self, z, fix):
        """A schedule window closed: an open breach ends with it."""
        if z.breach:
            self._emit(z, False, self.transit.take(fix))
        z.reset()

    def _decide(self, z, fix, s, alt, margin, now):
        """Update one zone's state with a fix at signed distance s (alt: where it would be
        without the last unexplained jump); True when near."""
        if s >= margin and alt >= margin:
            side = INSIDE
        elif s <= -margin and alt <= -margin:
            side = OUTSIDE
        else:
            side = UNKNOWN
        bad = INSIDE if z.kind == EXCLUSION else OUTSIDE  # the side that breaks the rule
        # point on the confirmed side again: any run toward the other side ends
        if z.cand != UNKNOWN and (s > 0) != (z.cand == INSIDE):
            z.cand = UNKNOWN
        if side != UNKNOWN and side != z.state:
            if z.cand != side:
                z.cand = side
                z.cand_t = now
                z.cand_n = 0
                z.first.take(fix)
            z.cand_n += 1
            to_bad = side == bad
            need_ms = self.confirm_ms if to_bad else self.clear_ms
            need_n = self.confirm_fixes if to_bad else self.clear_fixes
            if z.state == UNKNOWN and not to_bad:
                need_ms, need_n = 0, 1  # first sure look, on the good side: nothing to say
            if now - z.cand_t >= need_ms and z.cand_n >= need_n:
                z.state = side
                z.cand = UNKNOWN
                if to_bad and not z.breach:
                    self._emit(z, True, z.first)
                elif not to_bad and z.breach:
                    self._emit(z, False, z.first)
        elif side == z.state:
            z.cand = UNKNOWN
        # approach: outside an exclusion zone (inside an inclusion zone), within approach_m
        ap = z.approach_dm
        if ap:
            depth = -s if z.kind == EXCLUSION else s  # distance to the boundary, good side
            if 0 < depth <= ap and not z.breach:
                z.approach_n += 1
                if (
                    z.approach_armed
                    and z.approach_n >= self.approach_fixes
                    and (z.approach_t is None or now - z.approach_t >= self.approach_repeat_ms)
                ):
                    self._push(APPROACH, z.id, Snap().take(fix))
                    z.approach_t = now
                    z.approach_armed = False
            else:
                z.approach_n = 0
                if depth > ap + margin + 500:  # 50 m past the buffer: warn again next time
                    z.approach_armed = True
        wide = (ap if ap > self.near_dm or z.kind == INCLUSION else self.near_dm) + margin
        return z.breach or z.cand != UNKNOWN or side != z.state or -wide <= s <= wide

    def _sparse(self, z, fix, s, margin, reach, dt):
        """Fixes far apart (a duty-cycled receiver, an outage): did the track between them
        cross the zone? Only believed for a vehicle or a bicycle (Doppler speed of 2 m/s or
        more at both fixes) going straight: the average speed between the fixes is at
        least 70 % of the slower one, so there was no room for a detour round the zone."""
        s0 = z.s
        if z.kind == EXCLUSION and z.state == OUTSIDE:
            want = 1  # both sure outside: look for the deepest point inside
            if s0 > -self.prev_margin or s > -margin:
                return
        elif z.kind == INCLUSION and z.state == INSIDE:
            want = -1  # both sure inside: look for the farthest point out
            if s0 < self.prev_margin or s < margin:
                return
        else:
            return
        va, vb = self.prev_speed, fix.speed_mmps
        if va is None or vb is None or va < 2000 or vb < 2000:
            return
        lat0, lon0 = self.prev_lat, self.prev_lon
        z.project(lat0, lon0)
        x0, y0 = z.px, z.py
        z.project(fix.lat, fix.lon)
        dx, dy = z.px - x0, z.py - y0
        d = isqrt(dx * dx + dy * dy)  # dm
        if d * 100000 < (va if va < vb else vb) * dt * 7 // 10:
            return
        need = margin if margin > self.prev_margin else self.prev_margin
        dlat, dlon = fix.lat - lat0, fix.lon - lon0
        best = -(1 << 60)
        steps = 16
        for k in range(1, steps):
            la = lat0 + dlat * k // steps
            lo = lon0 + dlon * k // steps
            if z.far(la, lo, reach):
                continue
            z.project(la, lo)
            v = z.measure(reach) * want
            if v > best:
                best = v
        if best >= need:
            snap = self.transit.take(fix)
            self._emit(z, True, snap)
            self._emit(z, False, snap)

    def breaches(self):
        """Ids of the zones in breach now (the tag keeps them on flash across restarts)."""
        return [z.id for z in self.zones if z.breach]

    def restore(self, ids):
        """Zones that were in breach before a restart are in breach again: no second breach
        alert, and the clear comes when the wearer is surely back on the good side (or,
        for a schedule, when its window has closed)."""
        for z in self.zones:
            if z.id in ids:
                z.state = INSIDE if z.kind == EXCLUSION else OUTSIDE
                z.breach = True
                z.was_active = True
                z.approach_armed = False

    def stats(self):
        """Counters for the shutdown event: fixes set aside, by reason."""
        return self.filter.stats()


def _gap(s, m, ap, wide):
    """How far s is from the nearest value a decision compares it with: 0, +-m, +-ap,
    +-(ap + m), +-(ap + m + 50 m) and +-(wide + m)."""
    a = s if s >= 0 else -s
    g = a
    t = wide + m
    d = a - t if a > t else t - a
    if d < g:
        g = d
    d = a - m if a > m else m - a
    if d < g:
        g = d
    d = a - ap if a > ap else ap - a
    if d < g:
        g = d
    t = ap + m
    d = a - t if a > t else t - a
    if d < g:
        g = d
    t += 500
    d = a - t if a > t else t - a
    if d < g:
        g = d
    return g
