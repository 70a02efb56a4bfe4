"""`emtag zones compile` on hostile GeoJSON: a clear error naming the problem, never a
traceback, a silent change of meaning, or minutes of work before a limit is checked."""

import json
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.host import zonefile


def feature(props=None, geometry=None):
    p = {"id": "home", "kind": "inclusion"}
    p.update(props or {})
    g = geometry or {"type": "Point", "coordinates": [-2.2913, 53.4631]}
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": p,
                                                        "geometry": g}]}  # fmt: skip


CIRCLE = {"radius_m": 150}


@pytest.mark.parametrize(
    "doc, message",
    [
        (feature(dict(CIRCLE, schedule=[{"days": [], "start": "19:00", "end": "07:00"}])),
         "name no day"),
        (feature(dict(CIRCLE, schedule=[{"days": ["daily", []], "start": "19:00",
                                         "end": "07:00"}])), "must be text"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": [1],
                                                     "geometry": {}}]}, "must be an object"),
        (feature(CIRCLE, geometry=[1, 2]), "geometry must be an object"),
        (feature(CIRCLE, geometry={"type": "Point", "coordinates": [1.0, 10**4000]}),
         "a position is"),
        (feature(geometry={"type": "Polygon", "coordinates": [[[0, 0]] * 1_000_000]}),
         "more than 1000 vertices"),
        (feature(geometry={"type": "MultiPolygon", "coordinates": [[[[0, 0]] * 600]] * 3}),
         "more than 1000 vertices"),
    ],
    ids=["no days", "days not text", "properties list", "geometry list", "4000 digits",
         "1e6 vertices", "multipolygon"],  # fmt: skip
)
def test_hostile_zone_files_are_refused_clearly(doc, message):
    t0 = time.monotonic()
    with pytest.raises(zonefile.ZoneFileError, match=message):
        zonefile.parse(doc)
    assert time.monotonic() - t0 < 5  # refused before any geometry is computed


def test_an_empty_days_list_never_compiles_into_an_always_on_zone():
    ok = feature(dict(CIRCLE, schedule=[{"days": "Mon", "start": "19:00", "end": "07:00"}]))
    assert zonefile.parse(ok).zones[0].curfew  # with a day: a curfew
    with pytest.raises(zonefile.ZoneFileError):
        zonefile.parse(feature(dict(CIRCLE, schedule=[{"days": [], "start": "19:00",
                                                       "end": "07:00"}])))  # fmt: skip


def test_the_command_line_says_what_is_wrong(tmp_path):
    cases = {
        "deep": "[" * 100000 + "]" * 100000,
        "huge": json.dumps(feature(CIRCLE)).replace("53.4631", "5" * 4000),
    }
    for name, text in cases.items():
        p = tmp_path / (name + ".geojson")
        p.write_text(text)
        r = subprocess.run(
            [sys.executable, "-m", "emtag.cli.main", "zones", "compile", str(p), "-o",
             str(tmp_path / "z.cbor")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 2 and "Traceback" not in r.stderr, (name, r.stderr[-500:])
        assert r.stderr.startswith("emtag zones: error:"), name


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
              st.floats(allow_nan=False), st.text(max_size=8),
              st.sampled_from(["Feature", "FeatureCollection", "Point", "Polygon",
                               "MultiPolygon", "exclusion", "inclusion", "Mon-Fri", "19:00"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(["type", "features", "properties", "geometry",
                                         "coordinates", "id", "kind", "radius_m", "schedule",
                                         "days", "start", "end", "tz", "approach_m",
                                         "settings"]), inner, max_size=6),
    ),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_a_zone_table_or_a_clear_error(doc):
    try:
        zonefile.parse(doc)
    except zonefile.ZoneFileError:
        pass
