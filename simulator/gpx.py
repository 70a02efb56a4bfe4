"""GPX tracks as routes: the wearer follows the recorded points at the recorded times.

Every <trkpt> of every <trkseg> in order (or, without a track, the <rtept>s of a route at
walking pace). With timestamps, each leg's speed is its distance over its time, and a
point repeated (or a leg slower than 0.2 m/s) becomes a dwell, so a GPX recording of a
field incident replays with its own timing. Extensions are ignored.
"""

import datetime
import xml.etree.ElementTree as ET

from emtag.simulator import geo
from emtag.simulator.route import WALKING_MPS, Route, RouteError

STILL_MPS = 0.2


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _time(text):
    try:
        return datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def load(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise RouteError("cannot read GPX %s: %s" % (path, e)) from None
    pts = []
    for kind in ("trkpt", "rtept"):
        for el in root.iter():
            if _local(el.tag) != kind:
                continue
            try:
                lat, lon = float(el.get("lat")), float(el.get("lon"))
            except (TypeError, ValueError):
                raise RouteError("%s: a %s without lat/lon" % (path, kind)) from None
            t = None
            for child in el:
                if _local(child.tag) == "time" and child.text:
                    t = _time(child.text)
            pts.append((lon, lat, t))
        if pts:
            break
    if len(pts) < 2:
        raise RouteError("%s: a GPX route needs at least two points" % path)
    timed = all(p[2] is not None for p in pts)
    if not timed:
        return Route([p[:2] for p in pts], WALKING_MPS)
    coords, speeds, dwell = [pts[0][:2]], [], {}
    for (lon0, lat0, t0), (lon1, lat1, t1) in zip(pts, pts[1:], strict=False):
        dt = t1 - t0
        if dt < 0:
            raise RouteError("%s: GPX timestamps go backwards" % path)
        d = geo.distance_m(lat0, lon0, lat1, lon1)
        if d < 0.5 or (dt > 0 and d / dt < STILL_MPS):
            # standing still here: wait, then cover the little distance at walking pace
            k = len(coords) - 1
            dwell[k] = dwell.get(k, 0.0) + max(0.0, dt - d / WALKING_MPS)
            if d < 0.5:
                continue
            speeds.append(WALKING_MPS)
        else:
            speeds.append(d / dt if dt > 0 else WALKING_MPS)
        coords.append((lon1, lat1))
    if len(coords) < 2:
        coords.append(coords[0])
        speeds.append(WALKING_MPS)
    return Route(coords, speeds, dwell)
