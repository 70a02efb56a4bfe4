"""A scenario's hardware settings and its timeline of events (parsed from the TOML).

    [gnss]                         receiver: simulator/receiver.py
    environment = "suburban"       open_sky, suburban, urban_canyon, indoor
    profile = "ublox-m8"           ublox-m8, ublox-m10, gps-only; the keys below override it
    constellations = ["GP", "GL"]  talkers: GP GL GA GB
    sentences = ["RMC", "GGA", "GSA", "GSV", "GST"]
    nmea = "4.10"                  2.3, 4.10, 4.11
    rate_hz = 1                    1..10
    baud = 38400
    ttff_s = {cold = 26, warm = 25, hot = 1}
    start = "cold"                 the module's backup domain at first power-on: cold/warm/hot
    loss = 0.0                     GNSS UART: per-byte loss and bit-flip probabilities
    corrupt = 0.0

    [power]                        simulator/power.py and battery.py
    profile = "esp32s3-m8-nrf9160"
    battery_mah = 1200
    charge_pct = 100               state of charge at the start
    charger_ma = 600
    always_on_gnss = false         firmware setting: GNSS on at 1 Hz all the time (baseline)
    baseline = false               `emtag sim` also runs the always-on baseline, compares

    [tag]                          as fitted (provisioned on its flash before the first boot)
    armed = true                   tamper alerts armed (firmware/commands.py `arm`)
    config = {battery_low_pct = 25}   settings (firmware/config.py FIELDS)

    [rtc]                          drift_ppm = 20, offset_ms = 0
    [motion]                       fidget_per_hour = 4 (movements while the wearer is still)

    [[event]]                      the timeline; `at` (ISO 8601) or `at_s` (from the start)
    at_s = 600
    type = "strap_cut"             see EVENTS
    duration_s = 1800              foil, jam, charge, environment: how long (default: to the end)
    repeat_s = 86400               optional: again every repeat_s ...
    count = 7                      ... this many times in all

Event types and their settings (EVENTS): strap_cut, strap_restore, case_open, case_close,
foil (attenuation_db, default 30), jam (rise_db: noise-floor rise, default 25), charge
(charger_ma), environment (environment), gnss_reset (the module loses its backup domain:
the next start is cold), link_outage (the uplink is down; the same as [[link.outage]]),
power_cut (off_s, default 5; at_write, default true), below.

power_cut: the tag loses all power (a battery contact opening on a knock, say) for off_s
seconds. With at_write = true the cut lands on the tag's first flash program or erase at or
after the event's time (at_write = n: on its n-th) and tears it (simulator/flash.py: a
random prefix of a program lands, the next byte half programmed; an erase is partial);
with at_write = false it lands at that instant, while the tag sleeps between two wakes.
RAM is lost: the firmware's process dies mid-instruction. What survives: the flash exactly
as the cut left it, the RTC (it runs on its own backup supply: the tag's clock goes on
counting), the battery's charge. The GNSS module's backup domain is lost (its next start
is cold, as after gnss_reset); nothing draws from or charges the battery while off. Sensor
interrupts, GNSS bytes and link messages that arrive while the tag is off are lost. When
power returns the firmware boots from scratch against the same flash, store and bridge
(simulator/runner.py). A cut due while the tag is off already: at_write = n lands in the
n-th write after power returns (while the firmware boots), false is ignored. Sim events:
power_cut (with the torn operation, block and bytes landed of how many) and power_restore.

    [link]                         latency_ms = 80 (simulator/scenario.py), and:
    loss = 0.0                     probability a message (a frame, either way) is lost
    corrupt = 0.0                  probability a message has a flipped byte (CRC fails)
    jitter_ms = 0                  extra latency, uniform 0..jitter_ms, order kept
    baud = 115200                  a serial link: 10 bits a byte (8N1), each way...
    kbps = 50                      ...or a cellular one: kilobits a second (not both)
    message_ms = 0                 per-message cost: time each message holds the link
    message_bytes = 0              per-message cost: header bytes (40: TCP/IPv4)
    Each direction sends one message at a time: a message waits for the one before it,
    takes (bytes + message_bytes) / rate + message_ms, then arrives latency_ms later.
"""

import datetime

from emtag.simulator import power, receiver

