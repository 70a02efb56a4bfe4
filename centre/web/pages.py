"""The centre's pages: sign in and out, the live alert queue and the actions on an alert
(acknowledge, note, escalate), the audit log (admins)."""

import datetime
import urllib.parse

from emtag.centre import alertqueue
from emtag.centre.web import access, auth, http
from emtag.centre.web.sse import sse_stream

MAX_NOTE = 2000
MAX_NAME = 64


def _when(t):
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso_short(text):
    return (text or "-").replace("T", " ").split(".")[0].rstrip("Z")


def _deg(e7):
    return "-" if e7 is None else "%.6f" % (e7 / 1e7)


FILTERS = {"when": _when, "iso": _iso_short, "deg": _deg}


def home(app, req):
    return http.redirect("/queue")


def _safe_next(text):
    """Only a path of this site (no scheme, no //host) may follow a sign-in."""
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/queue"
    return text


def login_form(app, req, error=None, status=200, name=""):
    return app.render("login.html", req, status, error=error, name=name,
                      next=_safe_next(req.arg("next")))  # fmt: skip


def login(app, req):
    name = req.field("name").strip()[:MAX_NAME]
    password = req.field("password")
    nxt = _safe_next(req.field("next"))
    wait = app.limiter.retry_after(name, req.client)
    if wait > 0:
        with app.pool.get() as st:
            st.audit(alertqueue.now_iso(), name or "-", "login_refused", None,
                     "locked for %d s more" % wait, req.client)  # fmt: skip
        r = login_form(app, req, "Too many failed sign-ins. Try again in %d s." % (wait + 1),
                       429, name)  # fmt: skip
        r.headers["Retry-After"] = str(int(wait) + 1)
        return r
    with app.pool.get() as st:
        user = st.user(name) if name else None
        ok = auth.verify_password(user.password_hash if user else None, password)
        if ok and user.disabled:
            ok = False
        when = alertqueue.now_iso()
        if not ok:
            app.limiter.failed(name, req.client)
            st.audit(when, name or "-", "login_failed", None, "", req.client)
            return login_form(app, req, "Wrong user name or password.", 401, name)
        app.limiter.succeeded(name)
        st.audit(when, name, "login", None, user.role, req.client)
    session = app.sessions.create(user.name, user.role)
    r = http.redirect(nxt)
    r.cookies.append(http.session_cookie(session.token))
    return r


def logout(app, req):
    app.sessions.drop(req.session.token)
    app.audit(req, "logout")
    r = http.redirect("/login")
    r.cookies.append(http.session_cookie("", 0))
    return r


def _queue(app, req):
    with app.pool.get() as st:
        devices = access.visible_devices(st, req.session)
        return alertqueue.build(st, devices)


def queue_page(app, req):
    open_, done = _queue(app, req)
    return app.render("queue.html", req, open=open_, done=done)


def queue_rows(app, req):
    open_, done = _queue(app, req)
    return app.render("queue_rows.html", req, open=open_, done=done)


def events(app, req):
    with app.pool.get() as st:
        devices = access.visible_devices(st, req.session)
    r = http.Response(b"", 200, "text/event-stream")
    r.stream = sse_stream(app, devices)
    return r


def alert_action(app, req, ref, action):
    text = req.field("text").strip()
    if len(text) > MAX_NOTE:
        raise http.HttpError(400, "a note has at most %d characters" % MAX_NOTE)
    if action in ("note", "escalate") and not text:
        raise http.HttpError(400, "write the %s first" % ("note" if action == "note" else
                                                           "reason for escalating"))  # fmt: skip
    with app.pool.get() as st:
        item = alertqueue.find(st, ref)
        if item is None:
            app.audit(req, "not_found", None, "%s %s" % (action, ref))
            raise http.HttpError(404, "no alert %s" % ref)
        access.require_device(app, req, st, item.device, action)
        user = req.session.user
        if action == "ack":
            changed = alertqueue.acknowledge(st, item, user, text, req.client)
            if not changed:
                raise http.HttpError(409, "alert %s was already acknowledged by %s"
                                     % (ref, item.acked_by or "someone"))  # fmt: skip
        elif action == "note":
            alertqueue.add_note(st, item, user, text, req.client)
        elif not alertqueue.escalate(st, item, user, text, req.client):
            raise http.HttpError(409, "alert %s is already escalated" % ref)
        else:
            app.escalated()
    app.hub.publish({"kind": action, "device": item.device, "ref": ref})
    if req.headers.get("X-CSRF-Token"):
        return http.json_response({"ok": True, "ref": ref, "action": action})
    back = _safe_next(req.field("back")) if req.field("back") else "/queue"
    return http.redirect(back + ("&" if "?" in back else "?") + "done=" + urllib.parse.quote(
        "%s %s" % (action, ref)))  # fmt: skip


def audit_page(app, req):
    user = req.arg("user") or None
    device = req.arg("device") or None
    try:
        limit = max(1, min(2000, int(req.arg("limit", "200"))))
    except ValueError:
        raise http.HttpError(400, "limit: give a whole number") from None
    with app.pool.get() as st:
        rows = st.audit_log(user=user, device=device, limit=limit)
        st.audit(alertqueue.now_iso(), req.session.user, "view_audit", device,
                 "user=%s" % (user or "*"), req.client)  # fmt: skip
    return app.render("audit.html", req, rows=rows, user=user or "", device=device or "",
                      limit=limit)  # fmt: skip
