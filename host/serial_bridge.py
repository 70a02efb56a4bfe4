"""The bridge's I/O around bridge.Session: serial ports and TCP listeners, one store, one
event loop.

    br = Bridge("store.sqlite", emit)            # emit(type, **fields); or postgresql://...
    br.add_port("/dev/ttyACM0")                  # any pyserial URL: a device, a pty,
                                                 # socket://HOST:PORT, loop://, rfc2217://
    br.listen("tcp://127.0.0.1:7000")            # many tags at once
    br.run()                                     # until br.stop() (another thread, a signal)

One thread runs an asyncio loop that owns the store and every Session (one writer
connection; sessions are cheap). Each connection is a host/links.py Link with its own bounds
(rate, output, timeouts), so what one peer does never blocks or starves another.

Turns and group commit: a connection's input (at most Limits.read_chunk bytes at a time)
waits until a turn serves it. A turn serves the connections with input in fair order
(host/fairqueue.py: the one that has cost least goes first) for at most TURN_BUDGET_S, each
in a savepoint of one store transaction; then the transaction commits (one fsync for all of
them) and only then do the replies, the ACKs among them, go out. What was not served waits
for the next turn, so a turn stays short however many peers are busy, and an honest tag's
upload goes in the first turn after it arrives. A session that fails is rolled back alone
and its connection closed; a commit that fails closes every connection of that turn
unanswered (their tags resend). Nothing is acknowledged before it is durable.

Opening a port fails with PortError and a message a person can act on: no such port, port
busy (another program holds it: ports are opened exclusively), permission denied,
connection refused.
"""

import asyncio
import contextlib
import datetime
import errno
import resource
import socket
import threading
import time
import traceback
import urllib.parse

from emtag.host import bridge as host_bridge
from emtag.host import store as host_store
from emtag.host.fairqueue import FairQueue
from emtag.host.links import READ_TIMEOUT_S, Bucket, Limits, SerialLink, TcpLink

SWEEP_S = 1.0  # how often timeouts are looked at
# Session work in one turn before it commits and answers: an honest tag's upload waits for
# at most the rest of one turn (plus one read chunk's work) before it is served.
TURN_BUDGET_S = 0.02
# At the limit on connections, one that has not proved a key after this long makes room for
# a new one (a tag mid-handshake is younger, and is left alone).
EVICT_AFTER_S = 1.0
FD_RESERVE = 64  # file descriptors kept for the store, ports and the process itself


class PortError(Exception):
    """A port or address that cannot be used, with a message for the user."""


