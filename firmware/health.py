"""The tag's own hardware alerts (GNSS power: firmware/duty.py).

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
- The sky, as the tag measures it at each epoch: the strongest satellite's C/N0. Nothing
  tracked counts as a measurement only SETTLE_MS after the receiver was switched on (it is
  still acquiring before); a receiver that reports no C/N0 at all leaves the sky unknown.
  A sky is collapsed under shielding_cn0_dbhz, and stays so until the strongest is back
  HYST_DB above it (outdoors the best is 41-53 dB-Hz, indoors 28-45; 30 dB of foil or of
  jamming leave 15-22, up to 27 with an urban canyon's reflections, and a few satellites
  may still give a poor fix: simulator/receiver.py, tests/test_sim_models.py).
- no_fix: the receiver searching for no_fix_alert_s with no trusted fix: a fix from a
  collapsed sky is not trusted (foil lets a stray weak fix through now and then; it ends
  no episode). Counted from the last trusted fix or the first search; again after one.
- shielding_suspected / jamming_suspected: a collapsed sky for COLLAPSE_MS, fix or not,
  stamped when it was first measured (the watch holds the receiver on: firmware/duty.py).
  Foil around the tag attenuates the cellular signal too, a GNSS jammer (L1) does not:
  with the cellular signal gone or RSSI_DROP_DB under what it was with the last good sky
  (read again every RSSI_REFRESH_MS while the sky is good, so it follows the wearer
  indoors and out), shielding; with it as before, jamming; with no earlier reading, weaker
  than RSSI_WEAK_DBM is shielding. Again after a good sky (C/N0 back above the threshold
  + 5 dB).

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

HYST_DB = 5  # a collapse ends (and the signal alerts re-arm) this far above the threshold
RSSI_REFRESH_MS = 60000  # the cellular baseline follows the wearer (indoors, outdoors)

DEFAULTS = {  # the same as firmware/config.py FIELDS
    "battery_low_pct": 20,
    "battery_critical_pct": 5,
    "no_fix_alert_s": 900,
    "strap_debounce_ms": 200,
    "shielding_cn0_dbhz": 25,
    "gnss_always_on": 0,
    "rest_fix_interval_s": 60,
    "reach_speed_mps": 40,
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
        self.rssi_t = None  # when rssi_base was read
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
        on = self.gnss_on
        settled = on and now - self.on_since >= SETTLE_MS
        if cn0_best is not None and (cn0_best > 0 or settled):
            limit = self.shield_cn0 if self.collapse is None else self.shield_cn0 + HYST_DB
            weak = cn0_best < limit
        else:
            weak = None  # not measured: no C/N0 reported, or still acquiring
        if fixed and not weak:  # a trusted fix
            self.last_fix = now
            self.no_fix_armed = True
        if not on:
            return
        # no_fix is judged once the search had its chance: settled, or a weak fix came
        if (settled or weak) and self.no_fix_armed and now - self.last_fix >= self.no_fix_ms:
            if not fixed or weak:
                self.no_fix_armed = False
                self._raise("no_fix", now)
        if weak is None:
            return
        if not weak:
            self.collapse = None
            if cn0_best >= self.shield_cn0 + HYST_DB:
                self.sig_armed = True
            if fixed and cn0_best >= GOOD_CN0 and (
                self.rssi_t is None or now - self.rssi_t >= RSSI_REFRESH_MS
            ):
                r = rssi()
                if r is not None:
                    self.rssi_base = r
                    self.rssi_t = now
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
