"""Which fixes the zone engine may believe, and how far: the tag's plausibility filter.

    f = FixFilter()
    if f.accept(fix):      # False: set aside, counted by reason in f.counts
        f.acc_cm           # the fix's accuracy radius (from HDOP when it has none)
        f.jump_x_cm, f.jump_y_cm   # the unexplained jump in force (east, north), or 0, 0

Set aside (each counted): no valid position or time, 0/0 ("null island", a receiver's
default), coordinates out of range, time not after the last accepted fix, fewer than
`min_sats` satellites, HDOP above `max_hdop` (x100), accuracy worse than `max_acc_cm`,
reported speed above `max_speed_mmps`, or a move from the last accepted fix that no
plausible speed explains (after 5 such fixes in a row the filter believes the new
position: the old one was the odd one out).

Jumps. Multipath in urban canyons moves fixes by 15-100 m within a few seconds while the
receiver's Doppler speed (measured from carrier frequency, not from positions) stays
honest, and the receiver's own accuracy estimate often does not grow to match. The filter
compares each fix with accepted fixes 1, 2, 4 and 8 epochs back: displacement beyond the
Doppler path length plus what correlated noise of the reported accuracy explains (`jump_z`
standard deviations of a first-order Gauss-Markov error with time constant `tau_s`) is an
unexplained jump. The latest one (a bigger one, or one pointing another way: the way back
from an excursion, or a new excursion) is held for `jump_hold_ms`, then shrinks at
`jump_decay_cmps`. The zone engine then asks whether the fix is sure both where it is and
where it would be without the jump: a fix pulled 60 m toward a zone stays uncertain
instead of looking like a wearer who walked 60 m in two seconds.

Pure integer code per fix (the noise factor table is built once with floats); allocates
nothing.
"""

import math

REASONS = (
    "invalid",
    "null_island",
    "out_of_range",
    "time",
    "few_sats",
    "high_hdop",
    "poor_accuracy",
    "speed",
)
R_INVALID = 0
R_NULL = 1
R_RANGE = 2
R_TIME = 3
R_SATS = 4
R_HDOP = 5
R_ACC = 6
R_SPEED = 7

RING = 16
LAGS = (1, 2, 4, 8)
UERE_CM = 500  # accuracy from HDOP alone when the receiver gives none: 2 * HDOP * UERE
SPEED_SLACK_CMPS = 50  # Doppler speed error allowed, cm/s
UNKNOWN_SPEED_CMPS = 300
JUMP_BASE_CM = 300
MAX_SPEED_REJECTS = 5


def _isqrt(n):
    """floor(sqrt(n)) for an int n >= 0, by Newton's method from a power of two above."""
    if n < 2:
        return n if n > 0 else 0
    x = 1
    m = n
    while m > 3:
        m >>= 2
        x <<= 1
    x <<= 1  # x > sqrt(n)
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


isqrt = getattr(math, "isqrt", _isqrt)  # CPython's is in C; MicroPython has none


