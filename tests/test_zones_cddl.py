"""Compiled zone tables against protocol/zones.cddl (cddl-verifier, RFC 8610): the header
and every zone item, for circles, polygons with holes, multipolygons and schedules."""

import os

import cddl_verifier

import emtag.protocol
from emtag.host import zonefile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(list(emtag.protocol.__path__)[0], "zones.cddl")) as f:
    SCHEMA = f.read()


def valid(obj, root):
    result = cddl_verifier.validate(SCHEMA, obj, root_type=root)
    return result.valid, [str(d) for d in result.diagnostics]


def square(cx, cy, h, cw=False):
    pts = [[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]]
    pts = pts[::-1] if cw else pts
    return pts + [list(pts[0])]


def test_compiled_tables_match_the_schema():
    zs = zonefile.parse(
        {
            "type": "FeatureCollection",
            "settings": {"confirm_s": 8},
            "features": [
                {
                    "type": "Feature",
                    "properties": {"id": "a", "kind": "exclusion", "approach_m": 150},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            square(-2.29, 53.46, 0.002),
                            square(-2.29, 53.46, 0.0005, True),
                        ],
                    },
                },
                {
                    "type": "Feature",
                    "properties": {"id": "b", "kind": "exclusion"},
                    "geometry": {
                        "type": "MultiPolygon",
                        "coordinates": [[square(-2.2, 53.4, 0.001)], [square(-2.21, 53.4, 0.001)]],
                    },
                },
                {
                    "type": "Feature",
                    "properties": {
                        "id": "home",
                        "kind": "inclusion",
                        "radius_m": 60,
                        "schedule": [{"days": "daily", "start": "19:00", "end": "07:00"}],
                    },
                    "geometry": {"type": "Point", "coordinates": [-2.25, 53.47]},
                },
            ],
        }
    )
    header, rows = zonefile.decode(zonefile.compile_table(zs))
    ok, why = valid(header, "table-header")
    assert ok, why
    assert len(rows) == header[3] == 3
    for row in rows:
        ok, why = valid(row, "zone")
        assert ok, (row[0], why)


def test_the_schema_refuses_what_the_tag_refuses():
    ok, _ = valid([2, {}, [], 0], "table-header")
    assert not ok
    ok, _ = valid(["a", 2, 0, 0, [], [0, 1, 2, 1000]], "zone")  # kind
    assert not ok
    ok, _ = valid(["a", 0, 0, 0, [[0, 0]], [0, 1, 2, 1000]], "zone")  # an empty window
    assert not ok
    ok, _ = valid(["a", 0, 0, 0, [], [1, [[b"\x00" * 16]]]], "zone")  # two vertices
    assert not ok


def test_example_zone_files_compile():
    for name in sorted(os.listdir(os.path.join(REPO, "examples", "zones"))):
        zs = zonefile.load(os.path.join(REPO, "examples", "zones", name))
        header, rows = zonefile.decode(zonefile.compile_table(zs))
        assert valid(header, "table-header")[0], name
        assert all(valid(r, "zone")[0] for r in rows), name