EVENTS = {
    "strap_cut": (),
    "strap_restore": (),
    "case_open": (),
    "case_close": (),
    "foil": ("attenuation_db",),
    "jam": ("rise_db",),
    "charge": ("charger_ma",),
    "environment": ("environment",),
    "gnss_reset": (),
    "link_outage": (),
    "power_cut": ("off_s", "at_write"),
}
POWER_OFF_S = 5.0  # power_cut: seconds without power, unless off_s says otherwise
WINDOWED = ("foil", "jam", "charge", "environment", "link_outage")
COMMON = ("at", "at_s", "type", "duration_s", "repeat_s", "count", "note")


class TimelineError(ValueError):
    pass


class Event:
    def __init__(self, t_ms, kind, duration_ms, params):
        self.t_ms = t_ms
        self.kind = kind
        self.duration_ms = duration_ms
        self.params = params

    def __repr__(self):
        return "Event(%d, %r, %r, %r)" % (self.t_ms, self.kind, self.duration_ms, self.params)


class Hardware:
    """The hardware part of a scenario (what simulator/hardware.py builds from)."""

    def __init__(self, data, start_ms, duration_s):
        g = dict(data.get("gnss", {}))
        g.pop("environment", None)
        base = g.pop("profile", "ublox-m8")
        self.gnss_start = g.pop("start", "cold")
        if self.gnss_start not in ("cold", "warm", "hot"):
            raise TimelineError("gnss.start must be cold, warm or hot")
        self.uart_loss = float(g.pop("loss", 0.0))
        self.uart_corrupt = float(g.pop("corrupt", 0.0))
        if not (0 <= self.uart_loss < 1 and 0 <= self.uart_corrupt < 1):
            raise TimelineError("gnss.loss and gnss.corrupt are probabilities per byte")
        try:
            self.gnss = receiver.profile(base, **g)
        except receiver.ProfileError as e:
            raise TimelineError("gnss: %s" % e) from None
        p = dict(data.get("power", {}))
        pname = p.pop("profile", "esp32s3-m8-nrf9160")
        self.charge_pct = float(p.pop("charge_pct", 100))
        self.always_on_gnss = bool(p.pop("always_on_gnss", False))
        self.baseline = bool(p.pop("baseline", False))
        if not 0 <= self.charge_pct <= 100:
            raise TimelineError("power.charge_pct must be 0..100")
        try:
            self.power = power.profile(pname, **p)
        except ValueError as e:
            raise TimelineError("power: %s" % e) from None
        t = data.get("tag", {})
        self.armed = bool(t.get("armed", False))
        self.config = dict(t.get("config", {}))
        if self.always_on_gnss:
            self.config["gnss_always_on"] = 1
        try:
            from emtag.firmware import config as fw_config

            fw_config.Config(self.config)
        except ValueError as e:
            raise TimelineError("tag.config: %s" % e) from None
        r = data.get("rtc", {})
        self.drift_ppm = float(r.get("drift_ppm", 0.0))
        self.rtc_offset_ms = int(r.get("offset_ms", 0))
        if not -500 <= self.drift_ppm <= 500:
            raise TimelineError("rtc.drift_ppm must be within +-500")
        self.fidget_per_hour = float(data.get("motion", {}).get("fidget_per_hour", 4.0))
        link = data.get("link", {})
        self.link_loss = float(link.get("loss", 0.0))
        self.link_corrupt = float(link.get("corrupt", 0.0))
        self.link_jitter_ms = int(link.get("jitter_ms", 0))
        if not (0 <= self.link_loss < 1 and 0 <= self.link_corrupt < 1):
            raise TimelineError("link.loss and link.corrupt are probabilities per message")
        if not 0 <= self.link_jitter_ms <= 600000:
            raise TimelineError("link.jitter_ms must be 0..600000")
        if "baud" in link and "kbps" in link:
            raise TimelineError("link: give baud (serial) or kbps (cellular), not both")
        if "kbps" in link:
            self.link_kind, rate = "cellular", float(link["kbps"]) * 1000 / 8
        else:
            self.link_kind, rate = "serial", float(link.get("baud", 115200)) / 10
        self.link_bytes_per_s = rate
        self.link_message_ms = float(link.get("message_ms", 0))
        self.link_message_bytes = int(link.get("message_bytes", 0))
        if not 10 <= rate <= 1e9:
            raise TimelineError("link: baud must be 100.. or kbps 0.08.. (a working link)")
        if not (0 <= self.link_message_ms <= 60000 and 0 <= self.link_message_bytes <= 4096):
            raise TimelineError("link: message_ms must be 0..60000 and message_bytes 0..4096")
        end_ms = start_ms + int(duration_s * 1000)
        self.events = parse_events(data.get("event", []), start_ms, end_ms)
        # link outages in the timeline join the scenario's [[link.outage]] (simulator/world.py)
        self.link_outages = [
            (e.t_ms - start_ms, e.t_ms - start_ms + (e.duration_ms or end_ms - e.t_ms))
            for e in self.events
            if e.kind == "link_outage"
        ]


