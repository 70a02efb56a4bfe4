"""The centre's web app over HTTP on both store backends: sign-in (argon2 hashes, sessions,
the failed-login limit), roles and assignments (an officer's 403 is audited), bad input
refused with a clear message and nothing changed, acknowledgement, notes, escalation by hand
and by the rule, and a new alert reaching an open event stream without a reload."""

import http.client
import threading
import time

import pytest
from centreapp import Running, add_users
from test_store_backends import D1, D2, load_sample, row

from emtag.host.store import open_store


@pytest.fixture
def centre(store_url):
    with open_store(store_url) as st:
        load_sample(st)
    add_users(store_url, devices_for_olly=[D1])
    run = Running(store_url, escalate_after_s=3600)
    yield run, store_url
    run.stop()


def audit(store_url, **kw):
    with open_store(store_url) as st:
        return st.audit_log(**kw)


def test_sign_in_sessions_and_the_failed_login_limit(centre):
    run, url = centre
    c = run.client()
    r = c.get("/queue")
    assert r.status == 303 and r.headers["Location"].startswith("/login")
    assert c.get("/api/tags/%s/trail" % D1).status == 401
    assert c.login("olly", "wrong password!").status == 401
    assert c.login("nobody", "whatever-it-is").status == 401
    r = c.login("olly")
    assert r.status == 303 and r.headers["Location"] == "/queue"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/queue").status == 200
    assert c.post("/logout").status == 303
    assert c.get("/queue").status == 303  # the session is gone
    # five failures in a row lock the name: even the right password waits, with Retry-After
    bad = run.client()
    for _ in range(5):
        assert bad.login("pat", "not-the-password").status == 401
    r = bad.login("pat")
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in r.text and bad.cookie is None
    assert run.client().login("boss").status == 303  # another name is not locked
    actions = [e.action for e in audit(url, user="pat")]
    assert actions.count("login_failed") == 5 and "login_refused" in actions
    assert [e.action for e in audit(url, user="nobody")] == ["login_failed"]


def test_an_officer_sees_only_their_tags_and_a_refusal_is_audited(centre):
    run, url = centre
    c = run.client()
    c.login("olly")
    page = c.get("/queue").text
    assert D1 in page and D2 not in page
    assert c.get("/tags/%s" % D1).status == 200
    for path in ("/tags/%s" % D2, "/api/tags/%s/trail" % D2, "/api/tags/%s/heatmap" % D2,
                 "/tags/%s/weekly?week=2026-W10" % D2):  # fmt: skip
        r = c.get(path)
        assert r.status == 403, path
        assert "not assigned to you" in r.text
    denied = audit(url, user="olly", action="denied")
    assert len(denied) == 4 and {e.device for e in denied} == {D2}
    assert c.get("/audit").status == 403
    tags = c.get("/tags").text
    assert D1 in tags and D2 not in tags
    admin = run.client()
    admin.login("boss")
    assert D2 in admin.get("/tags").text and admin.get("/tags/%s" % D2).status == 200
    log = admin.get("/audit?user=olly").text
    assert "denied" in log and "view_tag" in log


def test_bad_input_gets_a_clear_error_and_changes_nothing(centre):
    run, url = centre
    c = run.client()
    c.login("boss")
    before = len(audit(url, limit=10000))
    r = c.get("/tags/ffffffffffffffff")
    assert r.status == 404 and "unknown device" in r.text
    r = c.get("/api/tags/%s/trail?from=yesterday" % D1)
    assert r.status == 400 and "from: 'yesterday' is not a time" in r.json()["error"]
    r = c.get("/api/tags/%s/trail?from=2026-03-02T10:00Z&to=2026-03-02T09:00Z" % D1)
    assert r.status == 400 and "after" in r.json()["error"]
    r = c.get("/api/tags/%s/trail?from=2026-01-01T00:00Z&to=2026-03-02T09:00Z" % D1)
    assert r.status == 400 and "31 days" in r.json()["error"]
    r = c.get("/tags/%s/weekly?week=2026-48" % D1)
    assert r.status == 400 and "ISO week" in r.text
    assert c.post("/alerts/%s/999/ack" % D1).status == 404
    # a POST without the session's CSRF token, or from another site, is refused
    r = c.post("/alerts/%s/11/ack" % D1, csrf=False)
    assert r.status == 403 and "security token" in r.text
    r = c.post("/alerts/%s/11/ack" % D1, headers={"Origin": "http://evil.example"})
    assert r.status == 403
    r = c.post("/alerts/%s/11/note" % D1, {"text": ""})
    assert r.status == 400 and "write the note" in r.text
    r = c.post("/alerts/%s/11/note" % D1, {"text": "x" * 2001})
    assert r.status == 400
    with open_store(url) as st:
        assert st.alerts(unacked_only=True) == st.alerts()  # nothing acknowledged
        assert st.alert_notes(["%s/11" % D1]) == {} and st.escalations() == {}
    after = audit(url, limit=10000)
    # only the refusals were written (the unknown device and the missing alert)
    assert {e.action for e in after[: len(after) - before]} == {"not_found"}


