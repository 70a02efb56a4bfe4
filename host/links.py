"""The bridge's connections: one Link per TCP peer or serial port, each with its own bounds.

A Link owns a bridge.Session and everything that keeps one peer from hurting the others:

- input is taken READ_CHUNK bytes at a time and waits in the link (reading paused) until the
  bridge serves it in a turn of its loop; the bridge serves the links with input in fair
  order by the work each has cost (host/fairqueue.py) and ends a turn after TURN_BUDGET_S
  of work, so a chatty peer cannot hold the loop and a quiet tag goes first; a token bucket
  caps the bytes per second a connection may send (reading pauses while it is empty);
- writes never block: TCP output goes through asyncio's non-blocking transport, serial
  output through the port's own writer thread with a write timeout; a peer whose output
  exceeds max_output, or stops draining it for stall_s, is closed (and a TCP peer that does
  not read is not read from either);
- a connection that has not proved its key within handshake_s, or has sent no complete
  message for idle_s, is closed (Bridge.sweep);
- the Session closes what misbehaves (bad frames, failed proofs, floods of rejected
  records) and the Link closes its connection with the reason.

Serial ports are read and written by threads (pyserial has no portable non-blocking API);
the threads only move bytes, everything else happens on the loop. "Closing" a serial link
starts a fresh session on the same port after RETRY_S.
"""

import asyncio
import queue
import threading
import time
from dataclasses import dataclass

import cbor2

from emtag.host import frames
from emtag.protocol import messages as m

# sent when a session starts: NACK of seq 0, "hello first" (protocol/uplink.cddl)
INVITE = frames.encode(cbor2.dumps([m.NACK, 0, "hello first"]))
RETRY_S = 1.0
READ_TIMEOUT_S = 0.2


@dataclass
class Limits:
    """What one peer may cost the bridge (README: "Bridge under attack")."""

    max_connections: int = 2048  # TCP connections at once (less if the file limit is lower)
    per_address: int = 32  # TCP connections at once from one address
    accepts_per_address_s: float = 20.0  # new connections a second from one address...
    accepts_burst: int = 60  # ...with this burst
    handshake_s: float = 10.0  # from connect to a proven key
    idle_s: float = 900.0  # no complete message for this long (a tag uploads every 15 min)
    stall_s: float = 20.0  # output waiting and not drained for this long
    max_output: int = 256 * 1024  # bytes of output waiting for one peer
    rate: float = 64 * 1024  # bytes a second one connection may send...
    burst: float = 128 * 1024  # ...with this burst
    read_chunk: int = 4096  # bytes taken from one connection at a time
    write_timeout_s: float = 2.0  # a serial write that does not finish in this time


