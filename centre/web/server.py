"""`emtag centre serve`: the web app on the standard library's ThreadingHTTPServer.

    app = App(store_target, settings)      # opens the store, starts nothing
    srv = app.serve()                      # binds settings.listen; the feed and escalation run
    srv.serve_forever()                    # until srv.shutdown() (another thread, a signal)
    app.close()

Pages (pages.py, tagdata.py) are Jinja2 templates, autoescaped; live updates reach the
queue page by Server-Sent Events (/events). The victims' phones post to /api/victim
(victimapi.py) with their own bearer tokens. Every route says who may use it: anyone
(login, static files), a signed-in user, an admin, or a victim's phone.
"""

import contextlib
import mimetypes
import os
import queue
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jinja2

from emtag.centre import alertqueue, hub, proximity
from emtag.centre.feed import Feed
from emtag.centre.notify import EscalationNotifier
from emtag.centre.web import auth, http, pages, tagdata, victimapi
from emtag.host.store import open_store

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = {
    "static": os.path.join(HERE, "static"),
    "vendor": os.path.join(os.path.dirname(HERE), "vendor"),
}


class StorePool:
    """Store connections handed to one thread at a time (the request threads, the feed)."""

    def __init__(self, target):
        self.target = target
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._all = []
        self._lock = threading.Lock()
        self._free.put(self._open())  # fails here, at start, if the store cannot be used

    def _open(self):
        s = open_store(self.target, create=False)
        with self._lock:
            self._all.append(s)
        return s

    @contextlib.contextmanager
    def get(self):
        try:
            s = self._free.get_nowait()
        except queue.Empty:
            s = self._open()
        try:
            yield s
        finally:
            self._free.put(s)

    def close(self):
        with self._lock:
            for s in self._all:
                with contextlib.suppress(Exception):
                    s.close()
            self._all.clear()


# (method, path pattern, handler, who): who is "anyone", "user", "admin" or "phone"
ROUTES = [
    ("GET", r"/", pages.home, "user"),
    ("GET", r"/login", pages.login_form, "anyone"),
    ("GET", r"/favicon.ico", lambda app, req: http.Response(b"", 204), "anyone"),
    ("POST", r"/login", pages.login, "anyone"),
    ("POST", r"/logout", pages.logout, "user"),
    ("GET", r"/queue", pages.queue_page, "user"),
    ("GET", r"/queue/rows", pages.queue_rows, "user"),
    ("GET", r"/events", pages.events, "user"),
    ("POST", r"/alerts/(?P<ref>(?:[0-9a-f]{1,64}|centre)/\d{1,18})/(?P<action>ack|note|escalate)",
     pages.alert_action, "user"),
    ("GET", r"/tags", tagdata.tag_list, "user"),
    ("GET", r"/tags/(?P<device>[^/]{1,80})", tagdata.tag_page, "user"),
    ("GET", r"/tags/(?P<device>[^/]{1,80})/weekly", tagdata.weekly, "user"),
    ("GET", r"/api/tags/(?P<device>[^/]{1,80})/trail", tagdata.trail, "user"),
    ("GET", r"/api/tags/(?P<device>[^/]{1,80})/heatmap", tagdata.heatmap, "user"),
    ("GET", r"/audit", pages.audit_page, "admin"),
    ("POST", r"/api/victim/positions", victimapi.positions, "phone"),
]  # fmt: skip
COMPILED = [(m, re.compile(p + r"\Z"), f, who) for m, p, f, who in ROUTES]


