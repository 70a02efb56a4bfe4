"""centre/staypoints.py against trackintel (the oracle) on the same trails: seeded days of
stops, walks, GPS noise and gaps, and the real typical-week pattern. Same stays, same
times, same centres (to a centimetre)."""

import random

import pytest

from emtag.centre.staypoints import staypoints
from emtag.host.store.base import Fix

T0 = 1773014400  # 2026-03-09T00:00:00Z


def trail(seed, n=1500):
    """A day or so: stays (noise of 5-80 m) and walks/rides between them, with gaps."""
    rnd = random.Random(seed)
    lat, lon = 53.48 + rnd.uniform(-0.01, 0.01), -2.24 + rnd.uniform(-0.01, 0.01)
    t, out, seq = T0, [], 0
    while len(out) < n:
        if rnd.random() < 0.5:  # a stay
            noise = rnd.uniform(5, 80)
            for _ in range(rnd.randint(3, 120)):
                seq += 1
                dlat, dlon = rnd.gauss(0, noise) / 111000, rnd.gauss(0, noise) / 66000
                out.append((seq, t, lat + dlat, lon + dlon))
                t += rnd.choice((15, 60, 60, 60, 120, 300))
        else:  # a move
            speed = rnd.choice((1.3, 6.5, 12.0))
            heading = rnd.uniform(0, 6.283)
            for _ in range(rnd.randint(2, 40)):
                seq += 1
                import math

                lat += speed * 60 * math.cos(heading) / 111000
                lon += speed * 60 * math.sin(heading) / 66000
                out.append((seq, t, lat, lon))
                t += 60
        if rnd.random() < 0.15:
            t += rnd.choice((1200, 2400, 7200))  # a gap
    return [Fix(s, tt, 0, round(la * 1e7), round(lo * 1e7), 1000) for s, tt, la, lo in out]


def oracle(fixes, dist_m, time_s, gap_s):
    import geopandas as gpd
    import pandas as pd
    import trackintel as ti

    df = pd.DataFrame(
        {
            "user_id": 1,
            "tracked_at": pd.to_datetime([f.t for f in fixes], unit="s", utc=True),
            "geometry": gpd.points_from_xy(
                [f.lon_e7 / 1e7 for f in fixes], [f.lat_e7 / 1e7 for f in fixes]
            ),
        }
    )
    pfs = ti.Positionfixes(gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326"))
    _, sp = pfs.generate_staypoints(
        method="sliding", dist_threshold=dist_m, time_threshold=time_s / 60,
        gap_threshold=gap_s / 60, include_last=True, exclude_duplicate_pfs=True,
    )  # fmt: skip
    return [
        (r.started_at.timestamp(), r.finished_at.timestamp(), r.geometry.y, r.geometry.x)
        for r in sp.sort_values("started_at").itertuples()
    ]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("params", [(150, 600, 1800), (100, 300, 900), (50, 120, 600)])
def test_stay_points_agree_with_trackintel(seed, params):
    pytest.importorskip("trackintel")
    fixes = trail(seed)
    mine = staypoints(fixes, *params)
    theirs = oracle(fixes, *params)
    assert len(mine) == len(theirs) and len(mine) > 2
    for a, b in zip(mine, theirs, strict=True):
        assert (a.t_start, a.t_end) == (b[0], b[1])
        assert a.lat == pytest.approx(b[2], abs=1e-7) and a.lon == pytest.approx(b[3], abs=1e-7)
