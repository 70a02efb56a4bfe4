"""The centre's tables in the store (host/store/centre_tables.py) on both backends: users,
assignments, the audit log, notes, escalations, the centre's own alerts, victims and their
positions, the polling feed; and a store made before them gains them on open."""

import json
import sqlite3

from test_store_backends import D1, D2, load_sample

from emtag.host.store import Store, centre_ref, open_store, tag_ref
from emtag.host.store import sqlite as sqlite_backend

W = "2026-03-02T10:00:00Z"


def test_users_and_assignments(st):
    assert st.add_user("alice", "officer", "$argon2id$x", W)
    assert not st.add_user("alice", "admin", "$argon2id$y", W)  # taken: unchanged
    assert st.add_user("root", "admin", "$argon2id$z", W)
    u = st.user("alice")
    assert (u.name, u.role, u.password_hash, u.disabled) == (
        "alice",
        "officer",
        "$argon2id$x",
        False,
    )
    assert st.user("nobody") is None
    assert [u.name for u in st.users()] == ["alice", "root"]
    assert st.set_user("alice", password_hash="$argon2id$new", disabled=True)
    assert st.user("alice").password_hash == "$argon2id$new" and st.user("alice").disabled
    assert not st.set_user("nobody", role="admin")
    assert st.assign("alice", D1, W) and not st.assign("alice", D1, W)
    assert st.assign("alice", D2, W) and st.assign("root", D2, W)
    assert st.assignments("alice") == [("alice", D1), ("alice", D2)]
    assert st.unassign("alice", D2) and not st.unassign("alice", D2)
    assert st.assignments() == [("alice", D1), ("root", D2)]


def test_audit_log_newest_first_and_filtered(st):
    st.audit(W, "alice", "view_tag", D1, "tag page", "127.0.0.1")
    st.audit(W, "alice", "denied", D2, "not assigned", "127.0.0.1")
    st.audit(W, "root", "ack", D1, "seq 11", None)
    log = st.audit_log()
    assert [e.action for e in log] == ["ack", "denied", "view_tag"]
    assert [e.action for e in st.audit_log(user="alice")] == ["denied", "view_tag"]
    assert [e.user for e in st.audit_log(device=D1)] == ["root", "alice"]
    assert [e.device for e in st.audit_log(action="denied")] == [D2]
    assert len(st.audit_log(limit=1)) == 1


def test_notes_escalations_and_centre_alerts(st):
    load_sample(st)
    ref = tag_ref(D1, 11)
    st.add_alert_note(ref, "alice", W, "called the wearer")
    st.add_alert_note(ref, "root", W, "police informed")
    assert [n.note for n in st.alert_notes([ref, "x/1"])[ref]] == [
        "called the wearer",
        "police informed",
    ]
    assert st.escalate(ref, "centre", W, "unacknowledged after 15 min")
    assert not st.escalate(ref, "alice", W, "again")  # once
    assert st.escalations([ref])[ref].by == "centre"
    assert st.escalations([tag_ref(D1, 31)]) == {}
    i = st.add_centre_alert(D1, "victim_proximity", 1772443000, 1, 2, 300, json.dumps({"v": 1}), W)
    j = st.add_centre_alert(D1, "victim_proximity_clear", 1772443600, 1, 2, 300, "{}", W)
    assert [a.id for a in st.centre_alerts()] == [j, i]
    assert st.acknowledge_centre_alert(i, "alice", W, "seen")
    assert not st.acknowledge_centre_alert(i, "root", W, "twice")
    assert not st.acknowledge_centre_alert(999, "root", W)
    assert [a.id for a in st.centre_alerts(unacked_only=True)] == [j]
    assert st.centre_alert(i).acked_by == "alice" and st.centre_alert(999) is None
    assert st.centre_alerts(device=D2) == []
    assert centre_ref(i) == "centre/%d" % i


def test_victims_positions_and_state(st):
    assert st.add_victim("v1", "h" * 64, 400.0, [D1, D2], W)
    assert not st.add_victim("v1", "g" * 64, None, [], W)
    assert st.add_victim("v2", "g" * 64, None, [D2], W)
    assert [v.name for v in st.victims(D1)] == ["v1"]
    assert st.victims(D2)[0].devices == (D1, D2)
    assert st.victim_by_token("h" * 64).distance_m == 400.0
    assert st.victim_by_token("nope") is None
    assert st.set_victim_token("v1", "k" * 64) and st.victim_by_token("h" * 64) is None
    st.add_victim_positions("v1", [(100, 1, 2, 300), (200, 3, 4, 500)], W)
    assert st.victim_position("v1", 150).t == 100
    assert st.victim_position("v1", 150, after=True).t == 200
    assert st.victim_position("v1", 99) is None and st.victim_position("v2", 150) is None
    assert st.centre_get("cursor") is None
    st.centre_set("cursor", "5")
    st.centre_set("cursor", "7")
    assert st.centre_get("cursor") == "7"


def test_feed_gives_valid_fixes_and_alerts_in_store_order(st):
    assert st.feed(0) == [] and st.feed_head() == 0
    load_sample(st)
    rows = st.feed(0, limit=10000)
    assert {r.type for r in rows} == {1, 2}  # no restart, checkpoint or rejected record
    assert all(r.status == "valid" for r in rows)
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert len(rows) == 58 + 5
    after = st.feed(rows[9].id)
    assert after[0].id == rows[10].id and len(after) == len(rows) - 10
    assert st.feed_head() >= rows[-1].id


def test_a_store_from_before_the_centre_gains_its_tables(tmp_path):
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    for i, sql in enumerate(sqlite_backend.MIGRATIONS[:4]):
        db.executescript(sql)
        db.execute("PRAGMA user_version=%d" % (i + 1))
    db.commit()
    db.close()
    with open_store(path) as s:
        assert isinstance(s, Store)
        assert s.add_user("alice", "officer", "h", W) and s.users()[0].name == "alice"
