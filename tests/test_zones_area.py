"""Zone-file mistakes that every geometric check lets through: longitude and latitude
swapped, a zone far from the deployment, a misspelled property (docs/zones.md)."""

import json
import os
import re

import pytest

from emtag.cli import main as cli
from emtag.firmware import zonetable
from emtag.host import zonearea, zonefile

HOME = [-2.2913, 53.4631]  # Manchester, [lon, lat] as GeoJSON wants
WORK = [-2.2453, 53.4808]
GYM = [-2.2301, 53.4700]
DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "zones.md")


def circle(zid, pos, **props):
    p = {"id": zid, "kind": "exclusion", "radius_m": 100}
    p.update(props)
    return {"type": "Feature", "properties": p, "geometry": {"type": "Point", "coordinates": pos}}


def write(tmp_path, features, **members):
    doc = {"type": "FeatureCollection", "features": features}
    doc.update(members)
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_swapped_zone_among_others_is_refused_with_the_likely_reason(tmp_path):
    path = write(tmp_path, [circle("home", HOME), circle("work", WORK), circle("gym", GYM[::-1])])
    with pytest.raises(zonefile.ZoneFileError) as e:
        zonefile.load(path)
    msg = str(e.value)
    assert "'gym'" in msg and "'home'" not in msg and "'work'" not in msg
    assert "swapped" in msg and "km from the file's other zones" in msg


def test_zones_in_one_town_pass_and_a_lone_zone_needs_an_area_to_be_checked(tmp_path):
    assert len(zonefile.load(write(tmp_path, [circle("home", HOME), circle("w", WORK)]))) == 2
    lone = write(tmp_path, [circle("home", HOME[::-1])])
    assert len(zonefile.load(lone)) == 1  # nothing to compare it with
    with pytest.raises(zonefile.ZoneFileError, match="outside the deployment area.*swapped"):
        zonefile.load(lone, area="GB")


def test_the_area_comes_from_the_command_line_the_environment_or_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, [circle("home", HOME)], area="US")
    with pytest.raises(zonefile.ZoneFileError, match='the file\'s "area"'):
        zonefile.load(path)
    monkeypatch.setenv("EMTAG_AREA", "GB")
    assert len(zonefile.load(path)) == 1  # the environment wins over the file
    with pytest.raises(zonefile.ZoneFileError, match="--area"):
        zonefile.load(path, area="40,-80,45,-70")  # the command line wins over both


def test_allow_outside_compiles_with_a_warning(tmp_path):
    zs = zonefile.load(write(tmp_path, [circle("home", HOME)]), area="US", allow_outside=True)
    assert any("outside the deployment area" in w for w in zs.warnings)


@pytest.mark.parametrize("bad", ["GBR", "1,2,3", "60,0,50,1", "a,b,c,d", "0,0,1,nan"])
def test_a_bad_area_is_refused(bad):
    with pytest.raises(zonearea.AreaError):
        zonearea.parse_area(bad)


def test_a_misspelled_property_is_refused_by_name(tmp_path):
    path = write(tmp_path, [circle("home", HOME, aproach_m=300)])
    with pytest.raises(zonefile.ZoneFileError, match="'aproach_m'.*did you mean 'approach_m'"):
        zonefile.load(path)
    ok = write(tmp_path, [circle("home", HOME, name="victim's home", description="ref 123")])
    assert zonefile.load(ok).zones[0].id == "home"


def test_the_command_line_refuses_and_allows(tmp_path, capsys):
    path = write(tmp_path, [circle("home", HOME), circle("work", WORK), circle("gym", GYM[::-1])])
    out = str(tmp_path / "z.cbor")
    assert cli.main(["zones", "compile", path, "-o", out]) == 2
    assert "swapped" in capsys.readouterr().err and not os.path.exists(out)
    assert cli.main(["zones", "compile", path, "-o", out, "--allow-outside"]) == 0
    assert "warning:" in capsys.readouterr().err and os.path.exists(out)


def test_docs_name_every_setting_and_property():
    with open(DOCS) as f:
        text = f.read()
    documented = set(re.findall(r"^\| `([a-z_0-9]+)`", text, re.M))
    assert set(zonetable.SETTINGS) <= documented, set(zonetable.SETTINGS) - documented
    assert set(zonefile.PROPERTIES) <= documented | {"name", "description"}
    for name, (default, lo, hi) in zonetable.SETTINGS.items():
        row = re.search(r"^\| `%s` \| (\d+) \| (\d+)-(\d+) \|" % name, text, re.M)
        assert row and tuple(map(int, row.groups())) == (default, lo, hi), name
