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
[link]
latency_ms = 80
[[expect]]                        # optional: makes the scenario a test
alert = "exclusion_breach"
zone = "victim-home"
within_s = 60                     # after the true track enters the zone
"""

import datetime
import os
import tomllib

from emtag.simulator import gnss


class ScenarioError(ValueError):
    pass


class Scenario:
    def __init__(self, path, data):
        self.path = path
        base = os.path.dirname(os.path.abspath(path))
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
            self.expect = list(data.get("expect", []))
        except KeyError as e:
            raise ScenarioError("%s: missing required key %s" % (path, e)) from None
        except (TypeError, ValueError) as e:
            raise ScenarioError("%s: %s" % (path, e)) from None
        if self.board != "sim":
            raise ScenarioError("%s: board must be 'sim'" % path)
        if not 0 < self.duration_s <= 30 * 86400:
            raise ScenarioError("%s: duration_s must be between 0 and 30 days" % path)
        if self.environment not in gnss.ENVIRONMENTS:
            raise ScenarioError("%s: unknown gnss environment %r" % (path, self.environment))
        for e in self.expect:
            if "alert" not in e:
                raise ScenarioError("%s: every [[expect]] needs an alert" % path)


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
