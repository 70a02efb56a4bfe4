"""The tag's zone geometry against shapely on an independent projection (property tests).

Oracle: Vincenty's inverse formula on WGS84 gives the distance and azimuth from the query
point to every vertex, which places the zone in an azimuthal equidistant plane centred on
the point (distances from the centre exact); shapely then answers "inside?" and "how far
to the boundary?". The tag answers from its own per-zone plane, in integers.
"""

import math

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emtag.firmware import zonetable
from emtag.host import zonefile

A = 6378137.0
F = 1 / 298.257223563
B = A * (1 - F)


def vincenty_inverse(lat1, lon1, lat2, lon2):
    """(distance m, initial azimuth rad) on WGS84 (T. Vincenty 1975), short lines."""
    if (lat1, lon1) == (lat2, lon2):
        return 0.0, 0.0
    L = math.radians(lon2 - lon1)
    U1 = math.atan((1 - F) * math.tan(math.radians(lat1)))
    U2 = math.atan((1 - F) * math.tan(math.radians(lat2)))
    sU1, cU1, sU2, cU2 = math.sin(U1), math.cos(U1), math.sin(U2), math.cos(U2)
    lam = L
    for _ in range(200):
        sl, cl = math.sin(lam), math.cos(lam)
        ss = math.hypot(cU2 * sl, cU1 * sU2 - sU1 * cU2 * cl)
        cs = sU1 * sU2 + cU1 * cU2 * cl
        sigma = math.atan2(ss, cs)
        sa = cU1 * cU2 * sl / ss
        c2a = 1 - sa * sa
        c2sm = cs - 2 * sU1 * sU2 / c2a if c2a else 0.0
        C = F / 16 * c2a * (4 + F * (4 - 3 * c2a))
        prev = lam
        lam = L + (1 - C) * F * sa * (sigma + C * ss * (c2sm + C * cs * (-1 + 2 * c2sm**2)))
        if abs(lam - prev) < 1e-13:
            break
    u2 = c2a * (A * A - B * B) / (B * B)
    AA = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)))
    BB = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)))
    ds = (
        BB
        * ss
        * (
            c2sm
            + BB
            / 4
            * (cs * (-1 + 2 * c2sm**2) - BB / 6 * c2sm * (-3 + 4 * ss**2) * (-3 + 4 * c2sm**2))
        )
    )
    s = B * AA * (sigma - ds)
    az = math.atan2(cU2 * math.sin(lam), cU1 * sU2 - sU1 * cU2 * math.cos(lam))
    return s, az


def test_vincenty_reference():
    # Vincenty (1975) test line as reworked by Geoscience Australia: Flinders Peak ->
    # Buninyong, 54 972.271 m, azimuth 306 52' 5.37"
    lat1 = -(37 + 57 / 60 + 3.72030 / 3600)
    lon1 = 144 + 25 / 60 + 29.52440 / 3600
    lat2 = -(37 + 39 / 60 + 10.15610 / 3600)
    lon2 = 143 + 55 / 60 + 35.38390 / 3600
    s, az = vincenty_inverse(lat1, lon1, lat2, lon2)
    assert abs(s - 54972.271) < 0.001
    assert abs(math.degrees(az) % 360 - (306 + 52 / 60 + 5.37 / 3600)) < 1e-4


def oracle(rings_e7, lat, lon):
    """(inside, distance to the boundary m) of a point, rings as [(lat e7, lon e7), ...]."""
    plane = []
    for ring in rings_e7:
        pts = []
        for la, lo in ring:
            s, az = vincenty_inverse(lat, lon, la / 1e7, lo / 1e7)
            pts.append((s * math.sin(az), s * math.cos(az)))
        plane.append(pts)
    poly = shapely.Polygon(plane[0], plane[1:])
    origin = shapely.Point(0, 0)
    return poly.contains(origin), poly.boundary.distance(origin)


def star(rng_pts, lat0, lon0, rmin_m):
    """A star-shaped ring around (lat0, lon0) from (angle step fraction, radius) draws."""
    plane = zonefile.LocalPlane(lat0, lon0)
    n = len(rng_pts)
    ring = []
    for k, (jitter, r) in enumerate(rng_pts):
        a = 2 * math.pi * (k + 0.8 * jitter) / n
        la, lo = plane.latlon(r * math.cos(a), r * math.sin(a))
        ring.append((round(la * 1e7), round(lo * 1e7)))
    return ring


def feature(rings, zid="z", kind="exclusion"):
    coords = [[[lo / 1e7, la / 1e7] for la, lo in ring + ring[:1]] for ring in rings]
    return {
        "type": "Feature",
        "properties": {"id": zid, "kind": kind},
        "geometry": {"type": "Polygon", "coordinates": coords},
    }


def tag_zone(rings):
    zs = zonefile.parse({"type": "FeatureCollection", "features": [feature(rings)]})
    zs_rings = zs.zones[0].shape[1][0]  # as checked and rewound
    z = zonetable.load_table(zonefile.compile_table(zs))[0][0]
    return z, zs_rings


polygon_draws = st.tuples(
    st.floats(-70, 70),
    st.floats(-179, 179),
    st.integers(3, 40),
    st.floats(30, 3000),
    st.randoms(use_true_random=False),
)


