"""`emtag where` and centre/where.py on both store backends: the position at T with an
uncertainty that holds the wearer's true position and grows with the gap and the speed,
"no data" with its reason, the records the answer rests on (an export of them verifies),
and clear errors that change nothing."""

import json
import math

import cbor2
import pytest
from greet import greet
from sftag import T0, Tag
from test_store_backends import D1, row

from emtag.centre.where import where
from emtag.cli.main import main as cli_main
from emtag.host import bridge, geo
from emtag.host.store import open_store
from emtag.protocol import frame
from emtag.protocol import messages as m

LAT0, LON0 = 534631000, -22913000
STEP_E7 = 90  # ~10 m north per minute: walking at 0.17 m/s


def walk(s, gaps=()):
    """D1 walks north, a fix a minute for two hours, with gaps (first, last index) left out;
    index 70 is a restart and 90 a checkpoint (no position)."""
    s.add_device(D1, b"\x04" + b"1" * 64, "fw", "x")
    rows = []
    for i in range(120):
        kind = 3 if i == 70 else 4 if i == 90 else 1
        if kind == 1 and any(a <= i <= b for a, b in gaps):
            continue
        rows.append(row(D1, i + 1, T0 + 60 * i, kind=kind, lat=LAT0 + STEP_E7 * i, acc=800))
    s.add_records(rows)


def test_at_a_fix_and_between_two(st):
    walk(st)
    a = where(st, D1, T0 + 600)
    assert a.method == "fix" and a.lat_e7 == LAT0 + 10 * STEP_E7 and a.radius_m == 8.0
    a = where(st, D1, T0 + 630)
    assert a.method == "interpolated" and a.gap_s == 60
    assert a.lat_e7 == LAT0 + round(10.5 * STEP_E7)
    # the true position (straight walk) is inside; the radius is the one the docstring says
    step = geo.distance_m(LAT0, LON0, LAT0 + STEP_E7, LON0)
    assert a.radius_m == pytest.approx(8.0 + 1.5 * 30 + step / 2, abs=0.01)
    assert [a.before.seq, a.after.seq] == [11, 12] and a.seqs == (11, 12)
    assert a.sealed_by == (12,)  # the sample's rows each seal themselves


def test_uncertainty_grows_with_gap_and_speed(st):
    walk(st, gaps=[(20, 29)])  # ten minutes without a fix
    near = where(st, D1, T0 + 60 * 15 + 30)
    far = where(st, D1, T0 + 60 * 24 + 30)
    assert far.gap_s == 660 and far.radius_m > 9 * near.radius_m
    fast = where(st, D1, T0 + 60 * 24 + 30, speed_mps=10)
    assert fast.radius_m > far.radius_m + 8.5 * 300
    # the true position (interpolated along the walk) lies within the radius
    true_lat = LAT0 + STEP_E7 * 24.5
    assert geo.distance_m(true_lat, LON0, far.lat_e7, far.lon_e7) <= far.radius_m


def test_a_faster_wearer_than_assumed_widens_the_circle(st):
    st.add_device(D1, b"\x04" + b"1" * 64, "fw", "x")
    # 2 km in 100 s: 20 m/s, a car, though 1.5 m/s is assumed
    st.add_records([row(D1, 1, T0, lat=LAT0), row(D1, 2, T0 + 100, lat=LAT0 + 180000)])
    a = where(st, D1, T0 + 50)
    assert a.implied_mps == pytest.approx(20.0, rel=0.01) and a.speed_mps == a.implied_mps
    # 20 m/s for 50 s from either fix, plus the half-way distance back to it
    assert a.radius_m == pytest.approx(5 + 20 * 50 + 1000, rel=0.01)


