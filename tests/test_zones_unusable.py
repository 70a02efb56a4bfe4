"""A zone table on flash that the tag cannot use must not pass in silence: the tag runs on
without zones (better than a boot loop) and tells the centre at once with a signed
zones_unusable alert, which the bridge stores like any other."""

import json
import math
import os

import pytest

from emtag.host import unixport, zonefile
from emtag.simulator import scenario, simulate

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _scenario(tmp_path, zones_path):
    sc = scenario.load(os.path.join(EXAMPLES, "exclusion-breach.toml"))
    sc.zones = str(zones_path)
    sc.duration_s = 120
    sc.expect = []
    return sc


def _alerts(result, source):
    return [a["alert"] for a in result[source]]


def test_a_table_the_tag_refuses_raises_zones_unusable(tmp_path, monkeypatch):
    zones = os.path.join(EXAMPLES, "zones", "victim-home.geojson")
    # what reaches the flash is not a zone table (a fitting cannot push this: the tag
    # test-loads a table before installing it; flash corruption or an old format can)
    monkeypatch.setattr(zonefile, "compile_table", lambda zs: b"\x41\x00")
    r = simulate.simulate(_scenario(tmp_path, zones), str(tmp_path / "out"), "cpython")
    assert _alerts(r, "tag_alerts") == ["zones_unusable"]
    assert _alerts(r, "stored_alerts") == ["zones_unusable"]
    assert r["stored_failed"] == 0


@pytest.mark.skipif(unixport.binary() is None, reason="MicroPython unix port not installed")
def test_a_table_too_big_for_the_heap_raises_zones_unusable(tmp_path):
    # 8 polygons of 500 vertices: within the compiler's limits, beyond what the 192 KiB
    # heap holds beside the rest of the firmware (4 x 400 fits: see the README)
    feats = []
    for i in range(8):
        ring = [
            [-2.35 + 0.003 * math.cos(2 * math.pi * k / 500), 53.40 + 0.01 * i
             + 0.002 * math.sin(2 * math.pi * k / 500)]
            for k in range(500)
        ]
        feats.append({"type": "Feature", "properties": {"id": "z%d" % i, "kind": "exclusion"},
                      "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}})
    path = tmp_path / "big.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r = simulate.simulate(_scenario(tmp_path, path), str(tmp_path / "out"), "micropython")
    assert _alerts(r, "stored_alerts") == ["zones_unusable"]
    with open(tmp_path / "out" / "events.jsonl") as f:
        invalid = [json.loads(line) for line in f if '"zones_invalid"' in line]
    assert invalid and "memory" in invalid[0]["error"]
