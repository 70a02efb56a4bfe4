"""Victim proximity (bilateral) end to end: a simulated tag walks its street
(examples/exclusion-breach.toml on the real firmware) while a simulated victim's phone walks
across it (examples/routes/victim-crosses-wearer.geojson, tools/victim_phone.py) and posts
to the centre's endpoint. One victim_proximity as they meet and one clear as they part,
whichever arrives first (the phone's reports or the tag's records); none for the same walk
half an hour later; the phone's bad input refused with nothing stored; and the phone learns
nothing of the wearer. Both store backends."""

import json
import os
import sqlite3
import urllib.error

import pytest
from centreapp import Running, add_users

from emtag.centre import proximity
from emtag.centre.web.victimapi import token_hash
from emtag.host.store import open_store
from emtag.host.store.base import RECORD_COLUMNS
from emtag.tools import victim_phone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUTE = os.path.join(REPO, "examples", "routes", "victim-crosses-wearer.geojson")
START = 1772441850  # 2026-03-02T08:57:30Z: the victim reaches the street as the wearer passes
TOKEN = "victim-phone-token-0123456789abcdef"
TEN_YEARS = 10 * 365 * 86400


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """The simulated tag's records (the scenario run once for the module)."""
    from emtag.simulator import scenario, simulate

    out = tmp_path_factory.mktemp("walk")
    sc = scenario.load(os.path.join(REPO, "examples", "exclusion-breach.toml"))
    result = simulate.simulate(sc, str(out), "cpython")
    db = sqlite3.connect(out / "store.sqlite")
    dev = db.execute("SELECT device, public_key, firmware, first_seen FROM devices").fetchone()
    rows = [dict(zip(RECORD_COLUMNS, r, strict=True)) for r in db.execute(
        "SELECT %s FROM records ORDER BY id" % ",".join(RECORD_COLUMNS))]  # fmt: skip
    db.close()
    assert result["device"] == dev[0]
    return dev, rows


def _store(store_url, walk, with_records=True):
    dev, rows = walk
    with open_store(store_url) as st:
        st.add_device(dev[0], bytes(dev[1]), dev[2], dev[3])
        if with_records:
            st.add_records(rows)
        st.add_victim("v1", token_hash(TOKEN), 100.0, [dev[0]], "2026-03-02T08:00:00Z")
    add_users(store_url)
    return dev[0]


def _centre(store_url):
    return Running(store_url, accept_age_s=TEN_YEARS, escalate_after_s=3600)


def _proximity_alerts(store_url, device):
    with open_store(store_url) as st:
        return sorted(st.centre_alerts(device=device), key=lambda a: a.t)


def _check_episode(alerts):
    kinds = [a.kind for a in alerts]
    assert kinds == [proximity.RAISE, proximity.CLEAR], kinds
    raised, cleared = (json.loads(a.detail) for a in alerts)
    assert raised["victim"] == "v1" and raised["closest_m"] <= 100 < raised["farthest_m"]
    assert cleared["closest_m"] > 200
    # they meet where the wearer crosses lon -2.2950, about 400 s into the walk
    assert 1772442000 + 300 <= alerts[0].t <= 1772442000 + 480
    assert alerts[0].t < alerts[1].t <= alerts[0].t + 600
    assert "lat" not in raised and "victim_lat" not in raised  # no victim position in it
    return alerts[0].t


def _poll(fn, timeout=20.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    return fn()


def test_the_phone_reports_after_the_tags_records(store_url, walk):
    device = _store(store_url, walk)
    run = _centre(store_url)
    try:
        items = victim_phone.positions(ROUTE, START, every_s=20, acc_m=15, seed=1)
        assert victim_phone.post(run.url, TOKEN, items) == len(items)
        _check_episode(_proximity_alerts(store_url, device))
        # again: the same reports change nothing (the episode only moves forward)
        victim_phone.post(run.url, TOKEN, items)
        assert len(_proximity_alerts(store_url, device)) == 2
    finally:
        run.stop()


def test_the_tags_records_arrive_after_the_phone_reports(store_url, walk):
    device = _store(store_url, walk, with_records=False)
    run = _centre(store_url)
    try:
        items = victim_phone.positions(ROUTE, START, every_s=20, acc_m=15, seed=1)
        victim_phone.post(run.url, TOKEN, items)
        assert _proximity_alerts(store_url, device) == []
        _, rows = walk
        with open_store(store_url) as st:  # the bridge stores the tag's upload, batch by batch
            for i in range(0, len(rows), 8):
                st.add_records(rows[i : i + 8])
        alerts = _poll(lambda: len(_proximity_alerts(store_url, device)) >= 2
                       and _proximity_alerts(store_url, device))  # fmt: skip
        _check_episode(alerts)
    finally:
        run.stop()


def test_the_same_walk_half_an_hour_later_raises_nothing(store_url, walk):
    device = _store(store_url, walk)
    run = _centre(store_url)
    try:
        items = victim_phone.positions(ROUTE, START + 1800, every_s=20, acc_m=15, seed=1)
        victim_phone.post(run.url, TOKEN, items)
        assert _proximity_alerts(store_url, device) == []
    finally:
        run.stop()


def test_the_phones_bad_input_is_refused_and_stores_nothing(store_url, walk):
    _store(store_url, walk, with_records=False)
    run = _centre(store_url)
    c = run.client()

    def send(body, token=TOKEN, ctype="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return c.request("POST", "/api/victim/positions", raw,
                         {"Authorization": "Bearer " + token, "Content-Type": ctype})  # fmt: skip

    good = {"t": START, "lat": 53.4631, "lon": -2.295, "acc_m": 10}
    try:
        assert send({"positions": [good]}, token="wrong-token-wrong-token").status == 401
        r = send(b"{not json")
        assert r.status == 400 and "not JSON" in r.json()["error"]
        r = send({"positions": [good, dict(good, lat=91)]})
        assert r.status == 400 and "positions[1].lat" in r.json()["error"]
        r = send({"positions": [dict(good, t="2026-13-45")]})
        assert r.status == 400 and "positions[0].t" in r.json()["error"]
        r = send({"positions": [dict(good, t=4000000000)]})
        assert r.status == 400 and "future" in r.json()["error"]
        assert send({"positions": [good] * 1001}).status == 400
        assert send({"positions": [dict(good, acc_m=float("nan"))]}).status == 400
        assert send({"positions": [good]}, ctype="text/plain").status == 415
        with open_store(store_url) as st:
            assert st.victim_position("v1", START + 10) is None  # nothing of the batches
        r = send({"positions": [good]})
        assert r.status == 200 and r.json() == {"stored": 1}  # the count, nothing else
        # bad tokens from one address are limited
        codes = [send({"positions": [good]}, token="x" * 30).status for _ in range(20)]
        assert codes[-1] == 429 and 401 in codes
    finally:
        run.stop()
    with open_store(store_url) as st:
        assert any(e.action == "phone_refused" for e in st.audit_log())


def test_a_victim_without_a_token_cannot_post(store_url, walk):
    _store(store_url, walk, with_records=False)
    run = _centre(store_url)
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            victim_phone.post(run.url, "", [{"t": START, "lat": 53, "lon": -2, "acc_m": 5}])
        assert e.value.code == 401
    finally:
        run.stop()
