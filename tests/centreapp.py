"""The centre's web app in-process for tests (App on a free port, served by a thread) and a
small HTTP client that keeps its session cookie and reads the CSRF token from pages."""

import http.client
import json
import re
import threading
import urllib.parse

from emtag.centre import config
from emtag.centre.web import auth
from emtag.centre.web.server import App
from emtag.host.store import open_store

PASSWORDS = {"boss": "admin-password-1", "olly": "officer-password-1", "pat": "officer-pass-2"}
W = "2026-03-02T08:00:00Z"


def add_users(store_url, devices_for_olly=()):
    with open_store(store_url) as st:
        st.add_user("boss", "admin", auth.hash_password(PASSWORDS["boss"]), W)
        st.add_user("olly", "officer", auth.hash_password(PASSWORDS["olly"]), W)
        st.add_user("pat", "officer", auth.hash_password(PASSWORDS["pat"]), W)
        for d in devices_for_olly:
            st.assign("olly", d, W)


class Running:
    def __init__(self, store_url, **settings):
        settings.setdefault("listen", "127.0.0.1:0")
        settings.setdefault("poll_s", 0.2)
        self.log = []
        self.app = App(store_url, config.load(None, **settings), log=self.log.append)
        self.srv = self.app.serve()
        self.thread = threading.Thread(target=self.srv.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.host, self.port = self.srv.server_address[:2]
        self.url = "http://%s:%d" % (self.host, self.port)

    def stop(self):
        self.srv.shutdown()
        self.app.close()
        self.thread.join(10)

    def client(self):
        return Client(self.host, self.port)


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=20)
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        reply = Reply(r.status, dict(r.getheaders()), r.read())
        c.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("emtag_session="):
                self.cookie = v.split(";")[0] if "Max-Age=0" not in v else None
        m = re.search(r'name="csrf-token" content="([^"]+)"', reply.text)
        if m:
            self.csrf = m.group(1)
        return reply

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields=None, csrf=True, headers=None):
        fields = dict(fields or {})
        if csrf and self.csrf:
            fields.setdefault("csrf", self.csrf)
        h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, urllib.parse.urlencode(fields), h)

    def login(self, name, password=None):
        r = self.post("/login", {"name": name, "password": password or PASSWORDS[name],
                                 "next": "/queue"}, csrf=False)  # fmt: skip
        if r.status == 303:
            self.get("/queue")  # the CSRF token
        return r
