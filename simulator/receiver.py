"""GNSS receiver model: a sky of satellites, signal levels, TTFF, errors and NMEA output.

    rx = Receiver(rng, profile, environment="suburban")
    rx.power(True, t_ms)                       # the tag switches the module on / off
    data = rx.epoch(t_ms, lat, lon, speed_mps, course_deg)   # NMEA bytes, or b""

Sky. Each constellation has a fixed set of satellites on simplified orbits (elevation
varies as a cosine with an ~12 h period, azimuth sweeps): about half are above the horizon
at any time, as in the real sky. C/N0 in open sky is 32 + 16 sin(elevation) dB-Hz (35 at
the horizon, 48 at the zenith, typical of patch antennas), minus the environment's
attenuation and a slowly varying per-satellite shadowing term (Gauss-Markov, 60 s), minus
shielding (foil around the tag attenuates every signal, `shield_db`) and the noise-floor
rise of a jammer (`jam_db`: C/N0 drops by the rise in dB). A satellite is tracked at
C/N0 >= 12 dB-Hz and used for navigation at >= 17 dB-Hz above the elevation mask; a cold or
warm start needs four satellites at >= 24 dB-Hz to decode ephemerides (u-blox M8 cold-start
sensitivity -148 dBm), a hot start four at >= 16 dB-Hz (hot-start sensitivity -157 dBm).

Starts. Ephemerides decoded less than EPHEMERIS_S ago (and the backup domain kept): hot
start; with time and almanac kept: warm; otherwise (first power-on, `gnss_reset` in the
timeline): cold. Ephemerides are decoded by a cold or warm start, or by EPH_DECODE_MS of
continuous tracking, so a receiver woken only for a few seconds a minute needs a warm start
every EPHEMERIS_S. Time to first fix is the profile's figure for that start, +-20 %; it
only runs while four satellites are strong enough, and slower (down to a quarter of the
speed) when the fourth strongest is within 10 dB of the acquisition threshold. Before the
first fix the receiver outputs empty sentences (GGA quality 0, RMC V), with time once it
knows it (at once on warm and hot starts, after the first satellite on a cold one).

Errors. Per axis a first-order Gauss-Markov process (30 s), sigma = the environment's
sigma scaled by HDOP (computed from the geometry of the satellites used) over the
environment's nominal HDOP, larger for the first seconds after a start (CONVERGE). Multipath/NLOS
excursions arrive as a Poisson process per environment (15-100 m in an urban canyon,
5-60 s, ramping in and out over 1-4 s, in a random direction); the receiver's own estimate
(GST) sees its noise sigma plus a random 0-50 % of the excursion, so reported accuracy is
consistent with the true error except during part of an excursion, as with real receivers.
"""

import math
import time

from emtag.simulator import geo
from emtag.simulator.gnss import _lat, _lon, sentence  # one NMEA formatter for both models

# environment: (sigma per axis m, nominal HDOP, attenuation dB, shadowing sigma dB,
#               elevation mask deg, blocked share of satellites below 30 deg,
#               multipath excursions per hour, excursion metres (lo, hi))
ENVIRONMENTS = {
    "open_sky": (1.5, 0.8, 0.0, 1.0, 5, 0.0, 0.0, (0, 0)),
    "suburban": (3.0, 1.0, 3.0, 2.5, 10, 0.3, 2.0, (8, 30)),
    "urban_canyon": (12.0, 2.2, 6.0, 5.0, 25, 0.8, 20.0, (15, 100)),
    "indoor": (25.0, 4.0, 16.0, 4.0, 20, 0.6, 6.0, (10, 40)),
}
CORRELATION_S = 30.0
SHADOW_TAU_S = 60.0
SKY_STEP_MS = 5000
KNOTS_PER_MPS = 1.0 / 0.514444

TRACK_DBHZ = 12
NAV_DBHZ = 17
ACQ_COLD_DBHZ = 24
ACQ_HOT_DBHZ = 16
EPHEMERIS_S = 2 * 3600  # ephemerides usable for a hot start this long after they were decoded
EPH_DECODE_MS = 30000  # continuous tracking that decodes fresh ephemerides (GPS: 18-30 s)
EPH_AT_START = -1
# a fresh fix is worse: sigma x (1 + k exp(-t / tau)), t from the first fix (our estimate:
# a hot start knows its position and satellites, a cold or warm one converges slower)
CONVERGE = {"hot": (1.0, 5.0), "warm": (2.0, 10.0), "cold": (2.0, 10.0)}
ALMANAC_S = 30 * 86400
LOSS_S = 10  # fewer than 3 satellites this long: fix lost, reacquire

