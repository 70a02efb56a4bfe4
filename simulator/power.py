"""Power model: per-state currents of the tag's parts, integrated into the battery.

    meter = PowerMeter(profile(), battery, t0_ms)
    meter.set("gnss", "tracking", t_ms)      # a part changes state
    meter.spend("mcu_active", ms, t_ms)      # a burst: the part at its active current
    meter.advance(t_ms)                      # integrate up to now (the battery follows)

Currents are at the battery (a linear regulator passes the load current through). The
default profile, "esp32s3-m8-nrf9160", is an ESP32-S3 tag with a u-blox M8 GNSS module,
an nRF9160-class LTE-M modem, an ADXL362 accelerometer, a MAX17048 fuel gauge, a SPI NOR
flash, a 10 mm coin vibration motor and one LED. Figures and their sources are in
PROFILES; where a figure is our estimate rather than a data-sheet value it says so.

MCU active time is not measured (the firmware runs in virtual time); it is charged per
wake, per NMEA byte parsed, per record logged and per signature, with the costs below.
The modem is in idle eDRX between uploads; each upload is one RRC connection: setup, the
bytes at the uplink rate, then the inactivity tail the network imposes.
"""

PROFILES = {
    "esp32s3-m8-nrf9160": {
        "battery_mah": 1200,  # 1200 mAh Li-polymer pouch (estimate for an ankle tag)
        "charger_ma": 600,  # 0.5 C, MCP73831-class linear charger set by its PROG resistor
        "currents_ma": {
            # ESP32-S3 data sheet v1.x (Espressif), low-power modes: light-sleep 240 uA
            "mcu_sleep": 0.24,
            # ESP32-S3 CPU running at 160 MHz, radio off: ~30 mA (measured 31.7 mA on an
            # ESP32-S3-DevKitM-1 at 3.3 V, lucidar.me; data sheet Modem-sleep range)
            "mcu_active": 30.0,
            # SAM-M8Q data sheet UBX-16012619 Table 8, at 3.0 V, GPS+GLONASS:
            "gnss_acquisition": 32.0,  # acquisition, average until the first fix
            "gnss_tracking": 29.0,  # tracking, continuous mode
            # u-blox M8 hardware backup (V_BCKP keeps RTC and ephemerides), ~15 uA
            "gnss_backup": 0.015,
            # nRF9160 product specification, modem current consumption, Cat-M1:
            "modem_edrx": 0.018,  # idle eDRX 81.92 s, PTW 2.56 s: 18 uA
            "modem_tx": 105.0,  # uplink 180 kbit/s at 23 dBm: 100-115 mA
            "modem_tail": 5.0,  # connected-mode DRX during the RRC inactivity tail (estimate)
            # ADXL362 data sheet (Analog Devices): 1.8 uA at 100 Hz ODR
            "accel": 0.0018,
            # MAX17048 data sheet: 23 uA active (hibernate 4 uA)
            "fuel_gauge": 0.023,
            # strap continuity loop (1 MOhm pull-up at 3 V) and regulator quiescent current
            "board": 0.005,
            # 10 mm coin ERM vibration motor at 3 V: 60-90 mA class (we take 75 mA)
            "vibrate": 75.0,
            # indicator LED at 2 mA (high-efficiency SMD LED)
            "led": 2.0,
            # SPI NOR flash (W25Q16JV data sheet): page program / sector erase 15-25 mA,
            # standby 10 uA (deep power-down 1 uA)
            "flash_busy": 20.0,
            "flash_standby": 0.001,
        },
        "costs": {
            # MCU time per piece of work. Measured on the MicroPython unix port on x86 with
            # tools/bench_nmea.py (0.6 us a byte) and tools/bench_p256.py (9 ms a signature),
            # then scaled by 40, our estimate of how much slower MicroPython runs on an
            # ESP32-S3 at 240 MHz; wake and record costs are estimates.
            "wake_ms": 2.0,  # light-sleep exit, the main loop, back to sleep
            "nmea_us_per_byte": 25.0,  # the NMEA parser
            "record_ms": 8.0,  # CBOR-encode and append a record to the log
            "sign_ms": 400.0,  # a software ES256 signature (alerts, checkpoints)
            "flash_prog_ms": 0.7,  # W25Q16JV tPP typ. 0.7 ms per page
            "flash_erase_ms": 45.0,  # W25Q16JV tSE typ. 45 ms per 4 KiB sector
            "modem_setup_mj": 105.0,  # nRF9160: connection setup/TAU at 23 dBm, 105 mJ
            "modem_kbps": 180.0,  # uplink rate while connected
            "modem_tail_s": 10.0,  # RRC inactivity timer (network-set; 10 s typical)
        },
        "volts": 3.7,
    },
}

