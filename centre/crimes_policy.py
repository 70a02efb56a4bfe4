"""The crime-mapping policy (TOML): proportionality as code. Which crime types may be
matched, the longest window, which wearers (those flagged, with a reason, at fitting or in
the centre; `emtag crimes eligible`), and what an answer assumes about speed and accuracy.
Everything outside it is refused with the reason and counted.

    name = "London pilot"
    crime_types = ["burglary", "robbery", "theft from the person", "vehicle crime",
                   "violence and sexual offences"]
    other_types = []          # types the force sends that are known but never matched
    max_window_h = 12         # longest incident window matched
    timezone = "Europe/London"    # for incident times written without an offset
    report_within_m = 1000    # "could not have been there" rows only within this of the scene

    [speeds]                  # km/h: the fastest a wearer is taken to move in each mode
    walking = 7
    running = 25
    driving = 130
    assume = "driving"        # the fastest mode any answer allows

    [accuracy]
    place_scale = 1.0         # placed: within sqrt(u^2 + (place_scale x 2DRMS)^2)...
    place_acc_floor_m = 25    # ...if the fix's radius is at most max(this, u)...
    max_place_acc_m = 50      # ...and at most this...
    corroborate_s = 200       # ...and its neighbours within this agree (median of three)
    excl_scale = 2.0          # ruling out: the fix's radius taken as excl_scale x 2DRMS
    excl_extra_m = 50         #   + this (multipath receivers do not report)

    [wearers]
    flag_max_age_days = 365   # a flag older than this has lapsed until set again

Without a policy file the defaults above apply (the London pilots' serious violent,
sexual and acquisitive crime).
"""

import hashlib
import tomllib

from emtag.centre import crimes_match as M
from emtag.host.store import trail_index

# police.uk crime categories (data.police.uk/docs/method/crime-categories)
POLICE_UK_TYPES = (
    "anti-social behaviour",
    "bicycle theft",
    "burglary",
    "criminal damage and arson",
    "drugs",
    "other theft",
    "possession of weapons",
    "public order",
    "robbery",
    "shoplifting",
    "theft from the person",
    "vehicle crime",
    "violence and sexual offences",
    "other crime",
)
DEFAULT_TYPES = (
    "burglary",
    "robbery",
    "theft from the person",
    "vehicle crime",
    "bicycle theft",
    "violence and sexual offences",
)
DEFAULTS = {
    "name": "default (serious violent, sexual and acquisitive crime)",
    "crime_types": list(DEFAULT_TYPES),
    "other_types": [],
    "max_window_h": 12.0,
    "timezone": "UTC",
    "report_within_m": 1000.0,
    "speeds": {"walking": 7.0, "running": 25.0, "driving": 130.0, "assume": "driving"},
    "accuracy": {
        "place_scale": 1.0,
        "place_acc_floor_m": 25.0,
        "max_place_acc_m": 50.0,
        "corroborate_s": 200.0,
        "excl_scale": 2.0,
        "excl_extra_m": 50.0,
    },
    "wearers": {"flag_max_age_days": 365.0},
}
MODES = ("walking", "running", "driving")


class PolicyError(ValueError):
    pass


def norm_type(text):
    """A crime type compared without case, spacing, '&' or '-' differences."""
    t = text.strip().lower().replace("&", " and ").replace("-", " ").replace("_", " ")
    return " ".join(t.split())