def _time(item, start_ms):
    if "at" in item:
        try:
            dt = datetime.datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
        except ValueError:
            raise TimelineError("event at=%r is not ISO 8601" % item["at"]) from None
        if dt.tzinfo is None:
            raise TimelineError("event at=%r needs a time zone (Z for UTC)" % item["at"])
        return int(dt.timestamp() * 1000)
    if "at_s" in item:
        return start_ms + int(float(item["at_s"]) * 1000)
    raise TimelineError("every [[event]] needs at (ISO 8601) or at_s (seconds from start)")


def _power_cut(params):
    off = params.get("off_s", POWER_OFF_S)
    if isinstance(off, bool) or not isinstance(off, (int, float)) or not 0 < off <= 86400:
        raise TimelineError(
            "event power_cut: off_s must be a number of seconds, above 0 and at most 86400 "
            "(got %r)" % (off,)
        )
    at = params.get("at_write", True)
    if isinstance(at, bool):
        at = int(at)  # true: the first write, false: none (at once)
    elif not isinstance(at, int) or not 1 <= at <= 1000000:
        raise TimelineError(
            "event power_cut: at_write must be true, false or the number of the flash write "
            "to cut, from 1 (got %r)" % (at,)
        )
    return {"off_ms": int(round(off * 1000)), "at_write": at}


def parse_events(items, start_ms, end_ms):
    out = []
    for item in items:
        kind = item.get("type")
        if kind not in EVENTS:
            raise TimelineError("event type %r: one of %s" % (kind, ", ".join(sorted(EVENTS))))
        extra = set(item) - set(COMMON) - set(EVENTS[kind])
        if extra:
            raise TimelineError("event %s: unknown keys %s" % (kind, ", ".join(sorted(extra))))
        t = _time(item, start_ms)
        dur = item.get("duration_s")
        if dur is not None and kind not in WINDOWED:
            hint = ": off_s sets how long the power stays off" if kind == "power_cut" else ""
            raise TimelineError("event %s takes no duration_s%s" % (kind, hint))
        dur_ms = int(float(dur) * 1000) if dur is not None else None
        if dur_ms is not None and dur_ms <= 0:
            raise TimelineError("event %s: duration_s must be positive" % kind)
        params = {k: item[k] for k in EVENTS[kind] if k in item}
        if kind == "environment":
            env = params.get("environment")
            if env not in receiver.ENVIRONMENTS:
                raise TimelineError(
                    "environment event needs environment = one of %s"
                    % ", ".join(receiver.ENVIRONMENTS)
                )
        if kind == "power_cut":
            params = _power_cut(params)
        repeat = item.get("repeat_s")
        count = int(item.get("count", 1 if repeat is None else 0))
        if repeat is not None:
            repeat_ms = int(float(repeat) * 1000)
            if repeat_ms <= 0 or (dur_ms is not None and dur_ms >= repeat_ms):
                raise TimelineError("event %s: repeat_s must exceed duration_s" % kind)
            if count <= 0:
                count = max(1, (end_ms - t) // repeat_ms + 1)
        else:
            repeat_ms = 0
            count = 1
        for i in range(count):
            ti = t + i * repeat_ms
            if ti < start_ms:
                raise TimelineError("event %s at %d is before the start" % (kind, ti))
            if ti <= end_ms:
                out.append(Event(ti, kind, dur_ms, params))
    out.sort(key=lambda e: e.t_ms)
    return out
