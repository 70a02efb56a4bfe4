"""`emtag crimes`: incidents in, answers out for eligible wearers only, every refused row
with its reason, every request in the audit log, evidence bundles that `emtag verify`
checks."""

import csv
import datetime
import json
import os
import shutil
import subprocess
import sys

import pytest
from crime_trails import T0, at, stream, upload

from emtag.cli import main as cli
from emtag.host.store import Store

HEADER = "id,crime_type,latitude,longitude,uncertainty_m,time_from,time_to"


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """A store with three tags for an hour from T0: A walks east along the street (a fix a
    minute, +-8 m), B stays 2 km north, C (never flagged) walks the same street as A."""
    d = tmp_path_factory.mktemp("crimes")
    st = Store(str(d / "store.sqlite"))
    tags = {}
    for name, seed, where in (
        ("A", 101, lambda i: at(1.4 * 60 * i, 0)),
        ("B", 102, lambda i: at(0, 2000)),
        ("C", 103, lambda i: at(1.4 * 60 * i, 3)),
    ):
        sg, items = stream(seed, [(T0 + 60 * i, *where(i), 8.0) for i in range(60)])
        tags[name] = upload(st, sg, items)
    st.close()
    return d, tags


@pytest.fixture
def db(town, tmp_path):
    """A fresh copy of the store with A and B flagged."""
    d, tags = town
    path = str(tmp_path / "store.sqlite")
    shutil.copy(d / "store.sqlite", path)
    for name in "AB":
        assert (
            cli.main(
                [
                    "crimes",
                    "eligible",
                    tags[name],
                    "--store",
                    path,
                    "--by",
                    "alice",
                    "--reason",
                    "risk assessment: reoffending more likely than not",
                ]
            )
            == 0
        )
    return path, tags


def incidents(tmp_path, *rows, header=HEADER):
    f = tmp_path / "incidents.csv"
    f.write_text("\n".join((header, *rows)) + "\n")
    return str(f)


def on_trail(id_="on-trail", ctype="burglary", east=1.4 * 60 * 10, north=0, u=20, t0=500, t1=700):
    lat, lon = at(east, north)
    return "%s,%s,%.7f,%.7f,%s,%s,%s" % (id_, ctype, lat, lon, u, iso(T0 + t0), iso(T0 + t1))


def hits(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def match(capsys, store, inc, out, *more):
    return run(
        capsys,
        "crimes",
        "match",
        "--store",
        store,
        "--incidents",
        inc,
        "-o",
        out,
        "--operator",
        "bob",
        *more,
    )


def test_on_trail_near_and_far_incidents_for_the_eligible_wearers_only(db, tmp_path, capsys):
    store, tags = db
    inc = incidents(
        tmp_path,
        on_trail(),
        on_trail("near", "robbery", east=1.4 * 60 * 10 + 30, north=200),
        on_trail("far", "robbery", east=3000, north=-3000, t0=500, t1=520),
    )
    out = str(tmp_path / "hits.csv")
    code, text, _ = match(capsys, store, inc, out)
    assert code == 0, text
    rows = hits(out)
    got = {(r["incident_id"], r["device"]): r for r in rows}
    assert set(got) == {("on-trail", tags["A"]), ("near", tags["A"])}  # C: not eligible
    placed = got[("on-trail", tags["A"])]
    assert placed["answer"] == "placed" and placed["rests_on_seqs"] == "12"
    near = got[("near", tags["A"])]
    assert near["answer"] == "could_have_been_there" and near["mode"] == "running"
    assert near["gap"] == "gap" and near["gap_s"] == "60"
    assert "1 not flagged" in text and "2 eligible" in text


def test_a_wearer_out_of_reach_is_answered_could_not_with_the_margin(db, tmp_path, capsys):
    store, tags = db
    policy = tmp_path / "on-foot.toml"
    policy.write_text('[speeds]\nassume = "running"\n')
    # 900 m from B, which stayed put all hour with a fix a minute
    inc = incidents(tmp_path, on_trail("b", east=0, north=2000 - 900, t0=600, t1=1200))
    out = str(tmp_path / "hits.csv")
    code, text, _ = match(capsys, store, inc, out, "--policy", str(policy))
    assert code == 0, text
    (row,) = [r for r in hits(out) if r["device"] == tags["B"]]
    assert row["answer"] == "could_not_have_been_there" and row["exculpatory"] == "yes"
    # 900 m less the scene's 20 m and the fix's conservative 2 x 8 + 50 m, less 30 s of
    # running at 25 km/h from either end of a one-minute gap: 606 m
    assert abs(float(row["margin_m"]) - (900 - 20 - 66 - 25 / 3.6 * 30)) < 2
    assert "EXCULPATORY" in row["explanation"].upper()


def test_every_bad_row_is_refused_with_its_reason_and_the_rest_go_on(db, tmp_path, capsys):
    store, _ = db
    lat, lon = at(0, 0)
    good = on_trail()
    rows = [
        good,
        "bad-lat,burglary,95.0,%.6f,20,%s,%s" % (lon, iso(T0), iso(T0 + 60)),
        "nan,burglary,nan,%.6f,20,%s,%s" % (lon, iso(T0), iso(T0 + 60)),
        "words,burglary,north,west,20,%s,%s" % (iso(T0), iso(T0 + 60)),
        "bad-time,burglary,%.6f,%.6f,20,yesterday,%s" % (lat, lon, iso(T0)),
        "reversed,burglary,%.6f,%.6f,20,%s,%s" % (lat, lon, iso(T0 + 60), iso(T0)),
        "too-long,burglary,%.6f,%.6f,20,%s,%s" % (lat, lon, iso(T0), iso(T0 + 13 * 3600)),
        "unknown,jaywalking,%.6f,%.6f,20,%s,%s" % (lat, lon, iso(T0), iso(T0 + 60)),
        "outside,anti-social behaviour,%.6f,%.6f,20,%s,%s" % (lat, lon, iso(T0), iso(T0 + 60)),
        "no-u,burglary,%.6f,%.6f,,%s,%s" % (lat, lon, iso(T0), iso(T0 + 60)),
        "short,burglary,%.6f" % lat,
    ]
    out = str(tmp_path / "hits.csv")
    code, text, _ = match(capsys, store, incidents(tmp_path, *rows), out)
    assert code == 0, text
    refused = {r["incident_id"]: r["explanation"] for r in hits(out) if r["answer"] == "refused"}
    expect = {
        "bad-lat": "out of range",
        "nan": "out of range",
        "words": "not numbers",
        "bad-time": "not ISO 8601",
        "reversed": "ends",
        "too-long": "longer than the policy",
        "unknown": "unknown crime type",
        "outside": "outside the policy",
        "no-u": "uncertainty",
        "short": "too few fields",
    }
    assert set(refused) == set(expect)
    for key, words in expect.items():
        assert words in refused[key], (key, refused[key])
    assert any(r["answer"] == "placed" for r in hits(out))
    assert "10 refused" in text and "1 matched" in text


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b'{"incidents": []}', "JSON"),
        (b"", "empty"),
        (HEADER.encode() + b"\n", "no rows"),
        (b"\xff\xfe\xfa not text", "UTF-8"),
    ],
)
def test_a_file_of_another_format_processes_nothing_and_exits_1(
    db, tmp_path, capsys, content, reason
):
    store, _ = db
    f = tmp_path / "incidents.csv"
    f.write_bytes(content)
    out = str(tmp_path / "hits.csv")
    code, text, _ = match(capsys, store, str(f), out)
    assert code == 1 and reason in text, text
    assert hits(out) == []