# talker -> (NMEA 4.10 system id, satellites in the constellation, unused, 4.10 signal id
# of the L1/E1/B1 signal)
CONSTELLATIONS = {
    "GP": (1, 24, 0, 1),
    "GL": (2, 24, 0, 1),
    "GA": (3, 24, 0, 7),
    "GB": (4, 30, 0, 1),
}

# Receiver profiles. TTFF and currents for the u-blox M8: SAM-M8Q data sheet
# (UBX-16012619), "TTFF cold 26 s, hot 1 s"; warm start about as long as a cold one
# without aiding. M10: MAX-M10S data sheet (UBX-20035208), cold 23 s, hot 1 s.
PROFILES = {
    "ublox-m8": {
        "constellations": ["GP", "GL"],
        "sentences": ["RMC", "VTG", "GGA", "GSA", "GSV", "GLL", "GST"],
        "nmea": "4.10",
        "rate_hz": 1,
        "baud": 38400,
        "ttff_s": {"cold": 26.0, "warm": 25.0, "hot": 1.0},
    },
    "ublox-m10": {
        "constellations": ["GP", "GA", "GB"],
        "sentences": ["RMC", "GGA", "GSA", "GSV", "GST"],
        "nmea": "4.11",
        "rate_hz": 1,
        "baud": 38400,
        "ttff_s": {"cold": 23.0, "warm": 22.0, "hot": 1.0},
    },
    "gps-only": {
        "constellations": ["GP"],
        "sentences": ["GGA", "GSA", "GSV", "RMC"],
        "nmea": "2.3",
        "rate_hz": 1,
        "baud": 9600,
        "ttff_s": {"cold": 32.0, "warm": 30.0, "hot": 2.0},
    },
}
SENTENCES = ("RMC", "VTG", "GGA", "GSA", "GSV", "GLL", "GST", "ZDA")
NMEA_VERSIONS = ("2.3", "4.10", "4.11")


class ProfileError(ValueError):
    pass


def profile(base="ublox-m8", **over):
    """A complete receiver profile: a named one with any fields overridden (checked)."""
    if base not in PROFILES:
        raise ProfileError("unknown gnss profile %r (one of %s)" % (base, ", ".join(PROFILES)))
    p = dict(PROFILES[base])
    p["ttff_s"] = dict(p["ttff_s"])
    for k, v in over.items():
        if k not in p:
            raise ProfileError("unknown gnss setting %r" % k)
        p[k] = dict(p[k], **v) if k == "ttff_s" else v
    cons = p["constellations"]
    if not cons or any(c not in CONSTELLATIONS for c in cons) or len(set(cons)) != len(cons):
        raise ProfileError("constellations: some of %s, each once" % ", ".join(CONSTELLATIONS))
    if any(s not in SENTENCES for s in p["sentences"]) or not {"RMC", "GGA"} & set(p["sentences"]):
        raise ProfileError("sentences: some of %s, with RMC or GGA" % ", ".join(SENTENCES))
    if p["nmea"] not in NMEA_VERSIONS:
        raise ProfileError("nmea: one of %s" % ", ".join(NMEA_VERSIONS))
    if p["nmea"] == "2.3" and not set(cons) <= {"GP", "GL"}:
        raise ProfileError("NMEA 2.3 carries GPS and GLONASS only")
    if not (isinstance(p["rate_hz"], int) and 1 <= p["rate_hz"] <= 10):
        raise ProfileError("rate_hz: an integer 1..10")
    if p["baud"] not in (4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800):
        raise ProfileError("baud: a standard rate 4800..460800")
    for k in ("cold", "warm", "hot"):
        if not 0 < float(p["ttff_s"].get(k, 0)) <= 900:
            raise ProfileError("ttff_s.%s: seconds, 0..900" % k)
    return p


