"""The tag's sensors and GNSS power, between the board and firmware/health.py.

    mon = Monitor(tag)          # at boot, after the log: reads settings, switches GNSS on
    mon.poll(now)               # every main-loop pass: sensors, duty cycle, alerts
    mon.epoch(fix)              # every GNSS epoch (before the zone engine sees it)
    mon.fix_logged(now, fix)    # a fix record was made: the receiver may sleep
    d = mon.deadline(d)         # the earliest time it needs a pass

Sensors are read when the board reports an interrupt (strap, case, charger, the
accelerometer's activity interrupt: `board.sensor_events()`), when a debounce ends, and
every SENSE_MS (battery). A board without a sensor returns None for it (or lacks the
method) and that alert never fires; without an accelerometer (`accel_awake()` None) the
wearer is never taken to be still.

GNSS power (firmware/duty.py): on at boot; after each fix record Duty decides whether it
may go off and until when; the activity interrupt (the wearer moves after rest) switches
it on at once; every scheduled zone change (a curfew's start or end) wakes it, and the
first fix after the change is logged.

Alerts become signed alert records at once (protocol/records.py), sent ahead of any
backlog, with the time their condition began (the board clock plus the GNSS UTC offset).
Settings come from config.cbor (firmware/config.py), and again after `config_set`.
"""

import sys

from emtag.firmware import duty, health, tz
from emtag.protocol import records

SENSE_MS = 60000
WEEK_MIN = 10080
LOW_BATTERY_VIBRATE_MS = 600  # the wearer feels battery_low: time to charge
BOUNDARY_FIX_MS = 1000  # the fix logged at a schedule change: this long after it
SAFE_MAX_MS = 3600000  # no zone, or none for hours: as far as the schedule goes


def _read(board, name):
    fn = getattr(board, name, None)
    return fn() if fn is not None else None


def load_settings(fs):
    """The settings in config.cbor as a dict ({} when none or damaged); config.py is loaded
    for this and dropped again, as the console does, so it costs no resident heap."""
    name = "emtag.firmware.config"
    try:
        from emtag.firmware import config

        try:
            return dict(config.Config.load(fs).values)
        except config.ConfigError:
            return {}
    finally:
        if name in sys.modules:
            del sys.modules[name]
        pkg = sys.modules.get("emtag.firmware")
        if pkg is not None and hasattr(pkg, "config"):
            delattr(pkg, "config")


