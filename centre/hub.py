"""Changes the centre's pages must show at once (a new alert, an acknowledgement, an
escalation), fanned out to every open event stream whose user may see that tag."""

import queue
import threading

CLOSED = object()


class Hub:
    def __init__(self, backlog=256):
        self._subs: dict[int, tuple[queue.Queue, frozenset | None]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self.backlog = backlog
        self.published = 0

    def subscribe(self, devices=None):
        """(id, queue) receiving the events of these devices (None: every device)."""
        q: queue.Queue = queue.Queue(self.backlog)
        with self._lock:
            self._next += 1
            self._subs[self._next] = (q, None if devices is None else frozenset(devices))
            return self._next, q

    def unsubscribe(self, sub_id):
        with self._lock:
            self._subs.pop(sub_id, None)

    def publish(self, event):
        """event: a dict with at least 'kind' and 'device'."""
        with self._lock:
            self.published += 1
            subs = list(self._subs.values())
        for q, devices in subs:
            if devices is None or event.get("device") in devices:
                try:
                    q.put_nowait(event)
                except queue.Full:  # a stalled page: it reloads the queue on its next event
                    pass

    def close(self):
        with self._lock:
            subs = list(self._subs.values())
            self._subs.clear()
        for q, _ in subs:
            try:
                q.put_nowait(CLOSED)
            except queue.Full:
                pass