class Satellite:
    __slots__ = (
        "talker",
        "prn",
        "max_el",
        "period",
        "phase",
        "az0",
        "sweep",
        "shadow",
        "base",
        "blocked",
        "el",
        "az",
        "cn0",
        "tracked",
    )

    def __init__(self, talker, prn, rng):
        self.talker = talker
        self.prn = prn
        self.max_el = rng.uniform(15.0, 88.0)
        self.period = rng.uniform(11.5, 12.5) * 3600
        self.phase = rng.random()
        self.az0 = rng.uniform(0, 360)
        self.sweep = rng.uniform(40, 160)
        self.shadow = 0.0
        self.base = None  # C/N0 before shielding and jamming, dB-Hz
        self.blocked = rng.random()  # compared with the environment's blocked share
        self.el = self.az = 0.0
        self.cn0 = None
        self.tracked = False

    def place(self, t_s):
        x = 2 * math.pi * (t_s / self.period + self.phase)
        self.el = self.max_el * math.cos(x)
        self.az = (self.az0 + self.sweep * math.sin(x)) % 360


def dops(sats):
    """(HDOP, PDOP, VDOP) for satellites (el, az in degrees); None if under 4."""
    if len(sats) < 4:
        return None
    m = [[0.0] * 4 for _ in range(4)]
    for s in sats:
        e, a = math.radians(s.el), math.radians(s.az)
        row = (math.cos(e) * math.sin(a), math.cos(e) * math.cos(a), math.sin(e), 1.0)
        for i in range(4):
            for j in range(4):
                m[i][j] += row[i] * row[j]
    inv = _inverse4(m)
    if inv is None:
        return None
    h = math.sqrt(max(inv[0][0] + inv[1][1], 0.0))
    v = math.sqrt(max(inv[2][2], 0.0))
    return h, math.sqrt(h * h + v * v), v


def _inverse4(m):
    n = 4
    a = [row[:] + [1.0 if i == j else 0.0 for j in range(n)] for i, row in enumerate(m)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        if abs(a[p][c]) < 1e-9:
            return None
        a[c], a[p] = a[p], a[c]
        piv = a[c][c]
        a[c] = [x / piv for x in a[c]]
        for r in range(n):
            if r != c and a[r][c]:
                f = a[r][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c], strict=True)]
    return [row[n:] for row in a]


