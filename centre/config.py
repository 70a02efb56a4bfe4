"""The centre's settings: defaults, then a TOML file (`emtag centre serve --config FILE`),
then command-line options. Every value is bounds-checked here, with a message that names
the setting, so a bad file fails at start and never half-way through a shift.

    [centre]
    listen = "127.0.0.1:8080"
    mqtt = "mqtt://127.0.0.1:1883"     # optional: the bridge's forwarding, for live alerts
    poll_s = 2                          # how often the store is read for what is new
    escalate_after_s = 900              # an unacknowledged breach escalates after this
    escalate_kinds = ["exclusion_breach", ...]
    tiles = ""                          # a tile URL ({z}/{x}/{y}); empty: blank map, offline
    zones = ""                          # a zone file (GeoJSON): places named in weekly overviews
    session_idle_s = 1800

    [victim]
    distance_m = 500                    # proximity alert distance (a victim may override it)
    max_skew_s = 300                    # positions further apart in time are not compared
    speed_mps = 1.5                     # how far either may move in that skew, per second
    max_accuracy_m = 500                # a vaguer position is not used
    clear_margin_m = 100                # the clear needs them this much further apart
    accept_age_s = 86400                # a phone's position older than this is refused
"""

import dataclasses
import tomllib

BREACHES = (
    "exclusion_breach",
    "inclusion_breach",
    "curfew_breach",
    "strap_tamper",
    "case_tamper",
    "victim_proximity",
)


class ConfigError(ValueError):
    pass


@dataclasses.dataclass
class Settings:
    listen: str = "127.0.0.1:8080"
    mqtt: str | None = None
    poll_s: float = 2.0
    escalate_after_s: float = 900.0
    escalate_kinds: tuple = BREACHES
    tiles: str = ""
    zones: str = ""
    session_idle_s: float = 1800.0
    distance_m: float = 500.0
    max_skew_s: float = 300.0
    speed_mps: float = 1.5
    max_accuracy_m: float = 500.0
    clear_margin_m: float = 100.0
    accept_age_s: float = 86400.0


# setting -> (section, type, low, high)
BOUNDS = {
    "listen": ("centre", str, None, None),
    "mqtt": ("centre", str, None, None),
    "poll_s": ("centre", float, 0.05, 3600),
    "escalate_after_s": ("centre", float, 1, 7 * 86400),
    "escalate_kinds": ("centre", list, None, None),
    "tiles": ("centre", str, None, None),
    "zones": ("centre", str, None, None),
    "session_idle_s": ("centre", float, 60, 7 * 86400),
    "distance_m": ("victim", float, 10, 100_000),
    "max_skew_s": ("victim", float, 0, 3600),
    "speed_mps": ("victim", float, 0, 100),
    "max_accuracy_m": ("victim", float, 1, 10_000),
    "clear_margin_m": ("victim", float, 0, 10_000),
    "accept_age_s": ("victim", float, 60, 10 * 365 * 86400),
}


def check(name, value):
    """The value, converted and bounds-checked; ConfigError naming the setting if not."""
    section, kind, lo, hi = BOUNDS[name]
    where = "%s.%s" % (section, name)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("%s: %r is not a number" % (where, value))
        value = float(value)
        if not lo <= value <= hi:
            raise ConfigError("%s: %g is outside %g..%g" % (where, value, lo, hi))
        return value
    if kind is list:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError("%s: give a list of alert kinds" % where)
        return tuple(value)
    if not isinstance(value, str):
        raise ConfigError("%s: %r is not a string" % (where, value))
    if name == "tiles" and value and not (
        value.startswith(("http://", "https://", "/")) and "{z}" in value
    ):
        raise ConfigError("%s: give a tile URL with {z}, {x} and {y}, or nothing" % where)
    return value


def load(path=None, **overrides):
    """Settings from the defaults, the TOML file at path and overrides (None: not given)."""
    values = {}
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as e:
            raise ConfigError("%s: %s" % (path, e.strerror or e)) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("%s: not TOML: %s" % (path, e)) from None
        for section, table in doc.items():
            if section not in ("centre", "victim") or not isinstance(table, dict):
                raise ConfigError("%s: unknown section [%s]" % (path, section))
            for key, value in table.items():
                if key not in BOUNDS or BOUNDS[key][0] != section:
                    raise ConfigError("%s: unknown setting %s.%s" % (path, section, key))
                values[key] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**{k: check(k, v) for k, v in values.items()})
