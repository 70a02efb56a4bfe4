"""The tag's own hardware alerts, and when the GNSS receiver may sleep.

    h = Health(settings)                       # settings: config names -> values
    h.switches(now, strap, case, charger, armed)   # strap/case closed? charger plugged?
    h.battery(now, pct, charging)
    h.gnss_power(now, on)
    h.epoch(now, fixed, cn0_best, rssi)        # every GNSS epoch; rssi: callable -> dBm/None
    for kind, t in h.take(): ...               # alerts raised, with when they began
    h.deadline                                 # wake by then (a debounce ends), or None

Alerts (protocol/records.py ALERTS):
- strap_tamper / case_tamper: the strap loop (the case switch) open for strap_debounce_ms
  (CASE_MS) on an armed tag; once per opening, again after it is closed as long.
- charging_started / charging_stopped: the charger present (gone) for CHARGER_MS.
- battery_low / battery_critical: the fuel gauge at or under battery_low_pct
  (battery_critical_pct) while not charging; again after charging or HYST_PCT above.
- no_fix: the receiver on for SETTLE_MS and no fix for no_fix_alert_s; again after a fix.
- shielding_suspected / jamming_suspected: the receiver on for SETTLE_MS and the strongest
  satellite under shielding_cn0_dbhz (or none tracked) for COLLAPSE_MS, fix or not (a few
  satellites still tracked at 15 dB-Hz can give a poor fix; outdoors the best is 40-48
  dB-Hz, indoors 25-35). Foil
  around the tag attenuates the cellular signal too, a GNSS jammer (L1) does not: with the
  cellular signal gone or RSSI_DROP_DB under what it was with a good sky, shielding;
  with it as before, jamming; with no earlier reading, weaker than RSSI_WEAK_DBM is
  shielding. Again after a good sky (C/N0 back above the threshold + 5 dB).

Duty cycling (`Duty`): after a fix record the receiver may be switched off until LEAD_MS
before the next one is due, unless the tag is near a zone (the zone engine wants dense
fixes), moving faster than FAST_MMPS (a vehicle crosses a zone between two fixes), a
signal alert is pending, or `gnss_always_on` is set (the 1 Hz baseline). A wearer who has
not moved (accelerometer) for STILL_FIXES fix records cannot be anywhere new: the receiver
sleeps until the next fix even near a zone (the engine has had those fixes to decide), and
with rest_fix_interval_s above the default 60 s fixes are spaced out to that, or until a
zone's schedule changes; motion resumes the schedule at once. A search without a fix is
given up after ACQ_MS and retried RETRY_MS later.

Pure logic: no machine, no time, no I/O.
"""

CASE_MS = 500
CHARGER_MS = 2000
HYST_PCT = 5
SETTLE_MS = 10000
COLLAPSE_MS = 30000
GOOD_CN0 = 30  # a sky this strong sets the cellular baseline
RSSI_DROP_DB = 15
RSSI_WEAK_DBM = -105

LEAD_MS = 5000  # a hot start takes 1-2 s; the rest lets the fix settle before it is logged
MIN_OFF_MS = 20000
FAST_MMPS = 4000
ACQ_MS = 90000
RETRY_MS = 120000
REST_MS = 60000  # config rest_fix_interval_s: the norm, a fix a minute, at rest too
STILL_FIXES = 3

DEFAULTS = {  # the same as firmware/config.py FIELDS
    "battery_low_pct": 20,
    "battery_critical_pct": 5,
    "no_fix_alert_s": 900,
    "strap_debounce_ms": 200,
    "shielding_cn0_dbhz": 20,
    "gnss_always_on": 0,
    "rest_fix_interval_s": 60,
}


class Switch:
    """A debounced two-state input: `update` returns the newly settled value, else None."""

    def __init__(self, ms, state):
        self.ms = ms
        self.state = state
        self.cand = None
        self.since = 0

    def update(self, value, now):
        if value is None:
            return None
        if self.state is None or value == self.state:
            self.state = value
            self.cand = None
            return None
        if self.cand != value:
            self.cand = value
            self.since = now
        if now - self.since >= self.ms:
            self.state = value
            self.cand = None
            return value
        return None

    def due(self):
        return None if self.cand is None else self.since + self.ms


