"""The tag's hardware around the firmware, for one World: GNSS module on its UART, battery
and charger under the power model, strap, case, accelerometer, RTC, cellular signal, LED
and vibration motor, and the scenario's timeline of events.

World (simulator/world.py) owns the clock, the queue, the link and the bridge and calls in
here: gnss_power / gnss_epoch, sense, on_wake (each time the firmware goes back to sleep),
wrote (what the firmware wrote: uplink bytes, events, outputs), tag_ms / true_ms (the RTC).
Every random draw comes from streams seeded by the scenario seed.
"""

import math
import random

from emtag.firmware.boards import simwire as w
from emtag.simulator import battery, power, receiver, runner, sensors, uart

NMEA_DELAY_MS = 50  # the module starts sending an epoch's sentences this long after it
BATTERY_SAMPLE_MS = 15 * 60 * 1000
TRUTH_SAMPLE_MS = 60 * 1000


STUCK_WAKES = 50000


class FirmwareStuck(runner.FirmwareCrashed):
    """The firmware keeps waking at one instant: `emtag sim` reports it like a crash."""


def provisioned(sc):
    """Files a fitting would leave on the tag's flash for this scenario: config.cbor with
    the settings it changes (firmware/config.py) and state.cbor when the tag is armed."""
    from emtag.protocol import cbor

    hw = sc.hardware
    files = {}
    if hw.config:
        files["config.cbor"] = cbor.dumps(dict(hw.config))
    if hw.armed:
        files["state.cbor"] = cbor.dumps({"armed": True})
    return files


def _stream(seed, n):
    return random.Random(seed * 1000003 + n)