def test_a_file_without_a_needed_column_refuses_every_row(db, tmp_path, capsys):
    store, _ = db
    inc = incidents(
        tmp_path,
        "x,burglary,53.4,-2.2,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z",
        header="id,crime_type,latitude,longitude,time_from,time_to",
    )
    out = str(tmp_path / "hits.csv")
    code, _, _ = match(capsys, store, inc, out)
    (row,) = hits(out)
    assert code == 1 and "no column for uncertainty_m" in row["explanation"]


def test_police_uk_published_data_is_refused_as_unmatchable(db, tmp_path, capsys):
    store, _ = db
    header = (
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
        "LSOA name,Crime type,Last outcome category,Context"
    )
    row = (
        "ab12,2026-03,Greater Manchester Police,Greater Manchester Police,-2.2453,53.4808,"
        "On or near Park Street,E01005131,Manchester 054C,Burglary,Under investigation,"
    )
    out = str(tmp_path / "hits.csv")
    code, _, _ = match(capsys, store, incidents(tmp_path, row, header=header), out)
    (r,) = hits(out)
    assert code == 1 and r["incident_id"] == "ab12" and "police.uk" in r["explanation"]
    assert "month" in r["explanation"] and "snap point" in r["explanation"]


def test_local_times_are_read_in_the_policy_s_zone_widening_an_ambiguous_hour(tmp_path):
    from emtag.centre import crimes_incidents

    # 01:30 happens twice in London on 2026-10-25: the window takes both readings
    data = HEADER + "\nx,burglary,51.5,-0.1,10,2026-10-25T01:30:00,2026-10-25T01:30:00\n"
    (inc,), refused, problem = crimes_incidents.read(data.encode(), "Europe/London")
    assert not refused and problem is None
    assert inc.t_to - inc.t_from == 3600 and "ambiguous" in inc.note