class Bucket:
    """A token bucket: take(n) returns how long to wait before taking more (0: go on)."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self, n):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= n
        return -self.tokens / self.rate if self.tokens < 0 else 0.0


class Link:
    """What TCP and serial links share: the session, its bounds, replies held for commit."""

    kind = "link"

    def __init__(self, bridge, name):
        self.bridge = bridge
        self.name = name
        self.limits = bridge.limits
        self.bucket = Bucket(self.limits.rate, self.limits.burst)
        self.session = None
        self.pending = bytearray()  # replies waiting for the store's commit
        self.inbox = bytearray()  # input waiting for the bridge's turn (reading paused)
        self.queued = False  # in the bridge's queue
        self.rate_paused = False  # the token bucket is empty: reading paused
        self.start_tag = self.finish_tag = 0.0  # host/fairqueue.py
        self.closed = False
        self.started = self.last_message = time.monotonic()
        self.frames_seen = 0
        self.stalled_since = None  # output waiting since (None: drained)

    def new_session(self):
        self.session = self.bridge.new_session(self.name)
        self.session.on_close = self.close
        self.started = self.last_message = time.monotonic()
        self.frames_seen = 0
        self.send_now(INVITE)

    def feed(self, data):
        """Bytes from the peer, on the loop thread: they wait for the bridge's turn."""
        if self.closed or self.session is None:
            self.may_read()
            return
        wait = self.bucket.take(len(data))
        if wait and not self.rate_paused:
            self.rate_paused = True
            self.bridge.loop.call_later(wait, self._rate_resume)
        self.inbox += data
        if not self.queued:
            self.queued = True
            self.bridge.ready(self)

    def serve(self):
        """The bridge's turn for this link: its input through the session."""
        data, self.inbox, self.queued = bytes(self.inbox), bytearray(), False
        if data and not self.closed and self.session is not None:
            self.bridge.ingest(self, data)
            n = self.session.deframer.frames if self.session is not None else 0
            if n != self.frames_seen:
                self.frames_seen = n
                self.last_message = time.monotonic()
        self.may_read()

    def _rate_resume(self):
        self.rate_paused = False
        self.may_read()

    def may_read(self):
        """Read again from the peer if nothing holds it back."""
        raise NotImplementedError

    def deliver(self):
        """After the commit: the replies go out."""
        if self.pending and not self.closed:
            data, self.pending = bytes(self.pending), bytearray()
            self.send_now(data)
        else:
            self.pending = bytearray()

    def overdue(self, now):
        """Why this link should be closed now (Bridge.sweep), or None."""
        lim = self.limits
        if self.stalled_since is not None and now - self.stalled_since > lim.stall_s:
            return "peer does not read (output stalled %.0f s)" % (now - self.stalled_since)
        return None

    def close(self, reason):
        """End the session (once): drop what waits in and out, report it, then _ended()."""
        if self.closed:
            return
        self.closed = True
        self.pending = bytearray()
        self.inbox = bytearray()
        self.bridge.emit("closed", peer=self.name, reason=reason)
        if self.session is not None:
            self.session.close(reason)
        self._ended()

    def _ended(self):
        raise NotImplementedError

    def send_now(self, data):
        raise NotImplementedError


class TcpLink(asyncio.BufferedProtocol, Link):
    """One TCP connection (asyncio transport: non-blocking, bounded output)."""

    kind = "tcp"

    def __init__(self, bridge):
        Link.__init__(self, bridge, "tcp://?")
        self.transport = None
        self.address = None
        self.buf = bytearray(self.limits.read_chunk)
        self.write_paused = False
        self.counted = False

    # asyncio callbacks
    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.address = peer[0]
        self.name = "tcp://%s:%d" % tuple(peer[:2]) if len(peer) >= 2 else "tcp://?"
        why = self.bridge.admit_connection(self)
        if why:
            self.closed = True
            transport.abort()
            return
        self.counted = True
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        self.bridge.emit("connected", peer=self.name)
        self.new_session()

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        if not self.closed:
            self.transport.pause_reading()  # until the bridge has served this input
        self.feed(bytes(self.buf[:nbytes]))

    def eof_received(self):
        return False  # close the connection

    def connection_lost(self, exc):
        self.uncount()
        self.closed = True
        if self.session is not None:
            self.session.close("disconnected")

    def uncount(self):
        """No longer counted against the bridge's limits (closed, or closing)."""
        if self.counted:
            self.counted = False
            self.bridge.release_connection(self)
            self.bridge.emit("disconnected", peer=self.name)

    def pause_writing(self):
        self.write_paused = True
        self.stalled_since = time.monotonic()
        if not self.closed:
            self.transport.pause_reading()  # no more work for a peer that does not read

    def resume_writing(self):
        self.write_paused = False
        self.stalled_since = None
        self.may_read()

    def may_read(self):
        if not (self.closed or self.queued or self.rate_paused or self.write_paused):
            self.transport.resume_reading()

    # Link
    def send_now(self, data):
        if self.closed:
            return
        if self.transport.get_write_buffer_size() + len(data) > self.limits.max_output:
            self.close("peer does not read (output over %d bytes)" % self.limits.max_output)
            return
        self.transport.write(data)

    def overdue(self, now):
        why = Link.overdue(self, now)
        if why:
            return why
        s = self.session
        if s is not None and s.device is None and now - self.started > self.limits.handshake_s:
            return "no proven key within %.0f s" % self.limits.handshake_s
        if now - self.last_message > self.limits.idle_s:
            return "idle for %.0f s" % (now - self.last_message)
        return None

    def _ended(self):
        self.transport.abort()


