"""`emtag zones compile`: GeoJSON checks with errors naming the zone, winding, schedules,
limits, the compiled table as the tag reads it, and the command line."""

import json
import math
import os
import subprocess
import sys

import pytest

from emtag.firmware import zones as fw_zones
from emtag.firmware import zonetable
from emtag.host import zonefile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LON, LAT = -2.2913, 53.4631


def sq(cx=0.0, cy=0.0, h=0.001, cw=False):
    """A closed square ring (GeoJSON order lon, lat), counter-clockwise unless cw."""
    pts = [[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]]
    if cw:
        pts.reverse()
    pts = [[LON + x, LAT + y] for x, y in pts]
    return pts + [list(pts[0])]


def feature(geom, **props):
    p = {"id": "z", "kind": "exclusion"}
    p.update(props)
    return {"type": "Feature", "properties": p, "geometry": geom}


def poly(*rings):
    return {"type": "Polygon", "coordinates": list(rings)}


def fc(*features, **extra):
    d = {"type": "FeatureCollection", "features": list(features)}
    d.update(extra)
    return d


def error(doc, strict=False):
    with pytest.raises(zonefile.ZoneFileError) as e:
        zonefile.parse(doc, "zones.geojson", strict)
    return str(e.value)


def test_example_compiles_and_the_tag_loads_it():
    zs = zonefile.load(os.path.join(REPO, "examples", "zones", "victim-home.geojson"))
    data = zonefile.compile_table(zs)
    assert data == zonefile.compile_table(zs)  # deterministic
    loaded, settings = zonetable.load_table(data)
    assert [z.id for z in loaded] == ["victim-home"]
    assert settings == zonetable.defaults()
    header, rows = zonefile.decode(data)
    assert header[0] == 1 and header[3] == 1 and rows[0][0] == "victim-home"


def test_polygon_multipolygon_circle_and_settings():
    doc = fc(
        feature(poly(sq(h=0.002), sq(h=0.0005, cw=True)), id="ring"),
        feature(
            {"type": "MultiPolygon", "coordinates": [[sq(0.01)], [sq(0.02)]]},
            id="two",
            kind="inclusion",
            approach_m=50,
        ),
        feature({"type": "Point", "coordinates": [LON, LAT]}, id="c", radius_m=120.5),
        settings={"confirm_s": 20, "fast_interval_s": 10},
    )
    zs = zonefile.parse(doc)
    assert zs.warnings == []
    loaded, settings = zonetable.load_table(zonefile.compile_table(zs))
    assert [z.id for z in loaded] == ["ring", "two", "c"]
    assert settings["confirm_s"] == 20 and settings["fast_interval_s"] == 10
    ring, two, c = loaded
    assert ring.shape == fw_zones.POLYGONS and len(ring.xs) == 8
    assert two.kind == fw_zones.INCLUSION and two.approach_dm == 500
    assert c.shape == fw_zones.CIRCLE and c.radius_dm == 1205
    assert not ring.contains(round(LAT * 1e7), round(LON * 1e7))  # in the hole
    assert zs.zones[0].contains(LAT + 0.001, LON + 0.001)


def test_winding_is_fixed_with_a_warning_or_refused_when_strict():
    doc = fc(feature(poly(sq(cw=True), sq(h=0.0003))))
    zs = zonefile.parse(doc)
    assert len(zs.warnings) == 2
    assert "zone 'z': polygon outer ring is wound clockwise" in zs.warnings[0]
    assert "hole 1 is wound counter-clockwise" in zs.warnings[1]
    assert zs.zones[0].contains(LAT + 0.0005, LON)  # rewound: still the same area
    assert "outer ring is wound clockwise" in error(doc, strict=True)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"type": "Point"}, "expected a GeoJSON FeatureCollection"),
        (fc(), "no zone features"),
        (fc(feature(poly(sq()), id="")), "feature 0: needs an id"),
        (fc(feature(poly(sq()), kind="keep-out")), "zone 'z': kind must be"),
        (fc(feature(poly(sq())), feature(poly(sq(0.01)))), "duplicate zone id 'z'"),
        (
            fc(
                feature(
                    poly(
                        [
                            [LON, LAT],
                            [LON + 0.001, LAT + 0.001],
                            [LON + 0.001, LAT],
                            [LON, LAT + 0.001],
                            [LON, LAT],
                        ]
                    ),
                    id="bowtie",
                )
            ),
            "zone 'bowtie': polygon outer ring intersects itself",
        ),
        (fc(feature(poly(sq()[:-1]), id="open")), "zone 'open': polygon outer ring is not closed"),
        (fc(feature(poly(sq(), sq(0.01, h=0.0002, cw=True)))), "hole 1 lies outside"),
        (
            fc(feature(poly(sq(h=0.003), sq(h=0.001, cw=True), sq(0.0005, h=0.001, cw=True)))),
            "hole 2 crosses hole 1",
        ),
        (
            fc(feature({"type": "MultiPolygon", "coordinates": [[sq()], [sq(0.0005)]]})),
            "zone 'z': polygons 0 and 1 cross",
        ),
        (
            fc(feature({"type": "MultiPolygon", "coordinates": [[sq(h=0.003)], [sq()]]})),
            "polygons 0 and 1 overlap",
        ),
        (fc(feature({"type": "Point", "coordinates": [LON, LAT]})), "needs radius_m"),
        (fc(feature({"type": "LineString", "coordinates": [[LON, LAT]] * 2})), "geometry must"),
        (fc(feature(poly(sq()), tz="Europe/London")), "zone 'z': TZ 'Europe/London'"),
        (
            fc(feature(poly(sq()), schedule=[{"days": "Mon-Fri", "start": "7pm", "end": "07:00"}])),
            'schedule times are "HH:MM"',
        ),
        (fc(feature(poly(sq()), schedule=[{"days": "Funday"}])), "unknown day 'Funday'"),
        (fc(feature(poly(sq(180.5 - LON)))), "out of range"),
        (fc(feature(poly(sq()), approach_m=-1)), "approach_m must be 0..5000"),
        (fc(feature(poly(sq())), settings={"confirm_s": 9999}), "setting confirm_s must be"),
        (fc(feature(poly(sq())), settings={"bogus": 1}), "unknown setting 'bogus'"),
    ],
)
def test_errors_name_the_zone(doc, message):
    assert message in error(doc)