def test_every_request_is_audited_and_an_altered_entry_is_found(db, tmp_path, capsys):
    store, _ = db
    inc = incidents(tmp_path, on_trail())
    out = str(tmp_path / "hits.csv")
    match(capsys, store, inc, out)
    f = tmp_path / "junk.csv"
    f.write_bytes(b"\x00\x01")
    match(capsys, store, str(f), out)  # refused entirely: audited all the same
    code, text, _ = run(capsys, "crimes", "audit", "--store", store, "--json")
    entries = json.loads(text)
    assert code == 0 and len(entries) == 2
    import hashlib

    with open(inc, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    first = entries[0]
    assert first["operator"] == "bob" and first["incidents_sha256"] == digest
    assert first["counts"]["answers"]["placed"] == 1 and first["policy"]["name"].startswith(
        "default"
    )
    assert entries[1]["counts"]["incidents_matched"] == 0
    st = Store(store)
    with st.db:
        st.db.execute("UPDATE crime_audit SET entry = replace(entry, 'bob', 'eve') WHERE id = 1")
    st.close()
    code, text, _ = run(capsys, "crimes", "audit", "--store", store)
    assert code == 1 and "ALTERED" in text


def test_a_cleared_or_lapsed_flag_stops_matching_and_is_counted(db, tmp_path, capsys):
    store, tags = db
    assert (
        cli.main(
            [
                "crimes",
                "eligible",
                tags["A"],
                "--store",
                store,
                "--by",
                "alice",
                "--clear",
                "--reason",
                "order ended",
            ]
        )
        == 0
    )
    out = str(tmp_path / "hits.csv")
    code, text, _ = match(capsys, store, incidents(tmp_path, on_trail()), out)
    assert code == 0 and [r for r in hits(out) if r["device"] == tags["A"]] == []
    assert "1 flag cleared" in text
    code, text, _ = run(capsys, "crimes", "eligible", "--store", store, "--list", "--history")
    assert "order ended" in text and "risk assessment" in text
    for args, words in (
        ([tags["A"], "--by", "alice"], "a reason is required"),
        (["zz", "--by", "alice", "--reason", "r"], "16 hex digits"),
        ([tags["A"], "--by", "alice", "--reason", "r", "--until", "2001-01-01"], "not in the"),
    ):
        code, _, err = run(capsys, "crimes", "eligible", "--store", store, *args)
        assert code == 2 and words in err, err


def test_each_answer_has_a_bundle_that_verify_checks_with_the_centre_key(
    db, tmp_path, capsys, monkeypatch
):
    store, tags = db
    keys = str(tmp_path / "keys")
    monkeypatch.setenv("EMTAG_KEYS", keys)
    assert cli.main(["keys", "new", "centre", "--role", "centre"]) == 0
    capsys.readouterr()
    inc = incidents(tmp_path, on_trail(), on_trail("near", east=1.4 * 60 * 10 + 30, north=200))
    out, bdir = str(tmp_path / "hits.csv"), str(tmp_path / "bundles")
    code, text, _ = match(capsys, store, inc, out, "--bundles", bdir, "--sign", "centre")
    assert code == 0, text
    rows = hits(out)
    assert len(rows) == 2 and all(r["bundle"].endswith(".zip") for r in rows)
    code, text, _ = run(capsys, "crimes", "audit", "--store", store, "--json")
    assert json.loads(text)[-1]["counts"]["bundles_written"] == 2
    pub = os.path.join(keys, "centre.pub.pem")
    for r in rows:
        zip_path = os.path.join(bdir, r["bundle"])
        code, vtext, _ = run(capsys, "verify", "--centre", pub, zip_path)
        assert code == 0 and "PASS" in vtext, vtext
        seqs = [int(s) for s in r["rests_on_seqs"].split(", ")]
        code, vtext, _ = run(capsys, "verify", "--json", zip_path)
        held = {m["seq"] for m in json.loads(vtext)["files"][0]["messages"]}
        assert set(seqs) <= held  # the records the answer rests on are in its bundle


def test_usage_errors_are_one_line_and_exit_2(db, tmp_path):
    store, _ = db
    bad = tmp_path / "bad.toml"
    bad.write_text("max_window_h = 'long'\n")
    fast = tmp_path / "fast.toml"
    fast.write_text("[speeds]\ndriving = 400\n")
    inc = incidents(tmp_path, on_trail())
    for args, words in (
        (("--store", str(tmp_path / "none.db"), "--operator", "x"), "no store"),
        (("--store", store), "--operator NAME is required"),
        (("--store", store, "--operator", "x", "--policy", str(bad)), "max_window_h"),
        (("--store", store, "--operator", "x", "--policy", str(fast)), "150 km/h"),
        (("--store", store, "--operator", "x", "--sign", "centre"), "--sign needs --bundles"),
    ):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "emtag.cli.main",
                "crimes",
                "match",
                "--incidents",
                inc,
                "-o",
                str(tmp_path / "h.csv"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, EMTAG_OPERATOR=""),
        )
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_incidents_before_the_retention_cutoff_are_refused(db, tmp_path, capsys):
    store, tags = db
    st = Store(store)
    st.delete_before(T0 + 1800, "30 days", "2026-04-01T00:00:00Z")
    st.close()
    inc = incidents(tmp_path, on_trail(), on_trail("later", east=1.4 * 60 * 40, t0=2350, t1=2450))
    out = str(tmp_path / "hits.csv")
    code, _, _ = match(capsys, store, inc, out)
    got = {r["incident_id"]: r for r in hits(out)}
    assert code == 0 and got["on-trail"]["answer"] == "refused"
    assert "retention" in got["on-trail"]["explanation"]
    assert got["later"]["answer"] == "placed" and got["later"]["device"] == tags["A"]
