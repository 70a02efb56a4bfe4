"""The alert queue: the tags' alerts (signed by the tag) and the centre's own
(victim_proximity) as one list, with who acknowledged each, its notes and its escalation;
and the actions on it (acknowledge, note, escalate), each written to the audit log.

Order: unacknowledged escalated alerts first, then unacknowledged ones newest first, then
the most recently acknowledged."""

import datetime
import json
from typing import NamedTuple

from emtag.host.store import centre_ref, tag_ref

CLEARS = ("exclusion_clear", "inclusion_clear", "curfew_clear", "victim_proximity_clear")


class Item(NamedTuple):
    ref: str
    source: str  # "tag" (signed by the tag) or "centre"
    device: str
    num: int  # the tag's record seq, or the centre alert's id
    kind: str
    zone: str | None
    t: int | None
    lat_e7: int | None
    lon_e7: int | None
    acc_cm: int | None
    arrived: str  # when the centre had it (bridge time; the centre's for its own)
    proof: str  # "chain", "signature" (early: the chain follows) or "centre"
    acked_by: str | None
    acked_at: str | None
    ack_note: str | None
    escalation: object  # store Escalation or None
    notes: tuple
    detail: dict

    @property
    def is_clear(self):
        return self.kind in CLEARS


def now_iso():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _items(store, device, unacked_only, limit):
    out = []
    for a in store.alerts(device=device, unacked_only=unacked_only, limit=limit):
        proof = "signature" if a.status == "early" else "chain"
        out.append(
            Item(tag_ref(a.device, a.seq), "tag", a.device, a.seq, a.alert, a.zone, a.t,
                 a.lat_e7, a.lon_e7, a.acc_cm, a.received, proof, a.acked_by, a.acked_at,
                 a.note, None, (), {})
        )  # fmt: skip
    for c in store.centre_alerts(device=device, unacked_only=unacked_only, limit=limit):
        out.append(
            Item(centre_ref(c.id), "centre", c.device, c.id, c.kind, None, c.t, c.lat_e7,
                 c.lon_e7, c.acc_cm, c.raised, "centre", c.acked_by, c.acked_at, c.note, None,
                 (), json.loads(c.detail))
        )  # fmt: skip
    return out


def build(store, devices=None, limit=100, acked=20):
    """The queue for someone who may see these devices (None: all)."""
    scopes = [None] if devices is None else sorted(devices)
    open_, done = [], []
    for d in scopes:
        open_ += _items(store, d, True, limit)
        done += [i for i in _items(store, d, False, acked * 2) if i.acked_at]
    refs = [i.ref for i in open_ + done]
    esc = store.escalations(refs)
    notes = store.alert_notes(refs)

    def full(i):
        return i._replace(escalation=esc.get(i.ref), notes=tuple(notes.get(i.ref, ())))

    open_ = sorted(
        (full(i) for i in open_), key=lambda i: (i.escalation is None, -(i.t or 0), i.ref)
    )[:limit]
    done = sorted((full(i) for i in done), key=lambda i: i.acked_at, reverse=True)[:acked]
    return open_, done


def find(store, ref):
    """The queue item for a ref (DEVICE/SEQ or centre/ID); None if there is none."""
    head, _, num = ref.partition("/")
    if not num.isdigit() or len(num) > 18:
        return None
    if head == "centre":
        c = store.centre_alert(int(num))
        items = _items(store, c.device, False, None) if c else []
    else:
        items = [i for i in _items(store, head, False, None) if i.source == "tag"]
    item = next((i for i in items if i.ref == ref), None)
    if item is None:
        return None
    return item._replace(
        escalation=store.escalations([ref]).get(ref),
        notes=tuple(store.alert_notes([ref]).get(ref, ())),
    )


def acknowledge(store, item, user, note, client=None):
    """True if this acknowledged it (False: someone already had)."""
    when = now_iso()
    if item.source == "tag":
        done = store.acknowledge_alert(item.device, item.num, user, when, note)
    else:
        done = store.acknowledge_centre_alert(item.num, user, when, note)
    if done:
        store.audit(when, user, "ack", item.device, "%s %s" % (item.ref, item.kind), client)
    return done


def add_note(store, item, user, note, client=None):
    when = now_iso()
    store.add_alert_note(item.ref, user, when, note)
    store.audit(when, user, "note", item.device, "%s %s" % (item.ref, item.kind), client)


def escalate(store, item, user, reason, client=None):
    when = now_iso()
    done = store.escalate(item.ref, user, when, reason)
    if done:
        store.audit(when, user, "escalate", item.device, "%s: %s" % (item.ref, reason), client)
    return done


def _span(seconds):
    s = int(seconds)
    return "%d s" % s if s < 120 else "%d min" % (s // 60) if s < 7200 else "%.1f h" % (s / 3600)


def escalate_overdue(store, kinds, after_s, now=None):
    """The automatic rule: every unacknowledged alert of these kinds the centre has had for
    longer than after_s is escalated (once), by "centre". The escalated items."""
    now = now if now is not None else datetime.datetime.now(datetime.UTC).timestamp()
    open_, _ = build(store, None, limit=10_000, acked=0)
    out = []
    for i in open_:
        if i.kind not in kinds or i.escalation is not None:
            continue
        try:
            waited = now - parse_iso(i.arrived)
        except ValueError:
            continue
        if waited >= after_s:
            reason = "unacknowledged for %s (limit %s)" % (_span(waited), _span(after_s))
            if escalate(store, i, "centre", reason):
                out.append(i)
    return out
