"""Server-Sent Events for the queue page: 'change' with the event as JSON whenever the hub
has one for the user's tags, a comment every SSE_KEEPALIVE_S so proxies keep it open."""

import json
import queue
import time

from emtag.centre import hub

SSE_KEEPALIVE_S = 15.0


def sse_stream(app, devices):
    sub, q = app.hub.subscribe(devices)
    try:
        yield b"retry: 2000\n: connected\n\n"
        last = time.monotonic()
        while True:
            try:
                ev = q.get(timeout=1.0)
            except queue.Empty:
                if app._stop.is_set():
                    return
                if time.monotonic() - last > SSE_KEEPALIVE_S:
                    last = time.monotonic()
                    yield b": keepalive\n\n"
                continue
            if ev is hub.CLOSED:
                return
            last = time.monotonic()
            yield b"event: change\ndata: " + json.dumps(ev).encode() + b"\n\n"
    finally:
        app.hub.unsubscribe(sub)
