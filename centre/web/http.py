"""The HTTP plumbing under the centre's pages: a request read with bounds, a response, an
error that becomes a clear page or JSON answer, cookies and the security headers."""

import http.cookies
import json
import urllib.parse

MAX_FORM = 64 * 1024
SESSION_COOKIE = "emtag_session"


class HttpError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Request:
    def __init__(self, handler, max_body=MAX_FORM):
        self.method = handler.command
        url = urllib.parse.urlsplit(handler.path)
        self.path = urllib.parse.unquote(url.path)
        try:
            self.query = urllib.parse.parse_qs(url.query, max_num_fields=50)
        except ValueError:
            raise HttpError(400, "too many query parameters") from None
        self.headers = handler.headers
        self.client = handler.client_address[0]
        self.session = None
        self.cookies = http.cookies.SimpleCookie()
        try:
            self.cookies.load(self.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            pass
        self.body = b""
        if self.method == "POST":
            try:
                n = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise HttpError(400, "bad Content-Length") from None
            if n < 0 or n > max_body:
                raise HttpError(413, "request body over %d bytes" % max_body)
            self.body = handler.rfile.read(n)
        self._form = None

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def cookie(self, name):
        c = self.cookies.get(name)
        return c.value if c else None

    @property
    def form(self):
        if self._form is None:
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("application/x-www-form-urlencoded"):
                raise HttpError(415, "send a form (application/x-www-form-urlencoded)")
            try:
                text = self.body.decode("utf-8")
                self._form = urllib.parse.parse_qs(text, max_num_fields=20, strict_parsing=False)
            except (UnicodeDecodeError, ValueError):
                raise HttpError(400, "the form is not valid UTF-8 url-encoded data") from None
        return self._form

    def field(self, name, default=""):
        values = self.form.get(name)
        return values[0] if values else default

    def json(self):
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            raise HttpError(415, "send JSON (Content-Type: application/json)")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise HttpError(400, "not JSON: %s" % e) from None


class Response:
    def __init__(self, body=b"", status=200, ctype="text/html; charset=utf-8", headers=None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = {"Content-Type": ctype, **(headers or {})}
        self.cookies = []
        self.stream = None  # an iterator of bytes (Server-Sent Events)


def json_response(obj, status=200):
    return Response(json.dumps(obj, separators=(",", ":")), status, "application/json")


def redirect(location, status=303):
    return Response(b"", status, headers={"Location": location})


def session_cookie(token, max_age=None):
    c = "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (SESSION_COOKIE, token)
    if max_age is not None:
        c += "; Max-Age=%d" % max_age
    return c


def security_headers(tiles="", relaxed=False):
    """No inline script on the app's pages; images from the tile server if one is set.
    relaxed: the weekly report, a self-contained page with its own inline script."""
    img = "'self' data: blob:"
    if tiles.startswith(("http://", "https://")):
        u = urllib.parse.urlsplit(tiles)
        img += " %s://%s" % (u.scheme, u.netloc.replace("{s}", "*"))
    script = "'self' 'unsafe-inline'" if relaxed else "'self'"
    style = "'self' 'unsafe-inline'" if relaxed else "'self'"
    return {
        "Content-Security-Policy": "default-src 'self'; script-src %s; style-src %s; "
        "img-src %s; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'" % (script, style, img),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
