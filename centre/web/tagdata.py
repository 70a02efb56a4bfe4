"""A tag's data: the list of tags a user may see, a tag's page (status, last position,
battery, open breaches, its alerts), its trail and heatmap for any window (JSON for the
page's map) and its weekly overview (emtag report weekly's page). Every look is written to
the audit log, and so is every refusal."""

import datetime
import re

from emtag.centre import alertqueue, report
from emtag.centre import heatmap as hm
from emtag.centre.web import access, http
from emtag.host.store.base import BATTERY_ALERTS, BREACH_CLEARS

MAX_WINDOW_S = 31 * 86400
MAX_POINTS = 5000  # a longer trail is thinned evenly (alerts always kept) and says so
T_MIN, T_MAX = 946684800, 4102444800  # 2000-01-01 .. 2100-01-01
WEEK = re.compile(r"\d{4}-W\d{2}\Z")


def parse_time(text, what):
    """Unix seconds from ISO 8601 (no zone: UTC) or Unix seconds; a 400 naming the field."""
    text = (text or "").strip()
    t = None
    if re.fullmatch(r"\d{9,11}", text):
        t = int(text)
    elif text and len(text) <= 40:
        try:
            d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.UTC)
            t = int(d.timestamp())
        except ValueError:
            pass
    if t is None:
        raise http.HttpError(400, "%s: %r is not a time (ISO 8601 such as 2026-03-02T09:00Z, "
                                  "or Unix seconds)" % (what, text[:40]))  # fmt: skip
    if not T_MIN <= t <= T_MAX:
        raise http.HttpError(400, "%s: %s is outside 2000..2100" % (what, text[:40]))
    return t


def window(req, default_end):
    """(t_from, t_to) from ?from=&to=, by default the 24 hours up to default_end."""
    t_to = parse_time(req.arg("to"), "to") if req.arg("to") else default_end
    t_from = parse_time(req.arg("from"), "from") if req.arg("from") else t_to - 86400
    if t_to <= t_from:
        raise http.HttpError(400, "to must be after from")
    if t_to - t_from > MAX_WINDOW_S:
        raise http.HttpError(400, "a window of at most 31 days")
    return t_from, t_to


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(st, device):
    """What the tag page's status box shows."""
    alerts = st.alerts(device=device)
    newest: dict = {}
    for a in sorted(alerts, key=lambda a: a.seq):
        newest[(a.alert, a.zone)] = a
    open_ = [
        a for (kind, zone), a in newest.items()
        if kind in BREACH_CLEARS and newest.get((BREACH_CLEARS[kind], zone), a).seq <= a.seq
    ]  # fmt: skip
    battery = max((a for a in alerts if a.alert in BATTERY_ALERTS), key=lambda a: a.seq,
                  default=None)  # fmt: skip
    dev = next((d for d in st.devices() if d.device == device), None)
    return {
        "device": device,
        "firmware": dev.firmware if dev else None,
        "first_seen": dev.first_seen if dev else None,
        "last_record": st.newest_record(device),
        "last_fix": st.fix_before(device, T_MAX),
        "battery": battery,
        "open_breaches": sorted(open_, key=lambda a: a.seq),
        "unacked": sum(1 for a in alerts if a.acked_at is None)
        + len(st.centre_alerts(device=device, unacked_only=True)),
        "victims": len(st.victims(device)),
        "officers": [u for u, d in st.assignments() if d == device],
    }


def tag_list(app, req):
    with app.pool.get() as st:
        allowed = access.visible_devices(st, req.session)
        rows = [s for s in st.device_status() if allowed is None or s.device in allowed]
        st.audit(alertqueue.now_iso(), req.session.user, "view_tags", None,
                 "%d tags" % len(rows), req.client)  # fmt: skip
    return app.render("tags.html", req, rows=rows)


def tag_page(app, req, device):
    with app.pool.get() as st:
        device = access.require_device(app, req, st, device, "view_tag")
        s = status(st, device)
        end = (s["last_fix"].t + 1) if s["last_fix"] else int(datetime.datetime.now().timestamp())
        t_from, t_to = window(req, end)
        open_, done = alertqueue.build(st, {device}, limit=50, acked=20)
        st.audit(alertqueue.now_iso(), req.session.user, "view_tag", device,
                 "status and alerts", req.client)  # fmt: skip
    week = datetime.datetime.fromtimestamp(t_to - 1, datetime.UTC).strftime("%G-W%V")
    return app.render("tag.html", req, s=s, open=open_, done=done, t_from=iso(t_from),
                      t_to=iso(t_to), week=week)  # fmt: skip


def _thin(fixes, alert_seqs):
    if len(fixes) <= MAX_POINTS:
        return fixes, 1
    step = -(-len(fixes) // MAX_POINTS)
    return [f for i, f in enumerate(fixes) if i % step == 0 or f.seq in alert_seqs], step


def trail(app, req, device):
    with app.pool.get() as st:
        device = access.require_device(app, req, st, device, "view_trail")
        last = st.fix_before(device, T_MAX)
        t_from, t_to = window(req, last.t + 1 if last else T_MAX)
        fixes = st.fixes(device, t_from, t_to)
        alerts = st.alerts(device=device, t_from=t_from, t_to=t_to)
        st.audit(alertqueue.now_iso(), req.session.user, "view_trail", device,
                 "%s..%s" % (iso(t_from), iso(t_to)), req.client)  # fmt: skip
    shown, step = _thin(fixes, {a.seq for a in alerts})
    return http.json_response({
        "device": device, "from": iso(t_from), "to": iso(t_to), "count": len(fixes),
        "thinned_every": step,
        "fixes": [[f.t, f.lat_e7 / 1e7, f.lon_e7 / 1e7, (f.acc_cm or 0) / 100, f.seq]
                  for f in shown],
        "alerts": [{"seq": a.seq, "t": a.t, "alert": a.alert, "zone": a.zone,
                    "lat": a.lat_e7 / 1e7 if a.lat_e7 is not None else None,
                    "lon": a.lon_e7 / 1e7 if a.lon_e7 is not None else None}
                   for a in alerts],
    })  # fmt: skip


def heatmap(app, req, device):
    with app.pool.get() as st:
        device = access.require_device(app, req, st, device, "view_heatmap")
        last = st.fix_before(device, T_MAX)
        t_from, t_to = window(req, last.t + 1 if last else T_MAX)
        fixes = st.fixes(device, t_from, t_to)
        st.audit(alertqueue.now_iso(), req.session.user, "view_heatmap", device,
                 "%s..%s" % (iso(t_from), iso(t_to)), req.client)  # fmt: skip
    cells = hm.cells(fixes, t_from, t_to)
    return http.json_response({"device": device, "from": iso(t_from), "to": iso(t_to),
                               "resolution": hm.RESOLUTION, "cells": hm.features(cells)})


def weekly(app, req, device):
    week = (req.arg("week") or "").strip()
    if not WEEK.match(week):
        raise http.HttpError(400, "week: %r is not an ISO week such as 2026-W10" % week[:20])
    with app.pool.get() as st:
        device = access.require_device(app, req, st, device, "view_weekly")
        try:
            text, _, _ = report.build(st, device, week, app.zones, app.settings.tiles,
                                      "the centre's store")  # fmt: skip
        except ValueError as e:
            raise http.HttpError(400, "week %s: %s" % (week, e)) from None
        st.audit(alertqueue.now_iso(), req.session.user, "view_weekly", device, week, req.client)
    return http.Response(text, 200, headers={"X-Relaxed-CSP": "1"})
