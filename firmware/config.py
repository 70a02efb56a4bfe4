"""The tag's settings: validated, bounded, stored in config.cbor, changed only by a signed
`config_set` (firmware/commands.py).

    cfg = Config.load(fs)        # defaults for anything missing; a damaged file -> defaults
    cfg.get("fix_interval_s")
    cfg.update({"tz": "CET-1CEST,M3.5.0,M10.5.0/3"})   # ConfigError, nothing changed, or all
    cfg.save(fs)                 # atomic: config.cbor.tmp renamed over config.cbor

The file holds only values that differ from the defaults, as a CBOR map (deterministic
encoding), so a firmware with new defaults changes what was never set. Zone-engine
thresholds travel with the zone table (firmware/zones.py SETTINGS); these are the tag's own.
Pure logic: no machine, no time, no I/O beyond the filesystem object given.
"""

from emtag.firmware.files import write_atomic
from emtag.protocol import cbor

DEFAULT_TZ = "GMT0BST,M3.5.0/1,M10.5.0"  # tz.DEFAULT_RULE (tz.py loads only to check a rule)

PATH = "config.cbor"
MAX_FILE = 1024

# name -> (default, min, max) for ints; name -> (default, None, max length) for text
FIELDS = {
    "fix_interval_s": (60, 10, 3600),  # a fix record this often when nothing is near
    "fast_fix_interval_s": (15, 5, 600),  # ...and this often near or in a zone
    "report_interval_s": (300, 10, 86400),  # upload routine records at least this often
    "tz": (DEFAULT_TZ, None, 64),  # POSIX TZ rule: local time for curfews and reports
    "battery_low_pct": (20, 5, 50),  # battery_low alert
    "battery_critical_pct": (5, 1, 20),  # battery_critical alert
    "no_fix_alert_s": (900, 60, 86400),  # no_fix alert after this long without a fix
    "strap_debounce_ms": (200, 20, 5000),  # strap open this long before strap_tamper
    "shielding_cn0_dbhz": (20, 5, 45),  # C/N0 below this with no fix: shielding_suspected
    "gnss_always_on": (0, 0, 1),  # 1: GNSS at 1 Hz all the time, no duty cycling (health.py)
    "rest_fix_interval_s": (60, 60, 3600),  # a wearer at rest: a fix this often (health.py)
}


class ConfigError(ValueError):
    pass


def check(name, value):
    """The value if `name` may take it, else ConfigError saying why."""
    spec = FIELDS.get(name)
    if spec is None:
        raise ConfigError("unknown setting %r" % (name,))
    default, lo, hi = spec
    if lo is None:
        if not isinstance(value, str):
            raise ConfigError("%s must be text" % name)
        if name == "tz":
            if value == DEFAULT_TZ:
                return value
            from emtag.firmware import tz, tzparse

            try:
                tz.Rule(value)
            except tzparse.TZError as e:
                raise ConfigError("tz: %s" % e) from None
        elif not 0 < len(value) <= hi:
            raise ConfigError("%s must be 1-%d characters" % (name, hi))
        return value
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError("%s must be an integer %d..%d" % (name, lo, hi))
    return value


def _cross_check(v):
    if v["fast_fix_interval_s"] > v["fix_interval_s"]:
        raise ConfigError("fast_fix_interval_s must not exceed fix_interval_s")
    if v["battery_critical_pct"] >= v["battery_low_pct"]:
        raise ConfigError("battery_critical_pct must be below battery_low_pct")


class Config:
    def __init__(self, values=None):
        v = {}
        for name in FIELDS:
            v[name] = FIELDS[name][0]
        if values:
            for name in values:
                v[name] = check(name, values[name])
            _cross_check(v)
        self.values = v

    def get(self, name):
        return self.values[name]

    def changed(self):
        """The settings that differ from the defaults (what the file holds)."""
        out = {}
        for name in FIELDS:
            if self.values[name] != FIELDS[name][0]:
                out[name] = self.values[name]
        return out

    def update(self, changes):
        """Apply every change or none (ConfigError names the first bad one)."""
        if not isinstance(changes, dict) or not changes:
            raise ConfigError("nothing to set: give name=value pairs")
        v = dict(self.values)
        for name in changes:
            v[name] = check(name, changes[name])
        _cross_check(v)
        self.values = v

    @classmethod
    def load(cls, fs, path=PATH):
        """Config from the file; defaults when there is none. ConfigError if it is damaged
        (the caller logs it and runs on defaults)."""
        try:
            f = fs.open(path, "rb")
        except OSError:
            return cls()
        try:
            data = f.read(MAX_FILE + 1)
        finally:
            f.close()
        try:
            obj = cbor.loads(data, max_depth=2, max_items=64, max_len=MAX_FILE)
        except ValueError as e:
            raise ConfigError("config file is not valid CBOR: %s" % e) from None
        if not isinstance(obj, dict):
            raise ConfigError("config file is not a map")
        return cls(obj)

    def save(self, fs, path=PATH):
        data = cbor.dumps(self.changed())
        write_atomic(fs, path, data)
