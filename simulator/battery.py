"""Li-ion cell, fuel gauge and CC/CV charger.

    cell = Battery(capacity_mah=1200, soc=0.9)
    cell.step(dt_s, load_ma, charger_ma)   # charger_ma: the charger's CC limit, 0 unplugged
    cell.terminal_mv(load_ma), cell.percent(), cell.empty

The open-circuit voltage follows a typical LiCoO2 / Li-polymer discharge curve at room
temperature (OCV table below, e.g. as tabulated in TI application report SLUA848 and cell
data sheets of 1000-1500 mAh pouch cells); the terminal voltage is OCV - I R with an
internal resistance of 150 mOhm. The charger is a linear CC/CV charger of the MCP73831 /
BQ24075 kind: constant current until the terminal voltage reaches 4.20 V, then constant
voltage with the current tapering (modelled as proportional to the remaining charge; while
charging the cell stands CHARGE_RISE_MV_PER_C over its OCV per C of rate, internal
resistance and polarisation, so CV begins near 85 % at 0.5 C) until
it falls to C/20, when charging terminates (`full`). The load is supplied from the charger
while it is plugged in. `percent()` is what a fuel gauge of the MAX17048 kind reports:
state of charge, whole percent, within about 1 %. The cell is empty when the terminal
voltage under load falls below the brown-out level of the board's regulator.
"""

# (state of charge %, open-circuit volts)
OCV = (
    (0, 3.00),
    (2, 3.30),
    (5, 3.50),
    (10, 3.62),
    (20, 3.70),
    (30, 3.75),
    (40, 3.79),
    (50, 3.83),
    (60, 3.88),
    (70, 3.95),
    (80, 4.02),
    (90, 4.09),
    (100, 4.19),
)
R_INT_OHM = 0.15
CHARGE_RISE_MV_PER_C = 300  # cell voltage over OCV while charging, per C of charge rate
CV_MV = 4200
BROWNOUT_MV = 3300  # a 3.0 V LDO with ~0.25 V dropout resets below this


def ocv_mv(soc):
    pct = max(0.0, min(100.0, soc * 100.0))
    for (p0, v0), (p1, v1) in zip(OCV, OCV[1:], strict=False):
        if pct <= p1:
            return 1000.0 * (v0 + (v1 - v0) * (pct - p0) / (p1 - p0))
    return 1000.0 * OCV[-1][1]


class Battery:
    def __init__(self, capacity_mah=1200.0, soc=1.0):
        if not capacity_mah > 0:
            raise ValueError("battery capacity must be positive")
        if not 0 <= soc <= 1:
            raise ValueError("state of charge must be 0..1")
        self.capacity_mah = float(capacity_mah)
        self.soc = float(soc)
        self.full = False
        self.cv = False
        self.charge_in_mah = 0.0  # totals over the run
        self.drawn_mah = 0.0
        self.empty = self.terminal_mv(0) < BROWNOUT_MV

    def terminal_mv(self, load_ma, charge_ma=0.0):
        return ocv_mv(self.soc) + (charge_ma - load_ma) * R_INT_OHM

    def percent(self):
        return int(round(self.soc * 100))

    def charge_current(self, charger_ma):
        """What the charger pushes into the cell now (0 when unplugged or done)."""
        if charger_ma <= 0 or self.full:
            return 0.0
        rise = CHARGE_RISE_MV_PER_C * charger_ma / self.capacity_mah
        if not self.cv and ocv_mv(self.soc) + rise >= CV_MV:
            self.cv = True
            self._cv_soc = self.soc
        if self.cv:
            span = max(1e-6, 1.0 - self._cv_soc)
            i = charger_ma * max(0.0, 1.0 - self.soc) / span
            if i <= self.capacity_mah / 20.0:
                self.full = True
                return 0.0
            return i
        return float(charger_ma)

    def step(self, dt_s, load_ma, charger_ma=0.0, burst_mas=0.0):
        """Advance dt_s seconds with a constant load, plus short bursts of burst_mas (mA x s:
        their charge counts, their peak is carried by the decoupling capacitors); a
        plugged charger supplies the load."""
        if dt_s <= 0 and not burst_mas:
            return
        if charger_ma > 0:
            i = self.charge_current(charger_ma)
            d = i * dt_s / 3600.0
            self.charge_in_mah += d
            self.soc = min(1.0, self.soc + d / self.capacity_mah)
            self.empty = False
            return
        self.full = self.cv = False
        d = (load_ma * dt_s + burst_mas) / 3600.0
        self.drawn_mah += d
        self.soc = max(0.0, self.soc - d / self.capacity_mah)
        if self.soc <= 0.0 or self.terminal_mv(load_ma) < BROWNOUT_MV:
            self.empty = True

    def usable_mah(self, load_ma):
        """Charge from full until brown-out at this load (for days-per-charge figures)."""
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if ocv_mv(mid) - load_ma * R_INT_OHM < BROWNOUT_MV:
                lo = mid
            else:
                hi = mid
        return self.capacity_mah * (1.0 - hi)