def test_acknowledge_note_and_escalate(centre):
    run, url = centre
    c = run.client()
    c.login("olly")
    ref = "%s/11" % D1
    assert c.post("/alerts/%s/note" % ref, {"text": "phoned the wearer"}).status == 303
    assert c.post("/alerts/%s/escalate" % ref, {"text": "no answer"}).status == 303
    assert c.post("/alerts/%s/escalate" % ref, {"text": "again"}).status == 409
    assert c.post("/alerts/%s/ack" % ref, {"text": "police attended"}).status == 303
    r = c.post("/alerts/%s/ack" % ref, {"text": "twice"})
    assert r.status == 409 and "already acknowledged by olly" in r.text
    with open_store(url) as st:
        (a,) = [a for a in st.alerts(device=D1) if a.seq == 11]
        assert (a.acked_by, a.note) == ("olly", "police attended")
        assert st.escalations([ref])[ref].by == "olly"
        assert [n.note for n in st.alert_notes([ref])[ref]] == ["phoned the wearer"]
    assert [e.action for e in audit(url, user="olly")][:3] == ["ack", "escalate", "note"]
    page = c.get("/queue").text
    assert "police attended" in page.split("Recently acknowledged")[1]


def test_an_unacknowledged_breach_escalates_after_the_configured_time(store_url):
    with open_store(store_url) as st:
        load_sample(st)
        st.acknowledge_alert(D1, 31, "boss", "2026-03-02T09:30:00Z")  # the curfew breach
    add_users(store_url)
    run = Running(store_url, escalate_after_s=1)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open_store(store_url) as st:
                esc = st.escalations()
            if esc:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        with open_store(store_url) as st:
            esc = st.escalations()
        # the exclusion breach only: the clear and battery_low are no breaches, the curfew
        # breach was acknowledged
        assert list(esc) == ["%s/11" % D1] and esc["%s/11" % D1].by == "centre"
        assert "unacknowledged for" in esc["%s/11" % D1].reason
    finally:
        run.stop()


def _read_events(run, client, got, stop):
    c = http.client.HTTPConnection(run.host, run.port, timeout=30)
    c.request("GET", "/events", headers={"Cookie": client.cookie})
    r = c.getresponse()
    got.append(("status", str(r.status)))
    while not stop.is_set():
        line = r.fp.readline()
        if not line:
            break
        got.append(("line", line.decode().strip()))
    c.close()


def test_a_new_alert_reaches_an_open_event_stream(centre):
    run, url = centre
    streams = {}
    for name in ("olly", "boss"):
        c = run.client()
        c.login(name)
        got, stop = [], threading.Event()
        threading.Thread(target=_read_events, args=(run, c, got, stop), daemon=True).start()
        streams[name] = (got, stop)
    time.sleep(0.5)
    with open_store(url) as st:
        st.add_records([row(D1, 100, 1772450000, kind=2, alert="strap_tamper"),
                        row(D2, 100, 1772450000, kind=2, alert="case_tamper")])  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(
        '"case_tamper"' in text for _, text in streams["boss"][0]) == 0:  # fmt: skip
        time.sleep(0.05)
    for _, stop in streams.values():
        stop.set()
    olly = [t for k, t in streams["olly"][0] if k == "line"]
    boss = [t for k, t in streams["boss"][0] if k == "line"]
    assert ("status", "200") in streams["olly"][0]
    assert any('"strap_tamper"' in t for t in olly) and not any("case_tamper" in t for t in olly)
    assert any('"strap_tamper"' in t for t in boss) and any('"case_tamper"' in t for t in boss)
