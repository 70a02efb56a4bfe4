"""The victims' phones' endpoint: POST /api/victim/positions with the phone's own token.

    Authorization: Bearer <token printed by emtag centre victim add>
    Content-Type: application/json
    {"positions": [{"t": "2026-03-02T09:05:00Z", "lat": 53.4631, "lon": -2.2913,
                    "acc_m": 12.0}, ...]}         # t may be Unix seconds; 1..1000 positions

Every position is checked before any is stored (all or nothing): a bad one is refused with
its index and why. The answer is only how many were stored: nothing about the wearer goes
back to the phone, and nothing about the victim ever goes to a tag or the bridge (the
centre sends nothing to either). A bad token counts as a failed sign-in for the address.
"""

import hashlib
import math
import time

from emtag.centre import alertqueue
from emtag.centre.proximity import Position
from emtag.centre.web import http
from emtag.centre.web.tagdata import parse_time

MAX_BODY = 512 * 1024
MAX_POSITIONS = 1000
MAX_ACC_M = 10_000
FUTURE_S = 300


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _number(p, key, i, lo, hi):
    v = p.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise http.HttpError(400, "positions[%d].%s: give a number" % (i, key))
    if not lo <= v <= hi:
        raise http.HttpError(400, "positions[%d].%s: %s is outside %s..%s" % (i, key, v, lo, hi))
    return v


def parse_positions(doc, now, accept_age_s):
    """[(t, lat_e7, lon_e7, acc_cm)] of a request's JSON; HttpError 400 for the first bad."""
    if not isinstance(doc, dict) or not isinstance(doc.get("positions"), list):
        raise http.HttpError(400, 'send {"positions": [{"t", "lat", "lon", "acc_m"}, ...]}')
    items = doc["positions"]
    if not 1 <= len(items) <= MAX_POSITIONS:
        raise http.HttpError(400, "send 1 to %d positions at once" % MAX_POSITIONS)
    out = []
    for i, p in enumerate(items):
        if not isinstance(p, dict):
            raise http.HttpError(400, "positions[%d]: not an object" % i)
        raw_t = p.get("t")
        if isinstance(raw_t, (int, float)) and not isinstance(raw_t, bool):
            raw_t = str(int(raw_t))
        if not isinstance(raw_t, str):
            raise http.HttpError(400, "positions[%d].t: give ISO 8601 or Unix seconds" % i)
        try:
            t = parse_time(raw_t, "positions[%d].t" % i)
        except http.HttpError as e:
            raise http.HttpError(400, e.message) from None
        if t > now + FUTURE_S:
            raise http.HttpError(400, "positions[%d].t: in the future (%s)" % (i, raw_t[:40]))
        if t < now - accept_age_s:
            raise http.HttpError(400, "positions[%d].t: older than the centre accepts (%d s)"
                                 % (i, accept_age_s))  # fmt: skip
        lat = _number(p, "lat", i, -90, 90)
        lon = _number(p, "lon", i, -180, 180)
        acc = _number(p, "acc_m", i, 0, MAX_ACC_M)
        out.append((t, round(lat * 1e7), round(lon * 1e7), round(acc * 100)))
    return out


def positions(app, req):
    auth = req.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.startswith("Bearer ") else ""
    wait = app.limiter.retry_after(None, req.client)
    if wait > 0:
        raise http.HttpError(429, "too many bad tokens from this address; wait %d s" % (wait + 1),
                             {"Retry-After": str(int(wait) + 1)})  # fmt: skip
    with app.pool.get() as st:
        victim = st.victim_by_token(token_hash(token)) if 20 <= len(token) <= 200 else None
        if victim is None:
            app.limiter.failed(None, req.client)
            st.audit(alertqueue.now_iso(), "-", "phone_refused", None, "bad token", req.client)
            raise http.HttpError(401, "unknown or missing token",
                                 {"WWW-Authenticate": "Bearer"})  # fmt: skip
        rows = parse_positions(req.json(), time.time(), app.settings.accept_age_s)
        ids = st.add_victim_positions(victim.name, rows, alertqueue.now_iso())
        raised = []
        for pid, (t, lat, lon, acc) in zip(ids, rows, strict=True):
            raised += app.proximity.on_victim(st, victim, Position(t, lat, lon, acc, pid))
    for event in raised:
        app.hub.publish(event)
    return http.json_response({"stored": len(ids)})
