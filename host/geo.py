"""Great-circle distances on scaled-integer positions (degrees x 1e7), for the store's and
the centre's spatial questions (the simulator keeps its own float helpers)."""

import math

R_EARTH = 6371008.8  # mean Earth radius, metres (IUGG)


def distance_m(lat1_e7, lon1_e7, lat2_e7, lon2_e7):
    """Haversine distance in metres between two positions in degrees x 1e7."""
    p1, p2 = math.radians(lat1_e7 / 1e7), math.radians(lat2_e7 / 1e7)
    dp, dl = p2 - p1, math.radians((lon2_e7 - lon1_e7) / 1e7)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH * math.asin(min(1.0, math.sqrt(a)))


def bbox_e7(lat_e7, lon_e7, radius_m):
    """(lat lo, lat hi, lon lo, lon hi) in degrees x 1e7 of a box holding every point within
    radius_m of the centre (a prefilter for an index; the exact test is distance_m)."""
    dlat = math.degrees(radius_m / R_EARTH) * 1.01
    c = max(math.cos(math.radians(min(89.0, abs(lat_e7 / 1e7) + dlat))), 1e-6)
    dlon = min(180.0, dlat / c)
    return (
        int(lat_e7 - dlat * 1e7) - 1,
        int(lat_e7 + dlat * 1e7) + 1,
        int(lon_e7 - dlon * 1e7) - 1,
        int(lon_e7 + dlon * 1e7) + 1,
    )
