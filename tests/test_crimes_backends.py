"""Crime mapping's store methods on both backends (SQLite with an R*Tree, PostgreSQL with a
GiST index): flags, the audit chain, the trail index, and the same answers from the same
trails and incidents."""

import datetime
import random

import pytest
from crime_trails import T0, at, insert, walk

from emtag.centre import crimes_policy, crimes_run
from emtag.host.store import open_store


def test_flags_and_the_audit_chain(st):
    st.crime_flag_set("a1" * 8, True, "risk assessment", "alice", T0)
    st.crime_flag_set("a1" * 8, False, "order ended", "alice", T0 + 60)
    st.crime_flag_set("b2" * 8, True, "court order", "bob", T0 + 120, until=T0 + 86400)
    latest = {f["device"]: f for f in st.crime_flags()}
    assert latest["a1" * 8]["eligible"] == 0 and latest["b2" * 8]["until"] == T0 + 86400
    assert [f["reason"] for f in st.crime_flags(history=True)] == [
        "risk assessment", "order ended", "court order"]  # fmt: skip
    first = st.crime_audit_append({"operator": "bob", "n": 1})
    second = st.crime_audit_append({"operator": "eve", "n": 2})
    rows = st.crime_audit_rows()
    assert [r[0] for r in rows] == [first[0], second[0]]
    assert rows[1][2] == rows[0][3] == first[1]  # each names the hash of the one before


@pytest.fixture
def pair(tmp_path, pg_server):
    """The same five trails in a SQLite and a PostgreSQL store, each indexed in two steps."""
    rng = random.Random(7)
    trails = {"%016x" % (k + 1): walk(rng, 300) for k in range(5)}
    stores = [open_store(str(tmp_path / "s.sqlite")), open_store(pg_server.new_database())]
    for s in stores:
        for k, (device, points) in enumerate(trails.items()):
            s.add_device(device, b"\x04" + bytes(64), "t", "2026-03-02T08:00:00.000Z")
            insert(s, device, points[:150])
            if k % 2:
                s.trail_index_refresh()
            insert(s, device, points[150:], 151)
            s.crime_flag_set(device, True, "test", "t", T0 - 86400)
        s.trail_index_refresh()
    yield stores, trails
    for s in stores:
        s.close()


def _tiles(s):
    return sorted(
        tuple(r)
        for r in s._x(
            "SELECT device, bucket, t_lo, t_hi, n, max_gap_s, max_acc_cm, lat_lo, lat_hi, "
            "lon_lo, lon_hi FROM trail_tiles"
        ).fetchall()
    )


def test_both_backends_index_the_same_tiles_and_give_the_same_answers(pair):
    (lite, pg), trails = pair
    assert _tiles(lite) == _tiles(pg) and lite.trail_extents() == pg.trail_extents()
    rng = random.Random(3)
    lines = ["id,crime_type,latitude,longitude,uncertainty_m,time_from,time_to"]
    for k in range(60):
        t, x, y, _ = rng.choice(rng.choice(list(trails.values())))
        lat, lon = at(x + rng.uniform(-400, 400), y + rng.uniform(-400, 400))
        iso = [datetime.datetime.fromtimestamp(v, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
               for v in (t - rng.uniform(0, 3600), t + rng.uniform(0, 3600))]  # fmt: skip
        a, b = int(t) - 600, int(t) + 600  # (the R*Tree's time axis is in 10 s steps)
        near = [
            sorted(r for r in s.trail_tiles_near(lat, lon, 500, a, b) if r[2] >= a and r[1] <= b)
            for s in (lite, pg)
        ]
        assert near[0] == near[1] and near[0]
        lines.append("i%d,burglary,%.7f,%.7f,%d,%s,%s" % (k, lat, lon, rng.choice((10, 50)), *iso))
    data = ("\n".join(lines) + "\n").encode()
    policy = crimes_policy.load()
    answers = []
    for s in (lite, pg):
        res = crimes_run.match(s, data, policy, now=T0)
        answers.append(
            sorted(
                (r.incident.id, r.device, r.answer.answer, r.answer.mode, r.answer.rests_on[:3])
                for r in res.rows
            )  # fmt: skip
        )
    assert answers[0] == answers[1] and len({a[2] for a in answers[0]}) >= 2