class Receiver:
    def __init__(self, rng, prof=None, environment="suburban", start="cold"):
        if environment not in ENVIRONMENTS:
            raise ValueError(
                "unknown environment %r (one of %s)" % (environment, ", ".join(ENVIRONMENTS))
            )
        self.rng = rng
        self.p = prof or profile()
        self.environment = environment
        self.shield_db = 0.0
        self.jam_db = 0.0
        self.sats = []
        for talker in self.p["constellations"]:
            first = 65 if talker == "GL" else 1  # GLONASS slots are numbered 65-96 in NMEA
            for i in range(CONSTELLATIONS[talker][1]):
                self.sats.append(Satellite(talker, first + i, rng))
        self.period_ms = 1000 // self.p["rate_hz"]
        # backup domain: what survives power-off (time, almanac, ephemerides)
        self.backup = start != "cold"
        self.last_fix_ms = None
        # when the ephemerides were last decoded (30 s of tracking, or a cold or warm start)
        self.eph_ms = EPH_AT_START if start == "hot" else None
        self.track_since_ms = None
        self.last_on_ms = None
        self.on = False
        self.state = "off"  # off, acquiring, tracking
        self.start_kind = None
        self.ttff_left = 0.0
        self.on_ms = 0
        self.time_known = False
        self.lost_s = 0.0
        self.fix_since_ms = None
        self.err_e = self.err_n = 0.0
        self.err_started = False
        self.true_error_m = self.reported_sd_m = None  # of the last epoch, for tests
        self.sky_ms = self.sky_env = self.dop_key = self.dop = None
        self.exc = None  # (t0, ramp, hold, east, north, seen share)
        self.next_exc_ms = None
        self.last_ms = None
        # figures for the run's summary
        self.starts = {"cold": 0, "warm": 0, "hot": 0}
        self.ttff_ms = []
        self.epochs = 0
        self.fix_epochs = 0
        self.on_total_ms = 0

    # control
    def power(self, on, t_ms):
        if on == self.on:
            return
        self.on = on
        if on:
            if not self.backup:
                kind = "cold"
            elif self.eph_ms == EPH_AT_START or (
                self.eph_ms is not None and (t_ms - self.eph_ms) / 1000 <= EPHEMERIS_S
            ):
                kind = "hot"
            elif self.last_fix_ms is None or (t_ms - self.last_fix_ms) / 1000 <= ALMANAC_S:
                kind = "warm"
            else:
                kind = "cold"
            self.start_kind = kind
            self.starts[kind] += 1
            self.state = "acquiring"
            self.ttff_left = self.p["ttff_s"][kind] * self.rng.uniform(0.8, 1.2)
            self.on_ms = t_ms
            self.time_known = kind != "cold"
            self.lost_s = 0.0
            self.last_ms = None
            self.track_since_ms = None
        else:
            self.on_total_ms += t_ms - self.on_ms
            self.state = "off"
            self.backup = True  # V_BCKP keeps the RTC and navigation data
            self.last_on_ms = t_ms
            for s in self.sats:
                s.tracked = False

    def reset(self):
        """Lose the backup domain: the next start is a cold one."""
        self.backup = False
        self.last_fix_ms = None

    def set_environment(self, env):
        if env not in ENVIRONMENTS:
            raise ValueError("unknown environment %r" % env)
        self.environment = env

    # the sky
    def _sky(self, t_ms):
        """Satellite positions and shadowing move slowly: they are updated every SKY_STEP_MS;
        shielding, jamming and tracking are decided every epoch."""
        env = ENVIRONMENTS[self.environment]
        _, _, atten, shadow_sd, mask, blocked_share, _, _ = env
        if self.sky_ms is None or t_ms - self.sky_ms >= SKY_STEP_MS or env is not self.sky_env:
            dt = 0.0 if self.sky_ms is None else (t_ms - self.sky_ms) / 1000.0
            self.sky_ms = t_ms
            self.sky_env = env
            self.dop_key = None
            a = math.exp(-dt / SHADOW_TAU_S) if dt > 0 else 1.0
            k = shadow_sd * math.sqrt(1 - a * a)
            t_s = t_ms / 1000.0
            gauss = self.rng.gauss
            for s in self.sats:
                s.place(t_s)
                s.shadow = a * s.shadow + k * gauss(0, 1)
                if s.el <= 0:
                    s.base = None
                    continue
                c = 32.0 + 16.0 * math.sin(math.radians(s.el)) - atten + s.shadow
                if s.el < 30 and s.blocked < blocked_share:
                    c -= 20.0  # behind a building or a wall: only a weak reflection
                s.base = c
        hot = self.start_kind == "hot" or self.state == "tracking"
        acq = ACQ_HOT_DBHZ if hot else ACQ_COLD_DBHZ
        loss = self.shield_db + self.jam_db
        for s in self.sats:
            if s.base is None:
                s.cn0 = None
                s.tracked = False
                continue
            cn0 = s.base - loss
            s.tracked = cn0 >= (TRACK_DBHZ if s.tracked else acq)
            s.cn0 = cn0 if s.tracked else None
        return mask

    def _dops(self, used):
        key = tuple((s.talker, s.prn) for s in used)
        if key != self.dop_key:
            self.dop_key = key
            self.dop = dops(used)
        return self.dop

    # one epoch
    def epoch(self, t_ms, lat, lon, speed_mps, course_deg):
        """NMEA bytes for the epoch at t_ms (UTC ms) with the wearer truly at lat/lon."""
        if not self.on:
            return b""
        dt = 0.0 if self.last_ms is None else (t_ms - self.last_ms) / 1000.0
        self.last_ms = t_ms
        self.epochs += 1
        mask = self._sky(t_ms)
        used = [s for s in self.sats if s.tracked and s.cn0 >= NAV_DBHZ and s.el >= mask]
        strong = sum(1 for s in self.sats if s.tracked)
        if not self.time_known and strong:
            self.time_known = True
        fix = False
        if self.eph_ms == EPH_AT_START:
            self.eph_ms = t_ms  # scenario: the module starts with fresh ephemerides
        if self.state == "acquiring":
            if len(used) >= 4 and strong >= 4:
                # weak signals take longer: full speed 10 dB over the acquisition threshold
                acq = ACQ_HOT_DBHZ if self.start_kind == "hot" else ACQ_COLD_DBHZ
                c4 = sorted((s.cn0 for s in used), reverse=True)[3]
                rate = min(1.0, max(0.25, (c4 - acq) / 10.0))
                self.ttff_left -= rate * (dt if dt else self.period_ms / 1000.0)
            if self.ttff_left <= 0 and len(used) >= 4:
                self.state = "tracking"
                self.fix_since_ms = t_ms
                self.ttff_ms.append(t_ms - self.on_ms)
                if self.start_kind != "hot":
                    self.eph_ms = t_ms  # a cold or warm start decodes them on the way
        if self.state == "tracking":
            if len(used) >= 3:
                self.lost_s = 0.0
                fix = True
                if self.track_since_ms is None:
                    self.track_since_ms = t_ms
                elif t_ms - self.track_since_ms >= EPH_DECODE_MS:
                    self.eph_ms = t_ms  # tracked long enough to have fresh ephemerides
            else:
                self.track_since_ms = None
                self.lost_s += dt
                if self.lost_s >= LOSS_S:
                    self.state = "acquiring"
                    self.start_kind = "hot"
                    self.ttff_left = self.p["ttff_s"]["hot"]
        d = self._dops(used) if fix else None
        if fix and d is None:
            d = (9.9, 9.9, 9.9) if len(used) == 3 else None
            fix = d is not None
        if fix:
            self.fix_epochs += 1
            self.last_fix_ms = t_ms
        return self._nmea(t_ms, lat, lon, speed_mps, course_deg, dt, fix, used, d)

    def _error(self, t_ms, dt, hdop):
        env = ENVIRONMENTS[self.environment]
        sigma = env[0] * min(4.0, max(0.5, hdop / env[1]))
        since = (t_ms - (self.fix_since_ms or t_ms)) / 1000.0
        k, tau = CONVERGE[self.start_kind or "cold"]
        sigma *= 1.0 + k * math.exp(-since / tau)  # a fresh fix has not converged yet
        if not self.err_started:
            self.err_e, self.err_n = self.rng.gauss(0, sigma), self.rng.gauss(0, sigma)
            self.err_started = True
        else:
            a = math.exp(-max(dt, 0.0) / CORRELATION_S)
            k = sigma * math.sqrt(1 - a * a)
            self.err_e = a * self.err_e + k * self.rng.gauss(0, 1)
            self.err_n = a * self.err_n + k * self.rng.gauss(0, 1)
            # keep the process at this environment's sigma after a change of scene
            r = math.hypot(self.err_e, self.err_n) / (sigma * 3.0)
            if r > 1.0:
                self.err_e /= r
                self.err_n /= r
        ee, en, seen = self._excursion(t_ms, env)
        return sigma, self.err_e + ee, self.err_n + en, seen

    def _excursion(self, t_ms, env):
        rate, (lo, hi) = env[6], env[7]
        if self.next_exc_ms is None or rate <= 0:
            self.next_exc_ms = (
                t_ms + int(self.rng.expovariate(rate / 3600.0) * 1000) if rate > 0 else None
            )
        ex = self.exc
        if ex is None and self.next_exc_ms is not None and t_ms >= self.next_exc_ms:
            ang = self.rng.uniform(0, 2 * math.pi)
            mag = self.rng.uniform(lo, hi)
            ex = self.exc = (
                t_ms,
                self.rng.uniform(1, 4) * 1000,
                self.rng.uniform(5, 60) * 1000,
                mag * math.sin(ang),
                mag * math.cos(ang),
                self.rng.uniform(0, 0.5),
            )
            self.next_exc_ms = None
        if ex is None:
            return 0.0, 0.0, 0.0
        t0, ramp, hold, e, n, share = ex
        u = t_ms - t0
        if u >= hold + 2 * ramp:
            self.exc = None
            return 0.0, 0.0, 0.0
        f = min(1.0, u / ramp, (hold + 2 * ramp - u) / ramp)
        return f * e, f * n, share * f * math.hypot(e, n)

    def _nmea(self, t_ms, lat, lon, speed_mps, course_deg, dt, fix, used, d):
        p = self.p
        ver = p["nmea"]
        cons = p["constellations"]
        main = cons[0] if len(cons) == 1 else "GN"
        want = p["sentences"]
        tm = time.gmtime(t_ms // 1000)
        if self.time_known:
            hms = "%02d%02d%02d.%02d" % (tm[3], tm[4], tm[5], (t_ms % 1000) // 10)
            dmy = "%02d%02d%02d" % (tm[2], tm[1], tm[0] % 100)
        else:
            hms = dmy = ""
        if fix:
            hdop, pdop, vdop = d
            sigma, ee, en, seen = self._error(t_ms, dt, hdop)
            mlat, mlon = geo.offset(lat, lon, ee, en)
            la, lah = _lat(mlat)
            lo, loh = _lon(mlon)
            sd = math.hypot(sigma, seen / math.sqrt(2))
            self.true_error_m = math.hypot(ee, en)
            self.reported_sd_m = sd
            mode = "A"
        else:
            la = lah = lo = loh = ""
            mode = "N"
            self.true_error_m = self.reported_sd_m = None
        out = []
        for name in want:
            if name == "RMC":
                st = "A" if fix else "V"
                spd = "%.3f" % (speed_mps * KNOTS_PER_MPS) if fix else ""
                cog = "%.2f" % course_deg if fix else ""
                tail = ",%s" % mode + (",V" if ver != "2.3" else "")
                out.append(
                    "%sRMC,%s,%s,%s,%s,%s,%s,%s,%s,%s,,%s"
                    % (main, hms, st, la, lah, lo, loh, spd, cog, dmy, tail)
                )
            elif name == "VTG":
                if fix:
                    kn = speed_mps * KNOTS_PER_MPS
                    out.append(
                        "%sVTG,%.2f,T,,M,%.3f,N,%.3f,K,A" % (main, course_deg, kn, speed_mps * 3.6)
                    )
                else:
                    out.append("%sVTG,,T,,M,,N,,K,N" % main)
            elif name == "GGA":
                q = "1" if fix else "0"
                n = "%02d" % len(used) if fix else "00"
                h = "%.2f" % d[0] if fix else "99.99"
                alt = "45.0,M,47.0,M" if fix else ",,,"
                out.append(
                    "%sGGA,%s,%s,%s,%s,%s,%s,%s,%s,%s,,"
                    % (main, hms, la, lah, lo, loh, q, n, h, alt)
                )
            elif name == "GLL":
                out.append(
                    "%sGLL,%s,%s,%s,%s,%s,%s,%s"
                    % (main, la, lah, lo, loh, hms, "A" if fix else "V", mode)
                )
            elif name == "GST":
                if fix:
                    out.append(
                        "%sGST,%s,%.1f,%.1f,%.1f,0.0,%.1f,%.1f,%.1f"
                        % (main, hms, sd * 1.4, sd, sd, sd, sd, sd * 1.5)
                    )
                else:
                    out.append("%sGST,%s,,,,,,," % (main, hms))
            elif name == "ZDA":
                if self.time_known:
                    out.append("%sZDA,%s,%02d,%02d,%04d,00,00" % (main, hms, tm[2], tm[1], tm[0]))
            elif name == "GSA":
                out.extend(self._gsa(ver, cons, fix, used, d))
            elif name == "GSV":
                out.extend(self._gsv(ver, cons))
        return "".join(sentence(b) for b in out).encode()

    def _gsa(self, ver, cons, fix, used, d):
        m = "3" if fix and len(used) >= 4 else ("2" if fix else "1")
        dop = "%.2f,%.2f,%.2f" % (d[1], d[0], d[2]) if fix else ",,"
        out = []
        if ver == "2.3":
            prns = [s.prn for s in used]
            talker = cons[0] if len(cons) == 1 else "GN"
            groups = [prns[i : i + 12] for i in range(0, max(len(prns), 1), 12)]
            for g in groups:
                f = [str(x) for x in g] + [""] * (12 - len(g))
                out.append("%sGSA,A,%s,%s,%s" % (talker, m, ",".join(f), dop))
            return out
        talker = cons[0] if len(cons) == 1 else "GN"
        for c in cons:
            prns = [s.prn for s in used if s.talker == c][:12]
            f = [str(x) for x in prns] + [""] * (12 - len(prns))
            out.append("%sGSA,A,%s,%s,%s,%d" % (talker, m, ",".join(f), dop, CONSTELLATIONS[c][0]))
        return out

    def _gsv(self, ver, cons):
        out = []
        for c in cons:
            listed = [
                s for s in self.sats if s.talker == c and s.el > 0 and (self.backup or s.tracked)
            ]
            sig = ",%d" % CONSTELLATIONS[c][3] if ver != "2.3" else ""
            n = max(1, (len(listed) + 3) // 4)
            for i in range(n):
                grp = listed[i * 4 : i * 4 + 4]
                f = []
                for s in grp:
                    cn = "%02d" % min(99, int(round(s.cn0))) if s.tracked else ""
                    f.append("%02d,%02d,%03d,%s" % (s.prn, int(s.el), int(s.az), cn))
                body = "%sGSV,%d,%d,%02d" % (c, n, i + 1, len(listed))
                if f:
                    body += "," + ",".join(f)
                out.append(body + sig)
        return out
