"""Route files: a GeoJSON LineString (format in simulator/route.py) or a GPX track
(simulator/gpx.py), read into a Route."""

import json

from emtag.simulator import gpx
from emtag.simulator.route import WALKING_MPS, Route, RouteError


def load(path):
    """The Route in a GeoJSON (.geojson, .json) or GPX (.gpx) file; RouteError if none."""
    if path.lower().endswith(".gpx"):
        return gpx.load(path)
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise RouteError("cannot read route %s: %s" % (path, e)) from None
    if doc.get("type") == "FeatureCollection":
        lines = [
            f for f in doc.get("features", []) if f.get("geometry", {}).get("type") == "LineString"
        ]
        if len(lines) != 1:
            raise RouteError("%s: expected exactly one LineString feature" % path)
        doc = lines[0]
    props = doc.get("properties") or {}
    geom = doc.get("geometry") if doc.get("type") == "Feature" else doc
    if not geom or geom.get("type") != "LineString":
        raise RouteError("%s: route must be a GeoJSON LineString" % path)
    dwell = {}
    for item in props.get("dwell_s", []):
        if not (isinstance(item, list) and len(item) == 2):
            raise RouteError("%s: dwell_s items are [vertex index, seconds]" % path)
        dwell[int(item[0])] = float(item[1])
    speed = props.get("speed_mps", WALKING_MPS)
    speed = [float(v) for v in speed] if isinstance(speed, list) else float(speed)
    envs = []
    for item in props.get("environments", []):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)):
            raise RouteError("%s: environments items are [vertex index, environment]" % path)
        envs.append((int(item[0]), item[1]))
    return Route(geom["coordinates"], speed, dwell, envs)
