"""Scenario files (TOML): what happens in a simulated run. Paths are relative to the file.

name = "..."                      # shown in the timeline
seed = 7                          # with the file, fully determines the run
start = "2026-03-02T09:00:00Z"    # UTC
duration_s = 900
board = "sim"
route = "routes/x.geojson"        # GeoJSON LineString (see simulator/route.py)
zones = "zones/x.geojson"         # provisioned onto the tag before first boot
[gnss]
environment = "suburban"          # open_sky, suburban, urban_canyon, indoor
rate_s = 1                        # seconds between epochs (a duty-cycled receiver: 60)
[link]
latency_ms = 80
[[link.outage]]                   # optional, repeatable: no bytes cross the link either way
start_s = 3600                    # from (seconds after start)...
end_s = 608400                    # ...until
[[expect]]                        # optional: makes the scenario a test
alert = "exclusion_breach"
zone = "victim-home"
within_s = 60                     # after the true track enters the zone
# after = "strap_cut"             # ...or after this sim event (simulator/timeline.py)
# stamped_within_s = 5            # the alert's own time, after the reference
# count = 0                       # must not happen (count = N: exactly N times)
[[expect]]
metric = "days_per_charge"        # or gnss_on_share, battery_pct: a run figure
min = 3.0                         # and/or max

GNSS receiver profile, power, RTC, motion and the [[event]] timeline: simulator/timeline.py.
"""

import datetime
import os
import tomllib

from emtag.simulator import gnss, scenario_keys, timeline


class ScenarioError(ValueError):
    pass


class Scenario:
    def __init__(self, path, data):
        self.path = path
        base = os.path.dirname(os.path.abspath(path))
        try:  # unknown keys and names refused by name, with the nearest valid one
            scenario_keys.check(data, _zone_ids(path, base, data))
        except scenario_keys.ScenarioKeyError as e:
            raise ScenarioError("%s: %s" % (path, e)) from None
        try:
            self.name = str(data.get("name", os.path.basename(path)))
            self.seed = int(data.get("seed", 1))
            self.start_ms = _parse_time(data["start"])
            self.duration_s = float(data["duration_s"])
            self.board = data.get("board", "sim")
            self.route = os.path.join(base, data["route"])
            self.zones = os.path.join(base, data["zones"]) if data.get("zones") else None
            g = data.get("gnss", {})
            self.environment = g.get("environment", "suburban")
            self.link_latency_ms = int(data.get("link", {}).get("latency_ms", 80))
            # popped: the receiver profile (timeline.py) knows rates of 1..10 Hz only
            self.gnss_rate_ms = int(float(g.pop("rate_s", 1)) * 1000)
            self.link_outages = [  # (from, to) ms after start: the link is down
                (int(float(o["start_s"]) * 1000), int(float(o["end_s"]) * 1000))
                for o in data.get("link", {}).get("outage", [])
            ]
            self.expect = list(data.get("expect", []))
            # hardware settings and the timeline of events (simulator/timeline.py)
            self.hardware = timeline.Hardware(data, self.start_ms, self.duration_s)
            self.link_outages += self.hardware.link_outages  # [[event]] type = "link_outage"
        except timeline.TimelineError as e:
            raise ScenarioError("%s: %s" % (path, e)) from None
        except KeyError as e:
            raise ScenarioError("%s: missing required key %s" % (path, e)) from None
        except (TypeError, ValueError) as e:
            raise ScenarioError("%s: %s" % (path, e)) from None
        if self.board != "sim":
            raise ScenarioError("%s: board must be 'sim'" % path)
        if not 0 < self.duration_s <= 30 * 86400:
            raise ScenarioError("%s: duration_s must be between 0 and 30 days" % path)
        if not 1000 <= self.gnss_rate_ms <= 3600000:
            raise ScenarioError("%s: gnss rate_s must be between 1 and 3600" % path)
        for a, b in self.link_outages:
            if not 0 <= a < b:
                raise ScenarioError("%s: a link outage needs 0 <= start_s < end_s" % path)
        if self.environment not in gnss.ENVIRONMENTS:
            raise ScenarioError("%s: unknown gnss environment %r" % (path, self.environment))
        for e in self.expect:
            if "alert" not in e and "metric" not in e:
                raise ScenarioError("%s: every [[expect]] needs an alert or a metric" % path)
            n = e.get("count")
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
                raise ScenarioError("%s: [[expect]] count must be a whole number >= 0" % path)


def _zone_ids(path, base, data):
    """The ids of the scenario's zones (for its [[expect]] zone names), or None."""
    if not isinstance(data.get("zones"), str):
        return None
    from emtag.host import zonefile

    try:
        return [z.id for z in zonefile.load(os.path.join(base, data["zones"]))]
    except (zonefile.ZoneFileError, OSError) as e:
        raise ScenarioError("%s: zones %s: %s" % (path, data["zones"], e)) from None


def _parse_time(text):
    try:
        dt = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError("start must be ISO 8601, e.g. 2026-03-02T09:00:00Z") from None
    if dt.tzinfo is None:
        raise ScenarioError("start must carry a time zone (Z for UTC)")
    return int(dt.timestamp() * 1000)


def load(path):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ScenarioError("cannot read scenario %s: %s" % (path, e.strerror)) from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("%s: %s" % (path, e)) from None
    return Scenario(path, data)