PARTS = ("mcu", "gnss", "modem", "accel", "fuel_gauge", "board", "vibrate", "led", "flash")
# each part's state at power-on, before the firmware drives it (None: draws nothing)
IDLE_STATES = {
    "mcu": "mcu_sleep",
    "gnss": "gnss_backup",
    "modem": "modem_edrx",
    "accel": "accel",
    "fuel_gauge": "fuel_gauge",
    "board": "board",
    "flash": "flash_standby",
}


def profile(name="esp32s3-m8-nrf9160", **over):
    if name not in PROFILES:
        raise ValueError("unknown power profile %r (one of %s)" % (name, ", ".join(PROFILES)))
    p = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PROFILES[name].items()}
    for k, v in over.items():
        if k not in p:
            raise ValueError("unknown power setting %r" % k)
        p[k] = dict(p[k], **v) if isinstance(p[k], dict) else v
    return p


class PowerMeter:
    def __init__(self, prof, battery, t0_ms):
        self.p = prof
        self.cur = prof["currents_ma"]
        self.cost = prof["costs"]
        self.battery = battery
        self.t = t0_ms
        self.state = dict(IDLE_STATES)
        self.charger_ma = 0.0
        self.burst_mas = 0.0  # bursts since the last advance (mA x s)
        self.by_part = dict.fromkeys(PARTS, 0.0)  # mA x s drawn over the run
        self.discharge_s = 0.0
        self.discharge_mas = 0.0
        self.modem_busy_until = t0_ms

    def current_ma(self):
        return sum(self.cur[s] for s in self.state.values() if s)

    def set(self, part, state, t_ms):
        self.advance(t_ms)
        self.state[part] = state

    def charger(self, ma, t_ms):
        self.advance(t_ms)
        self.charger_ma = ma

    def spend(self, what, ms, t_ms=None):
        """A burst of `ms` milliseconds of part state `what` on top of the steady draw."""
        mas = self.cur[what] * ms / 1000.0
        part = what.split("_")[0]
        self.by_part[part] += mas
        self.burst_mas += mas

    def spend_mas(self, part, mas):
        self.by_part[part] += mas
        self.burst_mas += mas

    def advance(self, t_ms):
        dt = (t_ms - self.t) / 1000.0
        if dt < 0:
            return
        steady = 0.0
        for part, s in self.state.items():
            if s:
                c = self.cur[s]
                steady += c
                self.by_part[part] += c * dt
        b = self.battery
        if self.charger_ma > 0:
            # the charger's current tapers in CV: step at most a minute at a time
            left = dt
            while left > 0:
                h = min(left, 60.0)
                b.step(h, steady, self.charger_ma)
                left -= h
        else:
            burst = self.burst_mas
            b.step(dt, steady, 0.0, burst)
            self.discharge_s += dt
            self.discharge_mas += steady * dt + burst
        self.burst_mas = 0.0
        self.t = t_ms

    # parts with their own timing
    def modem_upload(self, nbytes, t_ms):
        """One upload of nbytes: RRC setup (if idle), transfer, inactivity tail."""
        c = self.cost
        volts = self.p["volts"]
        tx_s = nbytes * 8 / (c["modem_kbps"] * 1000.0)
        mas = self.cur["modem_tx"] * tx_s
        if t_ms >= self.modem_busy_until:
            mas += c["modem_setup_mj"] / volts  # mJ / V = mA x s
            mas += self.cur["modem_tail"] * c["modem_tail_s"]
        else:  # still connected: the tail restarts from now
            overlap = (self.modem_busy_until - t_ms) / 1000.0
            mas += self.cur["modem_tail"] * (c["modem_tail_s"] - overlap)
        self.spend_mas("modem", mas)
        self.modem_busy_until = t_ms + int((tx_s + c["modem_tail_s"]) * 1000)

    def average_ma(self):
        return self.discharge_mas / self.discharge_s if self.discharge_s else 0.0

    def days_per_charge(self):
        """Days from full to brown-out at this run's average discharge current."""
        avg = self.average_ma()
        if avg <= 0:
            return None
        return self.battery.usable_mah(avg) / avg / 24.0

    def breakdown_mah(self):
        return {k: v / 3600.0 for k, v in self.by_part.items() if v}
