"""When the GNSS receiver may be off: duty cycling that zone enforcement can rely on.

    d = Duty()
    d.power(on, now)                            # the receiver was switched on / off
    d.after_fix(now, due, hold, still, safe_ms) # a fix record was made: True to switch off
    d.search_over(now, hold)                    # no fix for ACQ_MS: True to switch off
    d.off_until(t)                              # switched off: on again at t
    d.deadline()                                # when it needs a pass (search limit, wake)

The receiver is switched off after a fix record only while nothing the tag must see can
happen before it is on again:
- the wearer is still (`still`): the accelerometer has seen no motion for its inactivity
  time, so its activity interrupt is armed and the tag switches the receiver on the moment
  the wearer moves (firmware/monitor.py); meanwhile a fix every rest_fix_interval_s;
- or the wearer moves, and no zone rule could break before the next fix even at the reach
  speed in a straight line from the last fix (`safe_ms`, from the zone engine's clearance,
  firmware/zones.py): off until LEAD_MS before the next fix is due, or before the wearer
  could reach a zone, whichever is first, if that leaves at least MIN_OFF_MS;
- never while `hold` (a breach being confirmed, a signal alert being decided) or with
  `gnss_always_on` (the 1 Hz baseline). The monitor also wakes the receiver for every
  scheduled zone change (a curfew starting or ending), whatever the motion.

A search without a fix is given up after ACQ_MS and retried RETRY_MS later, unless held.

Pure logic: no machine, no time, no I/O.
"""

LEAD_MS = 5000  # a hot start takes 1-2 s; the rest lets the fix settle before it is logged
MIN_OFF_MS = 20000  # shorter: a hot start each time costs more than staying on
ACQ_MS = 90000
RETRY_MS = 120000
REST_MS = 60000  # config rest_fix_interval_s: the norm, a fix a minute, at rest too
REACH_MPS = 40  # config reach_speed_mps: a car on a fast road


class Duty:
    def __init__(self, always_on=False):
        self.always_on = always_on
        self.rest_ms = REST_MS
        self.on = False
        self.since = 0  # when it was switched on
        self.fixed = False  # a fix record since it was switched on
        self.next_on = None  # off: when to switch on again

    def power(self, on, now):
        self.on = on
        if on:
            self.since = now
            self.fixed = False
            self.next_on = None

    def after_fix(self, now, due, hold, still, safe_ms):
        """A fix record was made; the next is due at `due`. still: the accelerometer's
        activity interrupt is armed. safe_ms: how long no zone rule can break, moving at
        the reach speed. Returns True to switch off (until self.next_on)."""
        self.fixed = True
        if self.always_on or hold:
            return False
        if still:  # nothing changes until the accelerometer says so
            until = now + self.rest_ms if self.rest_ms > due - now else due
        else:
            until = due if due - now < safe_ms else now + safe_ms
        if until - LEAD_MS - now < MIN_OFF_MS:
            return False
        self.next_on = until - LEAD_MS
        return True

    def search_over(self, now, hold):
        """Searching without a fix for too long: True to switch off (retry later)."""
        if self.always_on or hold or self.fixed or now - self.since < ACQ_MS:
            return False
        self.next_on = now + RETRY_MS
        return True

    def off_until(self, t):
        """Wake no later than t (the activity interrupt: now; a zone's schedule change)."""
        if self.next_on is None or t < self.next_on:
            self.next_on = t

    def deadline(self):
        if self.always_on:
            return None
        if self.on:
            return None if self.fixed else self.since + ACQ_MS
        return self.next_on