class Policy:
    def __init__(self, data: dict, source_text: str = "", path: str | None = None):
        self.path = path
        self.text = source_text
        self.sha256 = hashlib.sha256(source_text.encode()).hexdigest() if path else None
        d = _merge(DEFAULTS, data)
        self.raw = d
        self.name = str(d["name"])
        self.allowed = {norm_type(t) for t in _strings(d["crime_types"], "crime_types")}
        others = {norm_type(t) for t in _strings(d["other_types"], "other_types")}
        self.known = self.allowed | others | {norm_type(t) for t in POLICE_UK_TYPES}
        self.max_window_s = _num(d["max_window_h"], "max_window_h", 0.01, 24 * 31) * 3600
        self.timezone = str(d["timezone"])
        sp = d["speeds"]
        speeds = {m: _num(sp[m], "speeds." + m, 1, 1000) / 3.6 for m in MODES}
        if not speeds["walking"] < speeds["running"] < speeds["driving"]:
            raise PolicyError("speeds: walking < running < driving")
        if sp["assume"] not in MODES:
            raise PolicyError("speeds.assume: one of %s" % ", ".join(MODES))
        speeds = {m: v for m, v in speeds.items() if MODES.index(m) <= MODES.index(sp["assume"])}
        ac = d["accuracy"]
        self.params = M.Params(
            speeds=speeds,
            assume=sp["assume"],
            place_scale=_num(ac["place_scale"], "accuracy.place_scale", 0.1, 3),
            place_acc_floor_m=_num(ac["place_acc_floor_m"], "accuracy.place_acc_floor_m", 0, 1000),
            max_place_acc_m=_num(ac["max_place_acc_m"], "accuracy.max_place_acc_m", 1, 1000),
            corroborate_s=_num(ac["corroborate_s"], "accuracy.corroborate_s", 0, 3600),
            excl_scale=_num(ac["excl_scale"], "accuracy.excl_scale", 1, 100),
            excl_extra_m=_num(ac["excl_extra_m"], "accuracy.excl_extra_m", 0, 100000),
            report_within_m=_num(d["report_within_m"], "report_within_m", 0, 50000),
        )
        self.flag_max_age_s = (
            _num(d["wearers"]["flag_max_age_days"], "wearers.flag_max_age_days", 1, 36500) * 86400
        )
        # the trail index covers movements and radii up to its own bounds
        if speeds[sp["assume"]] > trail_index.INDEX_SPEED_MPS + 1e-9:
            raise PolicyError(
                "speeds.%s: the trail index covers up to %.0f km/h"
                % (sp["assume"], trail_index.INDEX_SPEED_MPS * 3.6)
            )
        if self.params.excl_scale > trail_index.INDEX_ACC_SCALE or (
            self.params.excl_extra_m > trail_index.INDEX_EXTRA_M
        ):
            raise PolicyError(
                "accuracy: the trail index covers excl_scale up to %d and excl_extra_m up to %d"
                % (trail_index.INDEX_ACC_SCALE, trail_index.INDEX_EXTRA_M)
            )
        if self.params.place_scale > self.params.excl_scale:
            raise PolicyError("accuracy: place_scale must not exceed excl_scale")

    def check_type(self, crime_type):
        """None if the type may be matched, else (kind, why not)."""
        t = norm_type(crime_type)
        if t in self.allowed:
            return None
        if t in self.known:
            return (
                "crime_type_outside_policy",
                "crime type %r is outside the policy (it "
                "allows: %s)" % (crime_type, ", ".join(sorted(self.allowed))),
            )
        return (
            "unknown_crime_type",
            "unknown crime type %r (known: police.uk categories and the policy's own)" % crime_type,
        )

    def summary(self):
        """What the audit log keeps of the policy."""
        return {
            "name": self.name,
            "file": self.path,
            "sha256": self.sha256,
            "settings": self.raw,
        }


def load(path=None):
    if path is None:
        return Policy({})
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PolicyError("cannot read %s: %s" % (path, e.strerror or e)) from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PolicyError("%s: not a TOML policy: %s" % (path, e)) from None
    try:
        return Policy(data, text, path)
    except PolicyError as e:
        raise PolicyError("%s: %s" % (path, e)) from None


def _merge(base, data):
    out = {}
    for k in data:
        if k not in base:
            raise PolicyError("unknown setting %r (known: %s)" % (k, ", ".join(base)))
    for k, v in base.items():
        if isinstance(v, dict):
            sub = data.get(k, {})
            if not isinstance(sub, dict):
                raise PolicyError("[%s] must be a table" % k)
            out[k] = _merge(v, sub)
        else:
            out[k] = data.get(k, v)
    return out


def _num(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise PolicyError("%s must be a number from %g to %g, not %r" % (name, lo, hi, v))
    return float(v)


def _strings(v, name):
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise PolicyError("%s must be a list of names" % name)
    return v