class SerialLink(Link):
    """A serial port (any pyserial URL): a reader and a writer thread move the bytes."""

    kind = "serial"

    def __init__(self, bridge, url, ser, open_port):
        Link.__init__(self, bridge, url)
        self.url = url
        self.ser = ser
        self.open_port = open_port  # () -> a new pyserial port (raises PortError)
        self.out = queue.Queue()
        self.out_bytes = 0
        self.out_lock = threading.Lock()
        self.may_read_now = threading.Event()
        self.may_read_now.set()
        self.reset = threading.Event()  # the loop asks the threads for a fresh session
        self.stop = bridge.stopping
        self.threads = [
            threading.Thread(target=self._reader, name="emtag-read " + url, daemon=True),
            threading.Thread(target=self._writer, name="emtag-write " + url, daemon=True),
        ]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self, timeout):
        for t in self.threads:
            t.join(timeout)

    # threads
    def _reader(self):
        ser = self.ser
        while not self.stop.is_set():
            self.reset.clear()
            self.bridge.call(self._opened)
            try:
                while not (self.stop.is_set() or self.reset.is_set()):
                    if not self.may_read_now.wait(0.5):
                        continue
                    data = ser.read(min(ser.in_waiting or 1, self.limits.read_chunk))
                    if data:  # one chunk at a time: the loop says when to read again
                        self.may_read_now.clear()
                        self.bridge.call(self.feed, data)
            except Exception as e:  # pyserial raises SerialException, OSError, TypeError...
                self.bridge.call(self.bridge.emit, "port_lost", port=self.url, error=str(e)[:200])
            finally:
                self.bridge.call(self._lost)
                try:
                    ser.close()
                except Exception:  # closing a port that is gone: nothing left to do
                    pass
            while not self.stop.wait(RETRY_S):
                try:
                    ser = self.ser = self.open_port()
                    break
                except Exception:  # PortError: not back yet
                    continue
        try:
            ser.close()
        except Exception:  # see above
            pass

    def _writer(self):
        while not self.stop.is_set():
            try:
                data = self.out.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.ser.write(data)
            except Exception as e:  # SerialTimeoutException: the peer does not read
                self.bridge.call(self.close, "write failed: %s" % (str(e)[:100] or "timeout"))
            finally:
                with self.out_lock:
                    self.out_bytes -= len(data)
                    if self.out_bytes == 0:
                        self.stalled_since = None

    # on the loop
    def _opened(self):
        self.closed = False
        self.inbox = bytearray()
        self.bridge.emit("port_open", port=self.url)
        self.new_session()
        self.may_read_now.set()

    def _lost(self):
        if self.session is not None:
            self.session.close("port lost")
        self.session = None
        self.closed = True

    def send_now(self, data):
        with self.out_lock:
            if self.out_bytes + len(data) > self.limits.max_output:
                over = True
            else:
                over = False
                if self.out_bytes == 0:
                    self.stalled_since = time.monotonic()
                self.out_bytes += len(data)
        if over:
            self.close("peer does not read (output over %d bytes)" % self.limits.max_output)
            return
        self.out.put(data)

    def may_read(self):
        if not (self.queued or self.rate_paused):
            self.may_read_now.set()

    def _ended(self):
        """A serial port stays open: its session ends and a fresh one starts (the tag says
        HELLO again); output waiting for it is dropped."""
        self.session = None
        try:
            while True:
                data = self.out.get_nowait()
                with self.out_lock:
                    self.out_bytes -= len(data)
        except queue.Empty:
            pass
        self.stalled_since = None
        try:
            self.ser.reset_output_buffer()
        except Exception:  # not every pyserial URL has one
            pass
        self.reset.set()  # the reader reopens the port and a fresh session begins