def test_no_data_says_why(st):
    walk(st, gaps=[(60, 75), (85, 105)])
    off = where(st, D1, T0 + 60 * 66, max_gap_s=300)  # a restart (index 70) ends the gap
    assert not off.found and off.reason.reason == "tag off" and 71 in off.seqs
    nofix = where(st, D1, T0 + 60 * 95, max_gap_s=300)  # only a checkpoint (index 90)
    assert not nofix.found and nofix.reason.reason == "no fix" and 91 in nofix.seqs
    # within max_gap there is a position, and the gap's reason with it
    wide = where(st, D1, T0 + 60 * 95)
    assert wide.found and wide.reason.reason == "no fix" and wide.radius_m > 1.5 * 300
    later = where(st, D1, T0 + 86400)
    assert not later.found and later.reason.reason == "link down"
    assert later.reason.seqs == (120,)
    first = where(st, D1, T0 - 7200)
    assert not first.found and "first position" in first.reason.detail
    # within max_gap of the last fix: a position from it, with its radius grown
    last = where(st, D1, T0 + 60 * 119 + 600)
    assert last.method == "last fix" and last.radius_m == pytest.approx(8 + 1.5 * 600)


def _fill_from_a_real_tag(path):
    tag = Tag(seed=31)
    tag.add(50, alert_every=30)
    with open_store(path) as st:
        s = bridge.Session(st, lambda *a, **k: None, lambda: "2026-03-02T12:00:00.000Z")
        greet(s, tag.signer, tag.hello)
        items = [w for _, w in tag.log.read_from(1, 200)]
        for i in range(0, len(items), 8):
            s.receive(frame.encode(cbor2.dumps([m.RECORDS, items[i : i + 8]])))
    return tag


def test_the_command_and_its_evidence(tmp_path, capsys):
    db = str(tmp_path / "s.sqlite")
    tag = _fill_from_a_real_tag(db)
    at = "2026-03-02T09:20:30Z"  # sftag: a fix a minute from 09:01
    assert cli_main(["where", "--store", db, "--device", tag.device[:5], "--at", at, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["found"] and doc["method"] == "interpolated" and doc["gap_s"] == 60
    assert doc["before"]["t"] == "2026-03-02T09:20:00Z" and doc["after"]["dt_s"] == 30
    assert math.isfinite(doc["position"]["radius_m"]) and doc["records"]["sealed_by"]
    # the evidence command it prints writes a bundle that verifies and holds those records
    argv = doc["evidence"].split()[1:]
    argv[argv.index("-o") + 1] = str(tmp_path / "ev.zip")
    assert cli_main(argv) == 0
    assert cli_main(["verify", str(tmp_path / "ev.zip")]) == 0
    import zipfile

    manifest = json.loads(zipfile.ZipFile(tmp_path / "ev.zip").read("manifest.json"))
    assert manifest["first_seq"] <= min(doc["records"]["seqs"])
    assert manifest["last_seq"] >= max(doc["records"]["sealed_by"])
    capsys.readouterr()
    assert cli_main(["where", "--store", db, "--device", tag.device, "--at", "2026-03-05"]) == 1
    out = capsys.readouterr().out
    assert "no data" in out and "link down" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--at", "yesterday"], "not a time"),
        (["--at", "2026-02-30T10:00:00"], "not a time"),
        (["--at", "1e400"], "not a time"),
        (["--at", "5"], "outside 2000..2100"),
        (["--device", "0123"], "not in"),
        (["--device", "xyz"], "not a hex device id"),
        (["--speed", "-1"], "--speed"),
        (["--store", "NOSTORE"], "no store at"),
        (["--store", "NOTEMTAG"], "not an emtag store"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(tmp_path, capsys, args, message):
    import sqlite3

    db = tmp_path / "s.sqlite"
    with open_store(str(db)) as st:
        walk(st)
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE x(y)")
    c.commit()
    c.close()
    before = db.read_bytes(), other.read_bytes()
    base = {"--store": str(db), "--device": D1, "--at": str(T0 + 60)}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    base["--store"] = {"NOSTORE": str(tmp_path / "none.sqlite"), "NOTEMTAG": str(other)}.get(
        base["--store"], base["--store"]
    )
    argv = ["where"] + [x for kv in base.items() for x in kv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (db.read_bytes(), other.read_bytes()) == before
    assert not (tmp_path / "none.sqlite").exists()
