"""A simulated victim's phone: walks a route (GeoJSON or GPX, as the simulator's routes)
from a start time and posts its positions to the centre's endpoint with its token.

    python -m emtag.tools.victim_phone ROUTE --url http://127.0.0.1:8080 --token T \\
        --start 2026-03-02T08:57:30Z [--every 30] [--acc 15] [--seed 1] [--batch 20]

Each position is the route's point at that time plus seeded Gaussian noise of about the
stated accuracy (a phone's 1-sigma), reported with acc_m; times are the route's, so a
victim route replays beside a simulated tag's scenario in the same simulated time.
"""

import argparse
import datetime
import json
import math
import random
import sys
import urllib.error
import urllib.request

from emtag.simulator import routefile


def positions(route_path, start_t, every_s=30.0, acc_m=15.0, seed=1, duration_s=None):
    """[{"t", "lat", "lon", "acc_m"}] along the route, every every_s from start_t."""
    route = routefile.load(route_path)
    rng = random.Random(seed)
    out, s = [], 0.0
    end = route.duration_s if duration_s is None else duration_s
    while s <= end:
        lat, lon = route.at(s)[:2]
        dn, de = rng.gauss(0, acc_m / 2), rng.gauss(0, acc_m / 2)
        lat += dn / 111_320
        lon += de / (111_320 * math.cos(math.radians(lat)))
        out.append({"t": int(start_t + s), "lat": round(lat, 7), "lon": round(lon, 7),
                    "acc_m": acc_m})  # fmt: skip
        s += every_s
    return out


def post(url, token, items, batch=20, timeout=20):
    """Post in batches; the number stored. HTTPError carries the centre's message."""
    stored = 0
    for i in range(0, len(items), batch):
        body = json.dumps({"positions": items[i : i + batch]}).encode()
        req = urllib.request.Request(
            url.rstrip("/") + "/api/victim/positions", body, method="POST",
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=timeout) as r:
            stored += json.load(r)["stored"]
    return stored


def main(argv=None):
    p = argparse.ArgumentParser(prog="victim_phone", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("route")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--start", required=True, help="ISO 8601 UTC")
    p.add_argument("--every", type=float, default=30.0)
    p.add_argument("--acc", type=float, default=15.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=20)
    a = p.parse_args(argv)
    start = datetime.datetime.fromisoformat(a.start.replace("Z", "+00:00")).timestamp()
    items = positions(a.route, start, a.every, a.acc, a.seed)
    try:
        n = post(a.url, a.token, items, a.batch)
    except urllib.error.HTTPError as e:
        print("victim_phone: %s: %s" % (e.code, e.read().decode(errors="replace")), file=sys.stderr)
        return 1
    print("victim_phone: %d positions stored" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