def make_polygon(draw):
    lat0, lon0, n, size, rnd = draw
    pts = [(rnd.random(), size * (0.4 + 0.6 * rnd.random())) for _ in range(n)]
    outer = star(pts, lat0, lon0, size * 0.4)
    rings = [outer]
    if n >= 6 and rnd.random() < 0.5:  # a hole well inside the smallest radius
        hole_pts = [(rnd.random(), size * 0.1 * (0.5 + 0.5 * rnd.random())) for _ in range(5)]
        rings.append(star(hole_pts, lat0, lon0, size * 0.05)[::-1])
    return rings


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(polygon_draws, st.floats(0, 2 * math.pi), st.floats(0, 1), st.floats(0, 1))
def test_point_in_polygon_and_distance_agree_with_shapely(draw, bearing, reach, near):
    rings = make_polygon(draw)
    z, checked = tag_zone(rings)
    lat0, lon0, _, size, _ = draw
    # points from the middle of the zone to 10 km beyond its edge, dense near the edge
    dist = size * 1.2 * reach if near < 0.5 else size + 10000 * reach**2
    plane = zonefile.LocalPlane(lat0, lon0)
    la, lo = plane.latlon(dist * math.sin(bearing), dist * math.cos(bearing))
    lat, lon = round(la * 1e7), round(lo * 1e7)
    inside, d = oracle(checked, lat / 1e7, lon / 1e7)
    got = z.signed_distance_dm(lat, lon) / 10
    assert abs(abs(got) - d) <= 0.5, (got, d)
    if d > 0.2:
        assert (got > 0) == inside, (got, inside, d)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-70, 70),
    st.floats(-179, 179),
    st.floats(5, 5000),
    st.floats(0, 2 * math.pi),
    st.floats(0, 1),
)
def test_circle_distance_agrees_with_geodesic(lat0, lon0, radius, bearing, reach):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "c", "kind": "exclusion", "radius_m": radius},
                "geometry": {"type": "Point", "coordinates": [lon0, lat0]},
            }
        ],
    }
    zs = zonefile.parse(fc)
    z = zonetable.load_table(zonefile.compile_table(zs))[0][0]
    _, clat, clon, r_cm = zs.zones[0].shape
    dist = (radius + 10000) * reach
    plane = zonefile.LocalPlane(clat / 1e7, clon / 1e7)
    la, lo = plane.latlon(dist * math.sin(bearing), dist * math.cos(bearing))
    lat, lon = round(la * 1e7), round(lo * 1e7)
    s, _ = vincenty_inverse(clat / 1e7, clon / 1e7, lat / 1e7, lon / 1e7)
    want = r_cm / 100 - s
    got = z.signed_distance_dm(lat, lon) / 10
    assert abs(got - want) <= 0.5, (got, want)


@pytest.mark.parametrize("lat", [-60.0, -33.9, 0.0, 51.5, 69.6])
def test_distance_far_from_a_zone_along_every_axis(lat):
    """10 km out in eight directions from a 500 m square, against the oracle."""
    plane = zonefile.LocalPlane(lat, 10.0)
    sq = [plane.latlon(x, y) for x, y in ((-250, -250), (250, -250), (250, 250), (-250, 250))]
    ring = [(round(a * 1e7), round(b * 1e7)) for a, b in sq]
    z, checked = tag_zone([ring])
    for k in range(8):
        a = k * math.pi / 4
        la, lo = plane.latlon(10250 * math.sin(a), 10250 * math.cos(a))
        lat_e7, lon_e7 = round(la * 1e7), round(lo * 1e7)
        _, d = oracle(checked, lat_e7 / 1e7, lon_e7 / 1e7)
        got = -z.signed_distance_dm(lat_e7, lon_e7) / 10
        assert abs(got - d) <= 0.5, (k, got, d)


def test_multipolygon_with_holes_and_an_island():
    plane = zonefile.LocalPlane(53.46, -2.29)

    def sq(cx, cy, h, ccw=True):
        pts = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
        if not ccw:
            pts.reverse()
        out = [list(reversed(plane.latlon(x, y))) for x, y in pts]
        return out + [list(out[0])]

    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "m", "kind": "exclusion"},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [sq(0, 0, 300), sq(0, 0, 150, ccw=False)],  # a square ring
                        [sq(0, 0, 50)],  # an island in its hole
                        [sq(1000, 0, 100)],  # and a separate square
                    ],
                },
            }
        ],
    }
    zs = zonefile.parse(fc)
    assert zs.warnings == []
    z = zonetable.load_table(zonefile.compile_table(zs))[0][0]
    expect = {
        (0, 0): 50,  # on the island
        (100, 0): -50,  # in the hole, between island and ring
        (225, 0): 75,  # on the ring
        (400, 0): -100,  # outside
        (1000, 0): 100,  # in the separate square
        (1150, 0): -50,
    }
    for (x, y), want in expect.items():
        la, lo = plane.latlon(x, y)
        got = z.signed_distance_dm(round(la * 1e7), round(lo * 1e7)) / 10
        assert abs(got - want) < 0.3, ((x, y), got, want)
        assert zs.zones[0].contains(la, lo) == (want > 0)
