"""Where a deployment's zones may be: a zone far outside it is a mistake until said otherwise.

The commonest mistake in a hand-written zone file is longitude and latitude swapped
(GeoJSON wants [longitude, latitude]): a victim's home in Manchester, [-2.29, 53.46],
written [53.46, -2.29] lands in the Indian Ocean. Every other check passes, and the tag
would enforce a zone nobody can enter. So every zone's centre is held to an area: one given
(a bounding box or a country's), or else the region of the file's other zones.
"""

import difflib
import math
import os

# (min lat, min lon, max lat, max lon), generous boxes around each country's territory
COUNTRIES = {
    "GB": (49.8, -8.7, 60.9, 1.9),
    "IE": (51.3, -10.7, 55.5, -5.9),
    "FR": (41.3, -5.3, 51.2, 9.7),
    "DE": (47.2, 5.8, 55.1, 15.1),
    "NL": (50.7, 3.3, 53.6, 7.3),
    "ES": (27.6, -18.2, 43.9, 4.4),
    "US": (18.9, -179.9, 71.4, -66.9),
    "CA": (41.6, -141.1, 83.2, -52.6),
    "AU": (-43.7, 112.9, -10.6, 153.7),
    "NZ": (-47.4, 166.3, -34.3, 178.6),
}
COUNTRIES["UK"] = COUNTRIES["GB"]
MAX_SPREAD_KM = 200.0  # without an area: a zone this far from the middle of the others


class AreaError(ValueError):
    pass


def parse_area(text):
    """A bounding box from 'MIN_LAT,MIN_LON,MAX_LAT,MAX_LON' (degrees) or a country code."""
    text = str(text).strip()
    if text.upper() in COUNTRIES:
        return COUNTRIES[text.upper()]
    parts = text.split(",")
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        near = difflib.get_close_matches(text.upper(), COUNTRIES, 1)
        raise AreaError(
            "area %r: give MIN_LAT,MIN_LON,MAX_LAT,MAX_LON in degrees or a country code (%s)%s"
            % (text, ", ".join(sorted(COUNTRIES)), "; did you mean %s?" % near[0] if near else "")
        )
    lat0, lon0, lat1, lon1 = box
    if not (-90 <= lat0 < lat1 <= 90 and -180 <= lon0 < lon1 <= 180):
        raise AreaError("area %r: want -90 <= MIN_LAT < MAX_LAT <= 90, -180 <= MIN_LON < "
                        "MAX_LON <= 180" % text)
    return box


def area_setting(given=None, doc_area=None):
    """(box, where it came from) of the first area set: the command line, $EMTAG_AREA, the
    file's own "area" member; (None, None) when none is."""
    for value, origin in ((given, "--area"), (os.environ.get("EMTAG_AREA"), "$EMTAG_AREA"),
                          (doc_area, 'the file\'s "area"')):
        if value not in (None, ""):
            if isinstance(value, list) and len(value) == 4:
                value = ",".join(str(v) for v in value)
            try:
                return parse_area(value), origin
            except AreaError as e:
                raise AreaError("%s: %s" % (origin, e)) from None
    return None, None


def _km(lat0, lon0, lat1, lon1):
    """Great-circle distance (haversine, mean Earth radius): enough to tell a city from an
    ocean."""
    p0, p1 = math.radians(lat0), math.radians(lat1)
    dp, dl = p1 - p0, math.radians(lon1 - lon0)
    a = math.sin(dp / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _degrees(lat, lon):
    return "%.5f %s %.5f %s" % (abs(lat), "N" if lat >= 0 else "S", abs(lon),
                                "E" if lon >= 0 else "W")


def _swap_hint(lat, lon, inside):
    """' (longitude and latitude swapped?)' when the swapped position would pass."""
    if -90 <= lon <= 90 and inside(lon, lat):
        return "; longitude and latitude swapped? GeoJSON positions are [longitude, latitude]"
    return ""


def problems(centres, box=None, origin=None, max_spread_km=MAX_SPREAD_KM):
    """What is wrong with where the zones are: centres is [(zone id, lat, lon)] in degrees.
    With a box, each centre must lie in it; without one, within max_spread_km of the
    middle of the others (nothing to compare a lone zone with)."""
    out = []
    if box is not None:
        lat0, lon0, lat1, lon1 = box

        def inside(la, lo):
            return lat0 <= la <= lat1 and lon0 <= lo <= lon1

        for zid, lat, lon in centres:
            if not inside(lat, lon):
                out.append(
                    "zone %r lies at %s, outside the deployment area (%s: %.2f..%.2f N, "
                    "%.2f..%.2f E)%s" % (zid, _degrees(lat, lon), origin, lat0, lat1, lon0, lon1,
                                        _swap_hint(lat, lon, inside))
                )
        return out
    if len(centres) < 2:
        return out  # nothing to compare a lone zone with
    # the middle of the zones: the one nearest, in sum, to all the others (a medoid), and
    # the zones within reach of it; a zone outside a majority so gathered is questioned
    dist = [[_km(a[1], a[2], b[1], b[2]) for b in centres] for a in centres]
    mid = min(range(len(centres)), key=lambda i: (sum(dist[i]), i))
    _, mlat, mlon = centres[mid]
    near = [d <= max_spread_km for d in dist[mid]]
    majority = 2 * sum(near) > len(centres)
    for i, (zid, lat, lon) in enumerate(centres):
        if majority and near[i]:
            continue
        if majority:

            def close(la, lo):
                return _km(la, lo, mlat, mlon) <= max_spread_km

            out.append(
                "zone %r lies at %s, %.0f km from the file's other zones (around %s)%s"
                % (zid, _degrees(lat, lon), dist[mid][i], _degrees(mlat, mlon),
                   _swap_hint(lat, lon, close))
            )
        else:

            def close_to_another(la, lo, i=i):
                return any(_km(la, lo, c[1], c[2]) <= max_spread_km
                           for k, c in enumerate(centres) if k != i)

            out.append(
                "zone %r lies at %s, and no majority of the file's zones lies within %.0f km "
                "of each other%s" % (zid, _degrees(lat, lon), max_spread_km,
                                     _swap_hint(lat, lon, close_to_another))
            )
    return out