class Health:
    def __init__(self, settings=None):
        self.alerts = []
        self.strap = Switch(200, True)  # closed, as fitted
        self.case = Switch(CASE_MS, True)
        self.charger = Switch(CHARGER_MS, None)  # the first reading is the baseline
        self.low_armed = self.crit_armed = True
        self.gnss_on = False
        self.on_since = 0
        self.last_fix = None
        self.no_fix_armed = True
        self.collapse = None
        self.sig_armed = True
        self.rssi_base = None
        self.configure(settings or DEFAULTS)

    def restore(self, strap_open, case_open):
        """At boot: a strap (case) reported open before the restart is not reported again
        while it stays open; one found open that was closed is (firmware/tag.py keeps the
        states)."""
        if strap_open:
            self.strap.state = False
        if case_open:
            self.case.state = False

    def configure(self, s):
        g = DEFAULTS.get
        self.low_pct = s.get("battery_low_pct", g("battery_low_pct"))
        self.crit_pct = s.get("battery_critical_pct", g("battery_critical_pct"))
        self.no_fix_ms = s.get("no_fix_alert_s", g("no_fix_alert_s")) * 1000
        self.strap.ms = s.get("strap_debounce_ms", g("strap_debounce_ms"))
        self.shield_cn0 = s.get("shielding_cn0_dbhz", g("shielding_cn0_dbhz"))

    def _raise(self, kind, t):
        self.alerts.append((kind, t))

    def take(self):
        out = self.alerts
        self.alerts = []
        return out

    @property
    def deadline(self):
        d = None
        for sw in (self.strap, self.case, self.charger):
            t = sw.due()
            if t is not None and (d is None or t < d):
                d = t
        return d

    def switches(self, now, strap, case, charger, armed=True):
        v = self.strap.update(strap, now)
        if v is False and armed:
            self._raise("strap_tamper", self.strap.since)
        v = self.case.update(case, now)
        if v is False and armed:
            self._raise("case_tamper", self.case.since)
        v = self.charger.update(charger, now)
        if v is not None:
            self._raise("charging_started" if v else "charging_stopped", self.charger.since)

    def battery(self, now, pct, charging):
        if pct is None:
            return
        if charging or pct >= self.low_pct + HYST_PCT:
            self.low_armed = True
        if charging or pct >= self.crit_pct + HYST_PCT:
            self.crit_armed = True
        if charging:
            return
        if pct <= self.crit_pct and self.crit_armed:
            self.crit_armed = self.low_armed = False
            self._raise("battery_critical", now)
        elif pct <= self.low_pct and self.low_armed:
            self.low_armed = False
            self._raise("battery_low", now)

    def gnss_power(self, now, on):
        self.gnss_on = on
        self.collapse = None
        if on:
            self.on_since = now
        if self.last_fix is None:
            self.last_fix = now  # the no-fix clock starts with the first search

    def signal_pending(self):
        """A C/N0 collapse is being watched and not yet decided: keep the receiver on."""
        return self.collapse is not None and self.sig_armed

    def epoch(self, now, fixed, cn0_best, rssi):
        if fixed:
            self.last_fix = now
            self.no_fix_armed = True
        if not self.gnss_on or now - self.on_since < SETTLE_MS:
            return
        if not fixed and self.no_fix_armed and now - self.last_fix >= self.no_fix_ms:
            self.no_fix_armed = False
            self._raise("no_fix", now)
        if cn0_best is None:
            return  # the receiver sends no GSV: C/N0 unknown
        if cn0_best >= self.shield_cn0:
            self.collapse = None
            if cn0_best >= self.shield_cn0 + 5:
                self.sig_armed = True
            if fixed and cn0_best >= GOOD_CN0 and self.rssi_base is None:
                self.rssi_base = rssi()
            return
        if self.collapse is None:
            self.collapse = now
        elif now - self.collapse >= COLLAPSE_MS and self.sig_armed:
            self.sig_armed = False
            r = rssi()
            base = self.rssi_base
            if r is None:
                shielded = True
            elif base is not None:
                shielded = r <= base - RSSI_DROP_DB
            else:
                shielded = r < RSSI_WEAK_DBM
            self._raise("shielding_suspected" if shielded else "jamming_suspected", self.collapse)


class Duty:
    """When the GNSS receiver is on (see the module docstring)."""

    def __init__(self, always_on=False):
        self.always_on = always_on
        self.rest_ms = REST_MS
        self.on = False
        self.since = 0  # when it was switched on
        self.fixed = False  # a fix record since it was switched on
        self.next_on = None  # off: when to switch on again
        self.resting = False
        self.still = 0  # fix records in a row with no motion before them

    def power(self, on, now):
        self.on = on
        if on:
            self.since = now
            self.fixed = False
            self.next_on = None
            self.resting = False

    def after_fix(self, now, due, hold, speed_mmps, still):
        """A fix record was made (`still`: no motion since the one before); the next is due
        at `due`. Returns True to switch off."""
        self.fixed = True
        self.still = self.still + 1 if still else 0
        if self.always_on or (speed_mmps or 0) >= FAST_MMPS:
            return False
        if self.still >= STILL_FIXES:
            # not moving: the position cannot change until the accelerometer says so
            self.resting = True
            self.next_on = now + self.rest_ms - LEAD_MS
            return True
        if hold or due - now < MIN_OFF_MS + LEAD_MS:
            return False
        self.next_on = due - LEAD_MS
        return True

    def search_over(self, now, hold):
        """Searching without a fix for too long: True to switch off (retry later)."""
        if self.always_on or hold or self.fixed or now - self.since < ACQ_MS:
            return False
        self.next_on = now + RETRY_MS
        return True

    def wake(self, now, moved, last_fix, interval):
        """Off and next_on has come: True to switch on, else the schedule moves on."""
        if moved or last_fix is None or now - last_fix + LEAD_MS >= self.rest_ms:
            return True
        self.resting = True  # still: nothing to see before rest_ms after the last fix
        self.next_on = min(now + interval, last_fix + self.rest_ms - LEAD_MS)
        return False

    def motion(self, now, last_fix, interval):
        """The accelerometer saw motion begin: resting ends, the normal schedule resumes."""
        self.still = 0
        if not self.on and self.resting:
            self.resting = False
            t = now if last_fix is None else max(now, last_fix + interval - LEAD_MS)
            if self.next_on is None or t < self.next_on:
                self.next_on = t

    def deadline(self):
        if self.always_on:
            return None
        if self.on:
            return None if self.fixed else self.since + ACQ_MS
        return self.next_on