class Monitor:
    def __init__(self, tag):
        self.tag = tag
        self.board = b = tag.board
        self.health = health.Health()
        opened = getattr(tag, "open_saved", {})
        self.health.restore(bool(opened.get("strap")), bool(opened.get("case")))
        self.duty = duty.Duty()
        self.reach_mmps = duty.REACH_MPS * 1000
        self._cfg = None
        self._apply(load_settings(tag.fs))
        self.next_sense = 0
        self.still = False  # the accelerometer's activity interrupt is armed (unknown: no)
        self.boundary = None  # a scheduled zone change the receiver is off until (board ms)
        self.led = None
        now = b.now_ms()
        self._gnss(True, now)

    def _apply(self, values):
        self.health.configure(values)
        self.duty.always_on = bool(values.get("gnss_always_on", 0))
        self.duty.rest_ms = values.get("rest_fix_interval_s", 60) * 1000
        self.reach_mmps = values.get("reach_speed_mps", duty.REACH_MPS) * 1000

    def _gnss(self, on, now):
        self.board.gnss_power(on)
        self.duty.power(on, now)
        self.health.gnss_power(now, on)

    def _hold(self):
        """The receiver stays on: a breach is being confirmed, or a signal alert decided."""
        return self.tag.zone_engine.confirming or self.health.signal_pending()

    def _safe_ms(self):
        """How long after the last fix no zone rule can break, the wearer going straight
        for the nearest at the reach speed."""
        c = self.tag.zone_engine.clear_dm
        return SAFE_MAX_MS if c is None else min(SAFE_MAX_MS, c * 100000 // self.reach_mmps)

    def poll(self, now):
        t = self.tag
        cfg = getattr(t, "config", None)  # set by the console's config_set
        if cfg is not None and cfg is not self._cfg:
            self._cfg = cfg
            self._apply(getattr(cfg, "values", cfg))
        b = self.board
        h = self.health
        fired = _read(b, "sensor_events")
        due = h.deadline
        sensed = fired or now >= self.next_sense or (due is not None and now >= due)
        if sensed:
            self._sense(now)
        d = self.duty
        if d.on:
            # searching near a zone while moving: keep at it, the sky may come back any time
            if d.search_over(now, self._hold() or (not self.still and t.zone_engine.near)):
                self._off(now)
        elif d.always_on or (d.next_on is not None and now >= d.next_on):
            self._gnss(True, now)
            if self.boundary is not None:
                # a schedule changes: the first fix after it is logged, and the zone engine
                # decides on it (a breach then holds the receiver on until confirmed)
                t.next_fix_due = min(t.next_fix_due, self.boundary + BOUNDARY_FIX_MS)
                self.boundary = None
        for kind, when in h.take():
            self._alert(kind, when)
        saved = getattr(t, "open_saved", None) if sensed else None  # switches move only there
        if saved is not None and (
            (h.strap.state is False) != bool(saved.get("strap"))
            or (h.case.state is False) != bool(saved.get("case"))
        ):
            # the strap or case opened (its alert is logged above) or closed again: kept
            # across restarts; a cut before this repeats the alert rather than losing it
            t.save_open()

    def _sense(self, now):
        b = self.board
        t = self.tag
        h = self.health
        self.next_sense = now + SENSE_MS
        charger = _read(b, "charger_present")
        h.switches(
            now,
            _read(b, "strap_closed"),
            _read(b, "case_closed"),
            charger,
            getattr(t, "armed", True),
        )
        h.battery(now, _read(b, "battery_pct"), charger)
        awake = _read(b, "accel_awake")
        if awake and self.still:
            self._moved_off(now)
        self.still = awake is False
        led = bool(charger) and not _read(b, "charge_full")
        if led != self.led and hasattr(b, "led"):
            self.led = led
            b.led(led)

    def _moved_off(self, now):
        """The wearer moves after rest (the accelerometer's activity interrupt): the
        receiver goes on at once (a hot start) and the first fix is logged, so a car that
        sets off seconds after a fix at rest is followed from where it started."""
        t = self.tag
        t.next_fix_due = now
        off = t.utc_offset_ms
        t.zone_engine.moved_ms = None if off is None else now + off
        if not self.duty.on:
            self._gnss(True, now)

    def epoch(self, fix):
        now = self.board.now_ms()
        fixed = bool(fix.fix) and fix.fix >= 2 and fix.lat is not None
        best = max(fix.cn0_max) if fix.cn0_mask else None
        self.health.epoch(now, fixed, best, self._rssi)

    def _rssi(self):
        return _read(self.board, "link_rssi")

    def fix_logged(self, now, fix):
        """A fix record was made: the receiver may sleep until the next (firmware/duty.py)."""
        self.still = _read(self.board, "accel_awake") is False
        engine = self.tag.zone_engine
        engine.still = self.still  # still at this fix: until the activity interrupt says
        engine.moved_ms = None
        if self.duty.after_fix(
            now, self.tag.next_fix_due, self._hold(), self.still, self._safe_ms()
        ):
            self._off(now)

    def _off(self, now):
        """Switch the receiver off until duty.next_on, or before the next schedule change."""
        self._gnss(False, now)
        self.boundary = None
        b = self._boundary(now)
        if b is not None and b - duty.LEAD_MS < self.duty.next_on:
            self.duty.next_on = max(now, b - duty.LEAD_MS)
            self.boundary = b

    def _boundary(self, now):
        """When the next zone schedule window opens or closes (board clock), or None."""
        off = self.tag.utc_offset_ms
        best = None
        for z in self.tag.zone_engine.zones:
            w = z.windows
            if w is None or off is None:
                continue
            utc = (now + off) // 1000
            mow = tz.minute_of_week(z.rule.local(utc))
            for i in range(0, len(w), 2):
                for edge in (w[i], w[i] + w[i + 1]):
                    m = (edge - mow) % WEEK_MIN or WEEK_MIN
                    if best is None or m < best:
                        best = m
        if best is None:
            return None
        return now + best * 60000 - ((now + off) % 60000)

    def deadline(self, d):
        """The earliest of d and what this needs next. A time already passed is left out:
        this pass has done all it could about it (a search held on past its limit waits
        for the next epoch), and asking to wake again at once would stop the clock."""
        now = self.board.now_ms()
        for x in (self.next_sense, self.health.deadline, self.duty.deadline()):
            if x is not None and now < x < d:
                d = x
        return d

    def _alert(self, kind, when):
        t = self.tag
        utc = when if t.utc_offset_ms is None else when + t.utc_offset_ms
        t._append(records.alert_record(t._seq(), t.prev_hash, kind, utc // 1000, utc % 1000))
        up = getattr(t.uplink, "send_first", None)
        if up is not None:
            up(t.log.last_seq, t.log.last_record)  # ahead of any backlog
        t.event("alert", alert=kind, event_t=utc // 1000)
        if kind == "battery_low" or kind == "battery_critical":
            t._vibrate(LOW_BATTERY_VIBRATE_MS)