def test_limits():
    many = fc(*[feature(poly(sq(0.005 * k)), id="z%d" % k) for k in range(33)])
    assert "33 zones, at most 32" in error(many)
    star = []
    for i in range(1001):
        a = 6.283185307 * i / 1001
        r = 0.001 * (1 + 0.2 * (i % 2))
        star.append([LON + r * math.cos(a), LAT + r * math.sin(a)])
    star.append(list(star[0]))
    assert "1001 vertices, at most 1000" in error(fc(feature(poly(star), id="star")))
    wide = fc(feature(poly(sq(h=0.5)), id="county"))
    assert "zone 'county': larger than 40 km across" in error(wide)


def _ring(n, lat):
    turn = [6.283185307 * i / n for i in range(n)]
    pts = [[LON + 0.002 * math.cos(a), lat + 0.001 * math.sin(a)] for a in turn]
    return pts + [pts[0]]


def test_a_table_beyond_what_a_tag_holds_compiles_with_a_warning():
    fits = fc(*[feature(poly(_ring(400, LAT + 0.01 * k)), id="z%d" % k) for k in range(4)])
    assert zonefile.parse(fits).warnings == []  # 1,600 vertices: loads on the tag (README)
    big = fc(*[feature(poly(_ring(400, LAT + 0.01 * k)), id="z%d" % k) for k in range(6)])
    (w,) = zonefile.parse(big).warnings
    assert "2400 vertices in all" in w and "about 1600" in w


def test_schedules_compile_to_minutes_of_the_week():
    doc = fc(
        feature(
            {"type": "Point", "coordinates": [LON, LAT]},
            id="home",
            kind="inclusion",
            radius_m=50,
            schedule=[
                {"days": "Mon-Fri", "start": "19:00", "end": "07:00"},
                {"days": ["Sat", "sun"], "start": "21:00", "end": "24:00"},
            ],
            tz="AEST-10AEDT,M10.1.0,M4.1.0/3",
        )
    )
    zs = zonefile.parse(doc)
    z = zs.zones[0]
    assert z.curfew
    assert z.windows == sorted(
        [[d * 1440 + 19 * 60, 12 * 60] for d in range(5)]
        + [[5 * 1440 + 21 * 60, 180], [6 * 1440 + 21 * 60, 180]]
    )
    loaded, _ = zonetable.load_table(zonefile.compile_table(zs))
    assert loaded[0].rule.text == "AEST-10AEDT,M10.1.0,M4.1.0/3"
    # Friday 19:00 to Saturday 07:00 Sydney time (summer, UTC+11): Friday 2026-01-09
    fri_19 = 1767945600  # 2026-01-09 08:00 UTC
    assert z.active(fri_19) and not z.active(fri_19 - 60)
    assert z.active(fri_19 + 12 * 3600 - 60) and not z.active(fri_19 + 12 * 3600)


def test_wrap_around_sunday_midnight():
    zs = zonefile.parse(
        fc(
            feature(
                {"type": "Point", "coordinates": [LON, LAT]},
                radius_m=9,
                schedule=[{"days": "Sun", "start": "22:00", "end": "02:00"}],
            )
        )
    )
    assert zs.zones[0].windows == [[6 * 1440 + 22 * 60, 240]]


def emtag(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_command_line(tmp_path):
    src = tmp_path / "zones.geojson"
    src.write_text(json.dumps(fc(feature(poly(sq(cw=True)), id="victim"))))
    out = tmp_path / "zones.cbor"
    r = emtag("zones", "compile", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "1 zone, 4 vertices" in r.stdout and "victim: exclusion, 4-vertex polygons" in r.stdout
    assert "warning: zone 'victim': polygon outer ring is wound clockwise" in r.stderr
    r = emtag("zones", "show", str(out))
    assert r.returncode == 0 and "victim: exclusion, 4-vertex polygons" in r.stdout
    r = emtag("zones", "compile", str(src), "-o", str(out), "--strict")
    assert r.returncode == 2 and "zone 'victim'" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.cbor"
    bad.write_bytes(b"\x00\x01")
    r = emtag("zones", "show", str(bad))
    assert r.returncode == 2 and "not a zone table" in r.stderr
    r = emtag("zones", "compile", str(tmp_path / "none.geojson"), "-o", str(out))
    assert r.returncode == 2 and "cannot read zones" in r.stderr