class Hardware:
    def __init__(self, world):
        self.world = world
        sc = world.sc
        hw = sc.hardware
        self.cfg = hw
        seed = sc.seed
        self.start = sc.start_ms
        self.base_env = sc.environment
        self.env_override = None
        # GNSS module and its UART
        prof = hw.gnss
        self.receiver = receiver.Receiver(_stream(seed, 1), prof, sc.environment, hw.gnss_start)
        rate_ms = getattr(sc, "gnss_rate_ms", 1000)
        self.period_ms = rate_ms if rate_ms != 1000 else 1000 // prof["rate_hz"]
        self.uart = uart.Uart(_stream(seed, 2), prof["baud"], 4096, hw.uart_loss, hw.uart_corrupt)
        self.gnss_on = False
        self.gnss_gen = 0
        self.gnss_on_since = None
        self.gnss_bytes = 0  # delivered to the tag since the last wake (MCU cost)
        # power
        pp = hw.power
        self.battery = battery.Battery(pp["battery_mah"], hw.charge_pct / 100.0)
        self.meter = power.PowerMeter(pp, self.battery, self.start)
        self.charger_ma = 0
        self.charging = False
        self.led_on = False
        self.flash_seen = (0, 0)
        self.wakes = 0
        self.records = 0
        self.signatures = 0
        self.vibrate_ms = 0
        # sensors
        self.case_closed = True
        self.accel = sensors.Accelerometer(
            world.route, _stream(seed, 3), self.start, world.end, hw.fidget_per_hour
        )
        self.rtc = sensors.Rtc(self.start, hw.drift_ppm, hw.rtc_offset_ms)
        self.cell = sensors.Cellular(_stream(seed, 4))
        self.shield_db = 0.0
        self.jam_db = 0.0
        self.link_rng = _stream(seed, 5)
        self.link_last = [0, 0]  # tag->bridge, bridge->tag: last arrival times
        self.link_busy = [0.0, 0.0]  # ...and when each direction's last message is sent
        self.link_bytes_down = 0  # bytes the tag sent while the link was down
        self.link_bytes = [0, 0]  # bytes the tag wrote to the link, and the bridge to it
        self.link_lost = self.link_corrupted = 0
        self._stuck_at, self._stuck = None, 0
        self.cut_rng = _stream(seed, 6)  # which part of a torn flash write lands
        self.power_cuts = 0
        self.torn_writes = 0
        self.env_times = self._route_environments()
        self.progress = None  # callable(fraction, now_ms), set by the command line
        self._sample_t = self.start
        self._sample_mas = 0.0
        self._schedule()

    # timeline
    def _schedule(self):
        wd = self.world
        for ev in self.cfg.events:
            wd.at(ev.t_ms, self._event_start, ev)
            if ev.duration_ms is not None:
                wd.at(ev.t_ms + ev.duration_ms, self._event_end, ev)
        for t in self.accel.interrupts():
            if t > self.start:
                wd.at(t, self._interrupt, w.MOTION)
        for t, env in self.env_times:
            wd.at(t, self._route_env, env)
        wd.at(self.start, self._sample_battery)
        wd.at(self.start, self._sample_truth)
        wd.at(self.start, self._truth_tick)

    def _route_environments(self):
        """(t_ms, environment) from the route's `environments` property."""
        r = self.world.route
        out = []
        for vertex, env in getattr(r, "environments", []):
            out.append((self.start + int(r.vertex_t[vertex] * 1000), env))
        return out

    def _event(self, kind, **fields):
        self.world.events.add(self.world.now, "sim", kind, **fields)

    def _interrupt(self, sensor):
        self.world.rx.append((w.SENSOR, bytes([sensor])))

    def _event_start(self, ev):
        k, p = ev.kind, ev.params
        wd = self.world
        if k == "strap_cut":
            wd.strap_closed = False
            self._event("strap_cut")
            self._interrupt(w.STRAP)
        elif k == "strap_restore":
            wd.strap_closed = True
            self._event("strap_restore")
            self._interrupt(w.STRAP)
        elif k == "case_open":
            self.case_closed = False
            self._event("case_open")
            self._interrupt(w.CASE)
        elif k == "case_close":
            self.case_closed = True
            self._event("case_close")
            self._interrupt(w.CASE)
        elif k == "foil":
            self.shield_db = float(p.get("attenuation_db", 30))
            self.receiver.shield_db = self.shield_db
            self._event("foil_on", attenuation_db=self.shield_db)
        elif k == "jam":
            self.jam_db = float(p.get("rise_db", 25))
            self.receiver.jam_db = self.jam_db
            self._event("jam_on", rise_db=self.jam_db)
        elif k == "charge":
            self._charger(int(p.get("charger_ma", self.cfg.power["charger_ma"])))
        elif k == "environment":
            self.env_override = p["environment"]
            self._set_env()
        elif k == "gnss_reset":
            self.receiver.reset()
            self._event("gnss_reset")
        elif k == "power_cut":
            wd.power_cut_due(p)  # at the next flash write, or now (simulator/world.py)

    def _event_end(self, ev):
        k = ev.kind
        if k == "foil":
            self.shield_db = 0.0
            self.receiver.shield_db = 0.0
            self._event("foil_off")
        elif k == "jam":
            self.jam_db = 0.0
            self.receiver.jam_db = 0.0
            self._event("jam_off")
        elif k == "charge":
            self._charger(0)
        elif k == "environment":
            self.env_override = None
            self._set_env()

    def _route_env(self, env):
        self.base_env = env
        self._set_env()

    def _set_env(self):
        env = self.env_override or self.base_env
        if env != self.receiver.environment:
            self.receiver.set_environment(env)
            self._event("environment", environment=env)

    def _charger(self, ma):
        now = self.world.now
        self.meter.charger(ma, now)
        self.charger_ma = ma
        plugged = ma > 0
        if plugged != self.charging:
            self.charging = plugged
            self._event("charger_plugged" if plugged else "charger_unplugged")
            self._interrupt(w.CHARGER)
            self._sample_battery(reschedule=False)

    def _sample_battery(self, reschedule=True):
        now = self.world.now
        self.meter.advance(now)
        b = self.battery
        dt = (now - self._sample_t) / 1000.0
        used = self.meter.discharge_mas - self._sample_mas
        ma = used / dt if dt > 0 and not self.charging else None
        self._sample_t, self._sample_mas = now, self.meter.discharge_mas
        self.world.events.add(
            now,
            "sim",
            "battery",
            pct=round(b.soc * 100, 2),
            mv=int(b.terminal_mv(self.meter.current_ma())),
            ma=None if ma is None else round(ma, 3),
            charging=self.charging,
        )
        if reschedule:
            self.world.at(now + BATTERY_SAMPLE_MS, self._sample_battery)

    def _truth_tick(self):
        """Ground truth for zone expectations, whether or not the GNSS is on: every second
        while the wearer moves, once per dwell."""
        wd = self.world
        t = (wd.now - self.start) / 1000.0
        lat, lon, _, _ = wd.route.at(t)
        wd._truth(lat, lon)
        nxt = wd.now + 1000
        for t0, t1, lat0, lon0, lat1, lon1 in wd.route.legs:
            if t0 <= t < t1:
                if (lat0, lon0) == (lat1, lon1):
                    nxt = self.start + int(t1 * 1000)
                break
        else:
            return  # the route is over: the wearer stays where it ends
        wd.at(max(nxt, wd.now + 1), self._truth_tick)

    def _sample_truth(self):
        wd = self.world
        lat, lon, speed, _ = wd.route.at((wd.now - self.start) / 1000.0)
        wd.events.add(
            wd.now,
            "sim",
            "truth",
            lat=int(round(lat * 1e7)),
            lon=int(round(lon * 1e7)),
            env=self.receiver.environment,
            moving=speed > sensors.MOVING_MPS,
        )
        wd.at(wd.now + TRUTH_SAMPLE_MS, self._sample_truth)

    # power cuts (simulator/world.py decides when; timeline.py describes them)
    def power_off(self):
        """All power gone: no part draws current, the charger charges nothing, the GNSS
        module loses its backup domain; sensor interrupts and bytes already queued for the
        tag are lost with its RAM."""
        now = self.world.now
        self.power_cuts += 1
        self.gnss_power(False)
        self.receiver.reset()  # V_BCKP went too: the next start is cold
        self.gnss_bytes = 0
        m = self.meter
        m.advance(now)
        for part in m.state:
            m.state[part] = None
        m.charger(0, now)
        if self.led_on:
            self.led_on = False
            self._event("led", on=False)

    def power_on(self):
        """Power is back: the parts idle as at the first power-on, until the firmware boots
        and drives them; a plugged charger charges again. The RTC never stopped."""
        now = self.world.now
        m = self.meter
        m.advance(now)
        m.state.update(power.IDLE_STATES)
        m.charger(self.charger_ma, now)
        self._stuck_at, self._stuck = None, 0

    # GNSS
    def gnss_power(self, on):
        now = self.world.now
        if on == self.gnss_on:
            return
        self.gnss_on = on
        self.gnss_gen += 1
        self.receiver.power(on, now)
        self.meter.set("gnss", "gnss_acquisition" if on else "gnss_backup", now)
        if on:
            self.gnss_on_since = now
            first = (now // self.period_ms + 1) * self.period_ms
            self.world.at(first, self.gnss_epoch, first, self.gnss_gen)

    def gnss_epoch(self, epoch_ms, gen=None):
        if not self.gnss_on or (gen is not None and gen != self.gnss_gen):
            return
        wd = self.world
        lat, lon, speed, course = wd.route.at((epoch_ms - self.start) / 1000.0)
        was = self.receiver.state
        data = self.receiver.epoch(epoch_ms, lat, lon, speed, course)
        if was != "tracking" and self.receiver.state == "tracking":
            self.meter.set("gnss", "gnss_tracking", epoch_ms)
        for t, chunk in self.uart.send(epoch_ms + NMEA_DELAY_MS, data):
            wd.at(t, self._deliver, chunk, self.gnss_gen)
        wd.at(epoch_ms + self.period_ms, self.gnss_epoch, epoch_ms + self.period_ms, self.gnss_gen)

    def _deliver(self, chunk, gen):
        if gen == self.gnss_gen and self.gnss_on:
            self.gnss_bytes += len(chunk)
            self.world.rx.append((w.GNSS, chunk))

    # the firmware's reads
    def sense(self, sensor):
        now = self.world.now
        if sensor == w.STRAP:
            return 1 if self.world.strap_closed else 0
        if sensor == w.BATTERY_MV:
            self.meter.advance(now)
            return int(self.battery.terminal_mv(self.meter.current_ma()))
        if sensor == w.BATTERY_PCT:
            self.meter.advance(now)
            return self.battery.percent()
        if sensor == w.CASE:
            return 1 if self.case_closed else 0
        if sensor == w.CHARGER:
            return 1 if self.charging else 0
        if sensor == w.MOTION:
            return 1 if self.accel.read(now) else 0
        if sensor == w.AWAKE:
            return 1 if self.accel.awake(now) else 0
        if sensor == w.RSSI:
            r = self.cell.rssi(now, self.receiver.environment, self.shield_db)
            return w.NO_VALUE if r is None else -r
        if sensor == w.LINK_UP:
            return 1 if self.world.link_up() else 0
        if sensor == w.CHARGE_FULL:
            return 1 if self.charging and self.battery.full else 0
        return w.NO_VALUE

    # what the firmware did
    def wrote(self, channel, data):
        now = self.world.now
        if channel == w.LINK:
            self.meter.modem_upload(len(data), now)
            self.link_bytes[0] += len(data)
            if not self.world.link_up():
                self.link_bytes_down += len(data)
        elif channel == w.VIBRATE:
            ms = w.u32(data, 0)
            self.vibrate_ms += ms
            self.meter.spend("vibrate", ms)
        elif channel == w.LED:
            on = data[:1] == b"\x01"
            if on != self.led_on:
                self.led_on = on
                self.meter.set("led", "led" if on else None, now)
                self._event("led", on=on)

    def tag_event(self, kind):
        c = self.meter.cost
        if kind in ("fix", "alert", "checkpoint"):
            self.records += 1
            self.meter.spend("mcu_active", c["record_ms"])
        if kind in ("alert", "checkpoint"):
            self.signatures += 1
            self.meter.spend("mcu_active", c["sign_ms"])

    def on_wake(self):
        """The firmware finished a wake and asks to sleep: charge what it did."""
        wd = self.world
        now = wd.now
        c = self.meter.cost
        self.wakes += 1
        if now == self._stuck_at:
            self._stuck += 1
            if self._stuck > STUCK_WAKES:  # a watchdog: a run must never hang CI
                raise FirmwareStuck(
                    "the firmware asked to sleep %d times at %s without the clock moving"
                    % (self._stuck, now)
                )
        else:
            self._stuck_at, self._stuck = now, 0
        ms = c["wake_ms"] + self.gnss_bytes * c["nmea_us_per_byte"] / 1000.0
        self.gnss_bytes = 0
        self.meter.spend("mcu_active", ms)
        fl = wd.flash
        progs, erases = fl.programs, sum(fl.erases)
        dp, de = progs - self.flash_seen[0], erases - self.flash_seen[1]
        if dp or de:
            self.flash_seen = (progs, erases)
            self.meter.spend("flash_busy", dp * c["flash_prog_ms"] + de * c["flash_erase_ms"])
        self.meter.advance(now)
        if self.battery.empty and now < wd.end:
            self._event("battery_empty", pct=self.battery.percent())
            wd.end = now
        if self.progress is not None:
            self.progress((now - self.start) / max(1, wd.end - self.start), now)

    # the uplink's imperfections ([link] loss, corrupt, jitter_ms)
    def link_pass(self, data):
        """The message as it arrives: None when lost, or with one byte flipped."""
        c = self.cfg
        if not (c.link_loss or c.link_corrupt):
            return data
        r = self.link_rng
        if r.random() < c.link_loss:
            self.link_lost += 1
            return None
        if data and r.random() < c.link_corrupt:
            self.link_corrupted += 1
            b = bytearray(data)
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
            return bytes(b)
        return data

    def link_arrival(self, direction, nbytes):
        """When a message of nbytes sent now arrives: after the messages before it the same
        way, its own time on the link (bytes at the link's rate, plus the per-message cost),
        then latency plus jitter; never before the one sent earlier (the link keeps order)."""
        c = self.cfg
        start = max(self.world.now, self.link_busy[direction])
        done = start + (nbytes + c.link_message_bytes) * 1000.0 / c.link_bytes_per_s
        done += c.link_message_ms
        self.link_busy[direction] = done
        t = math.ceil(done) + self.world.sc.link_latency_ms
        if c.link_jitter_ms:
            t += self.link_rng.randint(0, c.link_jitter_ms)
        t = max(t, self.link_last[direction])
        self.link_last[direction] = t
        return t

    # the RTC between true time and the tag's clock
    def tag_ms(self, true_ms):
        return self.rtc.tag_ms(true_ms)

    def true_ms(self, tag_ms):
        return self.rtc.true_ms(tag_ms)

    # the run's figures
    def summary(self):
        now = self.world.now
        if self.gnss_on:
            self.receiver.on_total_ms += now - self.receiver.on_ms
            self.receiver.on_ms = now
        self.meter.advance(now)
        rx = self.receiver
        run_ms = max(1, now - self.start)
        fl = self.world.flash
        ttff = sorted(rx.ttff_ms)
        acc = sorted(
            e["acc_cm"] / 100.0
            for e in self.world.events.events
            if e["type"] == "fix" and e["source"] == "tag" and e.get("acc_cm")
        )
        return {
            "fix_acc_median_m": acc[len(acc) // 2] if acc else None,
            "fix_acc_p90_m": acc[int(len(acc) * 0.9)] if acc else None,
            "gnss_on_share": rx.on_total_ms / run_ms,
            "gnss_starts": dict(rx.starts),
            "ttff_median_s": ttff[len(ttff) // 2] / 1000.0 if ttff else None,
            "gnss_epochs": rx.epochs,
            "uart_dropped": self.uart.dropped_bytes,
            "uart_errors": self.uart.lost_bytes + self.uart.corrupted_bytes,
            "link_lost": self.link_lost,
            "link_bytes_down": self.link_bytes_down,
            "link_bytes_tag": self.link_bytes[0],
            "link_bytes_bridge": self.link_bytes[1],
            "link_corrupted": self.link_corrupted,
            "battery_pct": round(self.battery.soc * 100, 1),
            "battery_empty": self.battery.empty,
            "avg_ma": self.meter.average_ma(),
            "days_per_charge": self.meter.days_per_charge(),
            "charged_mah": self.battery.charge_in_mah,
            "breakdown_mah": self.meter.breakdown_mah(),
            "wakes": self.wakes,
            "power_cuts": self.power_cuts,
            "torn_writes": self.torn_writes,
            "signatures": self.signatures,
            "flash_erases_max": max(fl.erases),
            "flash_erases_total": sum(fl.erases),
            "vibrate_ms": self.vibrate_ms,
            "moving_share": self.accel.moving_share(self.start, now),
        }