class App:
    def __init__(self, store_target, settings, log=None):
        self.settings = settings
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.pool = StorePool(store_target)
        self.sessions = auth.Sessions(settings.session_idle_s)
        self.limiter = auth.LoginLimiter()
        self.hub = hub.Hub()
        self.proximity = proximity.Proximity(settings, alertqueue.now_iso)
        self.feed = Feed(self.pool, self.hub, self.proximity, settings.poll_s, settings.mqtt,
                         self.log)  # fmt: skip
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters.update(pages.FILTERS)
        self.zones = []
        if settings.zones:  # places named in weekly overviews (the tags' zone table)
            from emtag.host import zonefile

            self.zones = list(zonefile.load(settings.zones))
        self.notifier = EscalationNotifier(settings.mqtt, self.log) if settings.mqtt else None
        self._stop = threading.Event()
        self._escalated = threading.Event()  # an officer escalated: send it now
        self._threads = []
        self.server = None

    # --- running
    def serve(self, listen=None):
        host, _, port = (listen or self.settings.listen).rpartition(":")
        srv = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        srv.daemon_threads = True
        srv.app = self
        self.server = srv
        self.feed.start()
        if self.notifier is not None:
            with self.pool.get() as st:
                self.notifier.start(st)
        t = threading.Thread(target=self._escalate_loop, name="centre-escalate", daemon=True)
        t.start()
        self._threads.append(t)
        return srv

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return "http://%s:%d" % (host, port)

    def escalated(self):
        """An escalation was made: send it (--mqtt) without waiting for the next round."""
        self._escalated.set()

    def close(self):
        self._stop.set()
        self.hub.close()
        self.feed.stop()
        self._escalated.set()
        for t in self._threads:
            t.join(10)
        if self.notifier is not None:
            self.notifier.stop()
        if self.server is not None:
            self.server.server_close()
        self.pool.close()

    def _escalate_loop(self):
        s = self.settings
        every = max(0.2, min(10.0, s.escalate_after_s / 4))
        while not self._stop.is_set():
            self._escalated.wait(every)
            self._escalated.clear()
            if self._stop.is_set():
                break
            try:
                with self.pool.get() as st:
                    done = alertqueue.escalate_overdue(st, s.escalate_kinds, s.escalate_after_s)
                    if self.notifier is not None:
                        self.notifier.send_pending(st)
                for i in done:
                    self.log("escalated %s %s (%s)" % (i.ref, i.kind, i.device))
                    self.hub.publish({"kind": "escalated", "device": i.device, "ref": i.ref})
            except Exception as e:  # the store away a moment: next round
                self.log("escalation: %s" % str(e).strip().splitlines()[0][:200])

    # --- requests
    def render(self, template, req, status=200, **values):
        values.setdefault("session", req.session)
        values.setdefault("tiles", self.settings.tiles)
        html = self.templates.get_template(template).render(**values)
        return http.Response(html, status)

    def error_response(self, req, err):
        if req is not None and (req.path.startswith("/api/") or req.path == "/events"):
            r = http.json_response({"error": err.message}, err.status)
        else:
            page = self.templates.get_template("error.html")
            session = req.session if req is not None else None
            r = http.Response(page.render(status=err.status, message=err.message,
                                          session=session), err.status)  # fmt: skip
        r.headers.update(err.headers)
        return r

    def dispatch(self, req):
        path_known = False
        for method, pattern, fn, who in COMPILED:
            m = pattern.match(req.path)
            if not m:
                continue
            path_known = True
            if method != req.method:
                continue
            if req.method == "POST" and not same_origin(req):
                raise http.HttpError(403, "a form from another site is refused")
            if who in ("user", "admin"):
                req.session = self.sessions.get(req.cookie(http.SESSION_COOKIE))
                if req.session is None:
                    if req.method == "GET" and not req.path.startswith(("/api/", "/events")):
                        return http.redirect("/login?next=" + req.path, 303)
                    raise http.HttpError(401, "sign in first")
                if req.method == "POST" and not auth.csrf_ok(
                    req.session, req.headers.get("X-CSRF-Token") or req.field("csrf")
                ):
                    raise http.HttpError(403, "the form's security token is missing or stale: "
                                              "reload the page and try again")  # fmt: skip
                if who == "admin" and req.session.role != "admin":
                    raise http.HttpError(403, "this page is for administrators")
            return fn(self, req, **m.groupdict())
        if req.method == "GET" and path_known is False:
            static = self.static(req.path)
            if static is not None:
                return static
        raise http.HttpError(405 if path_known else 404,
                             "method not allowed" if path_known else "no such page")  # fmt: skip

    def static(self, path):
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] not in STATIC or any(p in ("", ".", "..") for p in parts):
            return None
        full = os.path.join(STATIC[parts[0]], *parts[1:])
        if not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            body = f.read()
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return http.Response(body, 200, ctype, {"Cache-Control": "max-age=3600"})

    def audit(self, req, action, device=None, detail=""):
        with self.pool.get() as st:
            user = req.session.user if req.session else "-"
            st.audit(alertqueue.now_iso(), user, action, device, detail, req.client)


def same_origin(req):
    """A browser's POST names its page's origin; it must be this server ("null", sent by
    privacy settings, leaves it to the CSRF token)."""
    origin = req.headers.get("Origin")
    if not origin or origin == "null":
        return True
    host = req.headers.get("Host", "")
    return origin in ("http://" + host, "https://" + host)


class Handler(BaseHTTPRequestHandler):
    server_version = "emtag-centre"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # requests are not logged; the audit log says who
        pass

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self):
        app = self.server.app
        req = None
        try:
            max_body = victimapi.MAX_BODY if self.path.startswith("/api/victim") else None
            req = http.Request(self, max_body or http.MAX_FORM)
            resp = app.dispatch(req)
        except http.HttpError as e:
            resp = app.error_response(req, e)
        except Exception:
            app.log("error serving %s %s:\n%s" % (self.command, self.path, traceback.format_exc()))
            resp = app.error_response(req, http.HttpError(500, "internal error (logged)"))
        self._send(app, resp, req)

    def _send(self, app, resp, req):
        relaxed = resp.headers.pop("X-Relaxed-CSP", None) is not None
        self.send_response(resp.status)
        headers = {**http.security_headers(app.settings.tiles, relaxed), **resp.headers}
        if resp.stream is None:
            headers["Content-Length"] = str(len(resp.body))
        else:
            headers["Connection"] = "close"
            self.close_connection = True
        for k, v in headers.items():
            self.send_header(k, v)
        for c in resp.cookies:
            self.send_header("Set-Cookie", c)
        self.end_headers()
        try:
            if resp.stream is None:
                self.wfile.write(resp.body)
                return
            for chunk in resp.stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
