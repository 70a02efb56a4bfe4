"""The tag's small sensors: accelerometer, RTC, cellular signal.

Accelerometer. An ADXL362-style part in its linked activity/inactivity mode: it raises its
interrupt when motion starts after at least INACTIVE_S of stillness, reports whether it is
awake (motion within the last INACTIVE_S: the interrupt is armed only when it is not), and
the firmware can ask whether there was motion since it last asked (a latched flag). Motion
is the route's: walking or riding legs; while the wearer dwells, small movements (shifting
a foot, turning over in bed) come as a Poisson process, `fidget_per_hour`.

RTC. The tag's clock runs from a 32.768 kHz crystal: `drift_ppm` (+-20 ppm is a typical
tuning-fork crystal's tolerance at 25 C) and an initial `offset_ms`. The firmware sees
only this clock; GNSS time is true UTC.

Cellular signal (RSSI). By environment (open sky -75 dBm, suburban -85, urban canyon -92,
indoor -97, about as LTE-M field surveys report), a slow +-3 dB fading term, and foil
around the tag attenuating it like the GNSS signals. Below -120 dBm there is no service.
"""

import bisect
import math

INACTIVE_S = 30  # stillness this long re-arms the activity interrupt
MOVING_MPS = 0.3
RSSI_DBM = {"open_sky": -75, "suburban": -85, "urban_canyon": -92, "indoor": -97}
NO_SERVICE_DBM = -120


class Accelerometer:
    def __init__(self, route, rng, start_ms, end_ms, fidget_per_hour=4.0):
        self.start_ms = start_ms
        # moving intervals (ms, absolute) from the route's legs
        spans = []
        for t0, t1, lat0, lon0, lat1, lon1 in route.legs:
            if (lat0, lon0) != (lat1, lon1) and t1 > t0:
                a, b = start_ms + int(t0 * 1000), start_ms + int(t1 * 1000)
                if spans and a <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], b)
                else:
                    spans.append([a, b])
        # fidgets while still: one second of movement each
        t = start_ms
        rate = fidget_per_hour / 3600.0
        while rate > 0:
            t += int(rng.expovariate(rate) * 1000) + 1000
            if t >= end_ms:
                break
            spans.append([t, t + 1000])
        spans.sort()
        merged = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.spans = merged
        self.starts = [a for a, _ in merged]
        self.last_read = start_ms

    def interrupts(self):
        """Times the activity interrupt fires: motion after INACTIVE_S of stillness."""
        out, prev_end = [], None
        for a, b in self.spans:
            if prev_end is None or a - prev_end >= INACTIVE_S * 1000:
                out.append(a)
            prev_end = b
        return out

    def moved(self, t0, t1):
        """Any motion in (t0, t1]?"""
        i = bisect.bisect_right(self.starts, t1) - 1
        while i >= 0:
            a, b = self.spans[i]
            if b <= t0:
                return False
            if a <= t1:
                return True
            i -= 1
        return False

    def awake(self, now):
        """The part's awake state: motion within the last INACTIVE_S (when it is not, the
        activity interrupt is armed and fires at the next motion)."""
        return self.moved(now - INACTIVE_S * 1000, now)

    def read(self, now):
        """The latched motion flag: moved since the last read (clears it)."""
        r = self.moved(self.last_read, now)
        self.last_read = now
        return r

    def moving_share(self, t0, t1):
        tot = 0
        for a, b in self.spans:
            tot += max(0, min(b, t1) - max(a, t0))
        return tot / max(1, t1 - t0)


class Rtc:
    def __init__(self, start_ms, drift_ppm=0.0, offset_ms=0):
        self.start_ms = start_ms
        self.k = 1.0 + drift_ppm / 1e6
        self.offset_ms = int(offset_ms)

    def tag_ms(self, true_ms):
        return self.start_ms + self.offset_ms + int(math.floor((true_ms - self.start_ms) * self.k))

    def true_ms(self, tag_ms):
        return self.start_ms + int(math.ceil((tag_ms - self.start_ms - self.offset_ms) / self.k))


class Cellular:
    def __init__(self, rng):
        self.rng = rng
        self.fade = 0.0
        self.last_ms = None

    def rssi(self, t_ms, environment, shield_db):
        dt = 0.0 if self.last_ms is None else (t_ms - self.last_ms) / 1000.0
        self.last_ms = t_ms
        a = math.exp(-dt / 120.0)
        self.fade = a * self.fade + 3.0 * math.sqrt(1 - a * a) * self.rng.gauss(0, 1)
        v = RSSI_DBM.get(environment, -90) + self.fade - shield_db
        return None if v < NO_SERVICE_DBM else int(round(v))