def now_iso():
    dt = datetime.datetime.now(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def _port_error(url, e):
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOENT or "No such file" in text:
        return PortError("no such port: %s" % url)
    if code in (errno.EAGAIN, errno.EBUSY) or "exclusively lock" in text:
        return PortError("port %s is busy: another program has it open" % url)
    if code == errno.EACCES or "Permission denied" in text:
        return PortError("permission denied on %s (on Linux: add yourself to 'dialout')" % url)
    if code == errno.ECONNREFUSED or "Connection refused" in text:
        return PortError("could not connect to %s: connection refused" % url)
    return PortError("cannot open %s: %s" % (url, text))


def open_port(url, baudrate=115200, write_timeout=2.0):
    """A pyserial port for any URL pyserial knows, opened exclusively; PortError if not.
    Writes time out (a peer that never reads cannot block the writer for long)."""
    import serial

    try:
        ser = serial.serial_for_url(
            url,
            baudrate=baudrate,
            timeout=READ_TIMEOUT_S,
            write_timeout=write_timeout,
            exclusive=True,
            do_not_open=True,
        )
        ser.open()
    except (serial.SerialException, OSError, ValueError) as e:
        raise _port_error(url, e) from None
    return ser


def parse_listen(url):
    """(host, port) of tcp://HOST:PORT."""
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port
    except ValueError:
        port = None
    if u.scheme != "tcp" or not u.hostname or port is None:
        raise PortError("--listen wants tcp://HOST:PORT, not %r" % url)
    return u.hostname, port


def raise_file_limit():
    """Raise the soft limit on open files to the hard one; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = 1 << 16 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    return soft


class Bridge:
    def __init__(
        self, store_path, emit, register=True, on_commit=None, baudrate=115200, limits=None
    ):
        self.store_path = store_path
        host_store.open_store(store_path).close()  # fails here, early, if it is unusable
        self.store = None  # opened by run(), in the thread that uses it
        self._emit = emit
        self.register = register
        self.on_commit = on_commit  # called after each commit that stored something (MQTT)
        self.baudrate = baudrate
        self.limits = limits or Limits()
        files = raise_file_limit()
        self.max_connections = max(1, min(self.limits.max_connections, files - FD_RESERVE))
        self.owners = host_bridge.Owners()
        self.stopping = threading.Event()
        self.loop = None
        self._servers = []  # listening sockets, until run() serves them
        self._ports = []  # SerialLink
        self._links = set()  # TcpLink counted against the limits
        self._unproven = {}  # TcpLink admitted without a proven key yet, oldest first
        self._per_address = {}  # address -> connections open
        self._accepts = {}  # address -> Bucket of new connections
        self._refused = {}  # address -> refusals not yet reported
        self._dirty = []  # links served in this turn (replies wait for the commit)
        self._group = None  # the store transaction of this turn
        self._queue = FairQueue()  # links with input waiting for a turn
        self._turn_due = False
        self._woke = False  # something was stored this turn: wake the forwarder after commit
        self._done = None
        self.addresses = []  # (host, port) actually listened on (port 0: the one chosen)

    def emit(self, kind, **fields):
        self._emit(kind, **fields)
        if kind in ("records_stored", "alert_early"):
            self._woke = True

    def call(self, fn, *args, **kwargs):
        """Run fn on the loop (from a port's thread); dropped once the bridge is stopping."""
        loop = self.loop
        if loop is not None and not self.stopping.is_set():
            with contextlib.suppress(RuntimeError):  # the loop just closed
                loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    # ports and listeners (before run)
    def add_port(self, url):
        """Open a serial port now (PortError if it cannot be); run() serves it."""

        def opener():
            return open_port(url, self.baudrate, self.limits.write_timeout_s)

        self._ports.append(SerialLink(self, url, opener(), opener))

    def listen(self, url):
        host, port = parse_listen(url)
        srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((host, port))
        except OSError as e:
            srv.close()
            if e.errno == errno.EADDRINUSE:
                raise PortError("address %s is in use" % url) from None
            raise PortError("cannot listen on %s: %s" % (url, e.strerror)) from None
        srv.listen(512)
        srv.setblocking(False)
        self._servers.append(srv)
        self.addresses.append(srv.getsockname()[:2])
        self.emit("listening", address="tcp://%s:%d" % srv.getsockname()[:2])

    # sessions and connections (on the loop)
    def new_session(self, peer):
        return host_bridge.Session(
            self.store,
            self.emit,
            now_iso,
            register=self.register,
            owners=self.owners,
            peer=peer,
        )

    def admit_connection(self, link):
        """None to take a new TCP connection, else why not (it is closed at once)."""
        addr, lim = link.address, self.limits
        bucket = self._accepts.get(addr)
        if bucket is None:
            # as many at once as one address may hold, and a steady rate past that
            rate = max(lim.accepts_per_address_s, lim.per_address / 2)
            bucket = self._accepts[addr] = Bucket(rate, max(lim.accepts_burst, lim.per_address))
        why = None
        if bucket.take(1):
            why = "connecting too often"
        elif self._per_address.get(addr, 0) >= lim.per_address:
            why = "too many connections from %s (%d)" % (addr, lim.per_address)
        elif len(self._links) >= self.max_connections and not self._make_room():
            why = "too many connections (%d)" % self.max_connections
        if why:
            self._refused[addr] = (self._refused.get(addr, (0, why))[0] + 1, why)
            return why
        self._links.add(link)
        self._unproven[link] = None
        self._per_address[addr] = self._per_address.get(addr, 0) + 1
        return None

    def _make_room(self):
        """At the limit on connections: close the oldest one that has had EVICT_AFTER_S to
        prove a key and has not (a flood holds its connections without a word; a tag proves
        its key within a round trip or two). False if there is none."""
        now = time.monotonic()
        while self._unproven:
            link = next(iter(self._unproven))
            if link.closed or (link.session is not None and link.session.device is not None):
                del self._unproven[link]  # proven (or gone) since it came: not a candidate
                continue
            if now - link.started < EVICT_AFTER_S:
                return False  # the rest are younger still
            del self._unproven[link]
            link.close("evicted: connections at the limit, no key proven in %.1f s"
                       % (now - link.started))  # fmt: skip
            link.uncount()  # its slot is free now, not when the transport has closed
            return True
        return False

    def release_connection(self, link):
        self._links.discard(link)
        self._unproven.pop(link, None)
        n = self._per_address.get(link.address, 0) - 1
        if n > 0:
            self._per_address[link.address] = n
        else:
            self._per_address.pop(link.address, None)

    def ingest(self, link, data):
        """A link's bytes through its session, inside this turn's store transaction."""
        if self._group is None:
            self._group = contextlib.ExitStack()
            self._group.enter_context(self.store.group())
        try:
            with self.store.savepoint():
                out = link.session.receive(data)
        except Exception as e:  # a fault of ours: that session alone is undone and closed
            self.emit("session_error", peer=link.name, error=_fault(e))
            link.close("internal error")
            return
        if out:
            link.pending += out
        if link not in self._dirty:
            self._dirty.append(link)

    def ready(self, link):
        """link has input waiting: it is served in a turn."""
        self._queue.push(link)
        if not self._turn_due:
            self._turn_due = True
            self.loop.call_soon(self._turn)

    def _turn(self):
        """Serve links in fair order for TURN_BUDGET_S, then commit and answer them; what
        waits still gets a turn after the loop has looked at its sockets again."""
        self._turn_due = False
        clock = time.perf_counter
        end = clock() + TURN_BUDGET_S
        while True:
            link = self._queue.pop()
            if link is None:
                break
            t0 = clock()
            link.serve()
            t1 = clock()
            self._queue.served(link, t1 - t0)
            if t1 >= end:
                break
        self._flush()
        if len(self._queue) and not self._turn_due:
            self._turn_due = True
            self.loop.call_soon(self._turn)

    def _flush(self):
        """End of a turn: commit once, then answer every connection served in it."""
        group, self._group = self._group, None
        dirty, self._dirty = self._dirty, []
        if group is not None:
            try:
                group.close()  # COMMIT: durable before any reply below is sent
            except Exception as e:  # disk full, I/O error: nothing of this turn is kept
                self.emit("store_error", error=_fault(e))
                for link in dirty:
                    link.close("store error")
                return
        if self._woke:
            self._woke = False
            if self.on_commit is not None:
                self.on_commit()
        for link in dirty:
            link.deliver()

    def sweep(self):
        """Close links past their timeouts; report refused connections (once a sweep)."""
        now = time.monotonic()
        for link in list(self._links) + self._ports:
            why = None if link.closed else link.overdue(now)
            if why:
                link.close(why)
        for addr, (n, why) in self._refused.items():
            self.emit("refused", peer=addr, connections=n, reason=why)
        self._refused = {}
        if len(self._accepts) > 4 * self.max_connections:  # forget idle addresses
            self._accepts = {a: b for a, b in self._accepts.items() if a in self._per_address}
        if not self.stopping.is_set():
            self.loop.call_later(SWEEP_S, self.sweep)

    # the owning thread
    def run(self):
        self.store = host_store.open_store(self.store_path)
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.stopping.set()
            try:
                if self._group is not None:  # a turn cut short: commit what it stored
                    self._flush()
            finally:
                self._close()

    def _close(self):
        for link in list(self._links):
            link.transport.abort()
        self.loop.run_until_complete(asyncio.sleep(0))  # let the transports close
        for srv in self._servers:
            srv.close()
        for p in self._ports:
            if p.threads[0].ident is None:  # never started (stopped before run)
                with contextlib.suppress(Exception):
                    p.ser.close()
            else:
                p.join(2)
        self.loop.close()
        self.store.close()
        self.store = None

    async def _main(self):
        self._done = asyncio.Event()
        if self.stopping.is_set():
            return
        servers = []
        for srv in self._servers:
            servers.append(
                await self.loop.create_server(lambda: TcpLink(self), sock=srv, backlog=512)
            )
        for p in self._ports:
            p.start()
        self.loop.call_later(SWEEP_S, self.sweep)
        try:
            await self._done.wait()
        finally:
            for s in servers:
                s.close()

    def stop(self):
        """Stop run() (from any thread or a signal handler); run() returns when it has
        committed what it holds and closed every port and connection."""
        self.stopping.set()
        loop, done = self.loop, self._done
        if loop is not None and done is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(done.set)


def _fault(e):
    """One line naming an exception and where it came from (for session_error)."""
    where = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    at = " at %s:%d" % (where[0].filename.rsplit("/", 1)[-1], where[0].lineno) if where else ""
    return "%s: %s%s" % (type(e).__name__, str(e)[:200], at)