class FixFilter:
    def __init__(
        self,
        min_sats=4,
        max_hdop=500,
        max_acc_cm=100000,
        max_speed_mmps=70000,
        jump_z_x100=400,
        jump_hold_ms=60000,
        jump_decay_cmps=100,
        tau_s=30,
    ):
        self.min_sats = min_sats
        self.max_hdop = max_hdop
        self.max_acc_cm = max_acc_cm
        self.max_speed_mmps = max_speed_mmps
        self.jump_z = jump_z_x100
        self.jump_hold_ms = jump_hold_ms
        self.jump_decay = jump_decay_cmps
        # sqrt(2 (1 - exp(-dt / tau))) x 1024 for dt = 0..63 s: how far correlated noise
        # of unit sigma moves a fix in dt, per axis
        self.noise = [int(1024 * math.sqrt(2 * (1 - math.exp(-dt / tau_s)))) for dt in range(64)]
        self.counts = [0] * len(REASONS)
        self.accepted = 0
        self.acc_cm = 0  # accuracy radius of the last accepted fix
        self.jump_cm = 0  # unexplained jump in force: length, cm
        self.jump_x_cm = self.jump_y_cm = 0  # and vector (east, north)
        self._jump_held = 0
        self._jump_t = 0
        self._jump_x = self._jump_y = 0
        self._t = [0] * RING
        self._lat = [0] * RING
        self._lon = [0] * RING
        self._path = [0] * RING  # cumulative Doppler path length, cm
        self._n = 0  # fixes in the ring
        self._head = 0  # index of the newest
        self._speed = 0  # cm/s of the newest
        self._acc = 0
        self._rejects = 0
        self._cos_lat = 0  # latitude band of the cached cosine
        self._cos_q16 = 65536

    def stats(self):
        d = {"accepted": self.accepted}
        for i in range(len(REASONS)):
            d[REASONS[i]] = self.counts[i]
        return d

    def _reject(self, reason):
        self.counts[reason] += 1
        return False

    def _dist2_cm(self, lat0, lon0, lat1, lon1):
        """Squared distance in cm^2 (flat earth, good to 0.5 % over a few km)."""
        dy = (lat1 - lat0) * 11132 // 10000
        dx = (lon1 - lon0) * self._cos_q16 // 65536 * 11132 // 10000
        return dx * dx + dy * dy

    def accept(self, fix):
        lat, lon, t = fix.lat, fix.lon, fix.t
        if fix.fix is None or fix.fix < 2 or lat is None or lon is None or t is None:
            return self._reject(R_INVALID)
        if -1000 < lat < 1000 and -1000 < lon < 1000:
            return self._reject(R_NULL)
        if not (-900000000 <= lat <= 900000000 and -1800000000 <= lon <= 1800000000):
            return self._reject(R_RANGE)
        now = t * 1000 + (fix.t_ms or 0)
        n = self._n
        head = self._head
        if n and now <= self._t[head]:
            return self._reject(R_TIME)
        if fix.sats is not None and fix.sats < self.min_sats:
            return self._reject(R_SATS)
        if fix.hdop is not None and fix.hdop > self.max_hdop:
            return self._reject(R_HDOP)
        acc = fix.acc_cm
        if acc is None:
            acc = fix.hdop * 2 * UERE_CM // 100 if fix.hdop is not None else 5000
        if acc > self.max_acc_cm:
            return self._reject(R_ACC)
        speed = fix.speed_mmps
        if speed is not None and speed > self.max_speed_mmps:
            return self._reject(R_SPEED)
        # no Doppler speed from the receiver: assume a brisk walk (a vehicle then looks
        # jumpy, which only delays its decisions by a few seconds)
        speed = UNKNOWN_SPEED_CMPS if speed is None else speed // 10
        if lat // 5000000 != self._cos_lat:  # half-degree bands: a new cosine, rarely
            self._cos_lat = lat // 5000000
            self._cos_q16 = int(65536 * math.cos(math.radians(lat / 1e7)))
        if n:
            dt = now - self._t[head]
            if dt <= 600000:
                d2 = self._dist2_cm(self._lat[head], self._lon[head], lat, lon)
                limit = self.max_speed_mmps * dt // 10000 + acc + self._acc + 2000
                if d2 > limit * limit:
                    if self._rejects < MAX_SPEED_REJECTS:
                        self._rejects += 1
                        return self._reject(R_SPEED)
                    n = 0  # the old track was the odd one out: start again from here
            else:
                n = 0
        self._rejects = 0
        # into the ring
        path = 0
        if n:
            v = self._speed if self._speed > speed else speed
            path = self._path[head] + v * (now - self._t[head]) // 1000
            head = (head + 1) % RING
        else:
            head = 0
            self.jump_cm = self._jump_held = 0
        self._head = head
        self._t[head] = now
        self._lat[head] = lat
        self._lon[head] = lon
        self._path[head] = path
        self._n = n = n + 1 if n < RING else RING
        self._speed = speed
        self._acc = acc
        self.accepted += 1
        # unexplained jump: the latest, held, then shrinking
        j = self._jump_held
        if j:
            age = now - self._jump_t - self.jump_hold_ms
            if age > 0:
                j -= self.jump_decay * age // 1000
                if j < 0:
                    j = 0
        noise = self.noise
        cq = self._cos_q16
        best = bx = by = 0  # the biggest jump seen from this fix
        for lag in LAGS:
            if lag >= n:
                break
            k = (head - lag) % RING
            ds = (now - self._t[k]) // 1000
            f = noise[ds] if ds < 64 else 1448
            allow = path - self._path[k] + SPEED_SLACK_CMPS * ds + JUMP_BASE_CM
            allow += self.jump_z * acc * f // (283 * 1024)
            dy = (lat - self._lat[k]) * 11132 // 10000
            dx = (lon - self._lon[k]) * cq // 65536 * 11132 // 10000
            d2 = dx * dx + dy * dy
            if d2 > allow * allow:  # rarely: only then the square root
                d = isqrt(d2)
                if d - allow > best:
                    best = d - allow
                    bx = dx * best // d
                    by = dy * best // d
        # it replaces the jump held when bigger, or when it points another way (the
        # way back from an excursion, or a new one): the fix is judged against it
        if best and (
            best >= j or bx * self._jump_x + by * self._jump_y < best * self._jump_held // 2
        ):
            j = self._jump_held = best
            self._jump_t = now
            self._jump_x = bx
            self._jump_y = by
        if j:
            held = self._jump_held
            self.jump_x_cm = self._jump_x * j // held
            self.jump_y_cm = self._jump_y * j // held
        else:
            self.jump_x_cm = self.jump_y_cm = 0
        self.jump_cm = j
        self.acc_cm = acc
        return True
