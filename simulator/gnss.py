"""GNSS receiver model: true position in, NMEA sentences out, one epoch at a time.

Position error is a first-order Gauss-Markov process per axis (correlated over ~30 s, as
real multipath and atmospheric errors are), with a standard deviation set by the
environment. The receiver reports that same sigma in GST, so the accuracy the tag derives
is consistent with the true error.
"""

import math
import time

from emtag.simulator import geo

# 1-sigma horizontal error per axis (m), HDOP and satellites used, per environment.
ENVIRONMENTS = {
    "open_sky": (1.5, 0.8, 12),
    "suburban": (3.0, 1.0, 9),
    "urban_canyon": (12.0, 2.2, 6),
    "indoor": (25.0, 4.0, 4),
}
CORRELATION_S = 30.0
KNOTS_PER_MPS = 1.0 / 0.514444


def sentence(body):
    cs = 0
    for ch in body.encode():
        cs ^= ch
    return "$%s*%02X\r\n" % (body, cs)


def _lat(v):
    h = "N" if v >= 0 else "S"
    v = abs(v)
    d = int(v)
    return "%02d%08.5f" % (d, (v - d) * 60), h


def _lon(v):
    h = "E" if v >= 0 else "W"
    v = abs(v)
    d = int(v)
    return "%03d%08.5f" % (d, (v - d) * 60), h


class Receiver:
    def __init__(self, rng, environment="suburban", talker="GP"):
        if environment not in ENVIRONMENTS:
            raise ValueError(
                "unknown environment %r (one of %s)" % (environment, ", ".join(ENVIRONMENTS))
            )
        self.rng = rng
        self.environment = environment
        self.talker = talker
        self.err_e = self.err_n = 0.0
        self.started = False

    def _step_error(self, dt):
        sigma = ENVIRONMENTS[self.environment][0]
        if not self.started:
            self.err_e, self.err_n = self.rng.gauss(0, sigma), self.rng.gauss(0, sigma)
            self.started = True
            return
        a = math.exp(-dt / CORRELATION_S)
        k = sigma * math.sqrt(1 - a * a)
        self.err_e = a * self.err_e + k * self.rng.gauss(0, 1)
        self.err_n = a * self.err_n + k * self.rng.gauss(0, 1)

    def epoch(self, unix_s, lat, lon, speed_mps, course_deg, dt=1.0):
        """NMEA bytes for one epoch at UTC time unix_s with the wearer truly at lat/lon."""
        self._step_error(dt)
        sigma, hdop, sats = ENVIRONMENTS[self.environment]
        mlat, mlon = geo.offset(lat, lon, self.err_e, self.err_n)
        tm = time.gmtime(int(unix_s))
        hms = "%02d%02d%02d.%02d" % (tm[3], tm[4], tm[5], int(round((unix_s % 1) * 100)) % 100)
        dmy = "%02d%02d%02d" % (tm[2], tm[1], tm[0] % 100)
        la, lah = _lat(mlat)
        lo, loh = _lon(mlon)
        t = self.talker
        alt = 45.0
        prns = ",".join(str(p) for p in range(1, sats + 1)) + "," * (12 - sats)
        out = [
            sentence(
                "%sGGA,%s,%s,%s,%s,%s,1,%02d,%.1f,%.1f,M,47.0,M,,"
                % (t, hms, la, lah, lo, loh, sats, hdop, alt)
            ),
            sentence("%sGSA,A,3,%s,%.1f,%.1f,%.1f" % (t, prns, hdop * 1.6, hdop, hdop * 1.3)),
            sentence(
                "%sRMC,%s,A,%s,%s,%s,%s,%.3f,%.1f,%s,,,A"
                % (t, hms, la, lah, lo, loh, speed_mps * KNOTS_PER_MPS, course_deg, dmy)
            ),
            sentence(
                "%sGST,%s,%.1f,%.1f,%.1f,0.0,%.1f,%.1f,%.1f"
                % (t, hms, sigma * 1.4, sigma, sigma, sigma, sigma, sigma * 1.5)
            ),
        ]
        return "".join(out).encode()
