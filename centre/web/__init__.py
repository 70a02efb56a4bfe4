"""The centre's web app (`emtag centre serve`): the alert queue, tag pages, the audit log and
the victims' phones' endpoint, on the standard library's ThreadingHTTPServer with Jinja2
pages and a little vanilla JavaScript (server.py has the map of it)."""
