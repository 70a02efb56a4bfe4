"""`emtag sim --serve`: a simulated tag whose USB serial console is a real pty or TCP port.

    emtag sim --serve                          # console on a new pty: prints its /dev/pts/N
    emtag sim --serve --port socket://127.0.0.1:7000   # or on TCP (port 0: any free one)

The firmware runs unmodified (MicroPython unix port or CPython, as for `emtag sim`) in
virtual time tied to the wall clock (`--speed` times real time), until Ctrl-C. Bytes from the
port reach the tag at the virtual time they arrive; what the tag writes to its console goes
straight back. Any serial client works: `emtag fit --port ...`, pyserial, mpremote (which
the locked tag ignores), picocom.

With `--uplink tcp:HOST:PORT` the tag uploads to a real `emtag bridge --listen` there instead
of the simulator's own bridge: a standalone bridge (and whatever reads its store or its
MQTT forwarding) fed by a simulated tag in real time. The connection is the tag's link:
when it drops, the tag's uplink sees a dead link and resends, and it is made again.

The pty is put in raw mode, so every byte (0x00, 0x03, ...) passes unchanged. Output the
client does not read is dropped once the pty's buffer is full, as a USB CDC port with no
host would.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import time
import tty

from emtag.firmware.boards import simwire as w
from emtag.firmware.boards.sim import CONSOLE_RXBUF
from emtag.host import ports

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
BENCH = os.path.join(EXAMPLES, "fitting-bench.toml")
POLL_S = 0.25  # longest select() between checks (Ctrl-C, re-anchoring)
# console bytes waiting for the tag's next wake: what its receive buffer holds, so no wake
# brings the tag more than that
CONSOLE_QUEUE = CONSOLE_RXBUF
MAX_LAG_MS = 2000  # virtual time further behind the wall clock than this: catch up at once


class ServeError(ValueError):
    pass


class PtyPort:
    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: bytes pass as they are
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.url = os.ttyname(self.slave)

    def fds(self):
        return [self.master]

    def read(self, ready, n=4096):
        try:
            return os.read(self.master, n)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:  # nobody has the slave open: no input
                return b""
            raise

    def write(self, data):
        try:
            os.write(self.master, data)
        except BlockingIOError:
            pass  # nobody reading: dropped, like USB CDC without a host

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class SocketPort:
    """One client at a time on a TCP port (pyserial's socket:// URL)."""

    def __init__(self, host, port):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
        except OSError as e:
            raise ServeError("cannot listen on %s:%d: %s" % (host, port, e.strerror)) from None
        self.listener.listen(1)
        self.client = None
        host, port = self.listener.getsockname()[:2]
        self.url = "socket://%s:%d" % (host, port)

    def fds(self):
        return [self.client if self.client is not None else self.listener]

    def read(self, ready, n=4096):
        if self.client is None:
            self.client, _ = self.listener.accept()
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return b""
        try:
            data = self.client.recv(n)
        except OSError:
            data = b""
        if not data:  # the client went away: wait for the next one
            self.client.close()
            self.client = None
        return data

    def write(self, data):
        if self.client is not None:
            try:
                self.client.sendall(data)
            except OSError:
                pass

    def close(self):
        if self.client is not None:
            self.client.close()
        self.listener.close()


class BridgeLink:
    """The tag's uplink to an external bridge over TCP, in place of the World's Session:
    receive(data) sends the tag's bytes and returns none; the bridge's replies arrive through
    the Pacer (fds, read), at the virtual time they come in. A lost connection is made again
    (at most every RETRY_S); bytes sent meanwhile are lost, as on a dead link."""

    RETRY_S = 2.0
    START_S = 10.0  # at start, wait this long for the bridge to come up

    def __init__(self, spec):
        try:  # the port spellings of every command (host/ports.py)
            p = ports.parse(str(spec))
        except ports.PortNameError as e:
            raise ServeError("--uplink: %s" % e) from None
        if p.kind != "tcp" or not p.port:
            raise ServeError("uplink must be tcp:HOST:PORT, tcp:PORT or socket://HOST:PORT, "
                             "not %r" % str(spec))
        host, port = p.host, p.port
        self.addr = (host, port)
        self.url = "tcp:%s:%d" % self.addr
        self.sock = None
        self._next_try = 0.0
        give_up = time.monotonic() + self.START_S
        while self.sock is None and time.monotonic() < give_up:
            self._next_try = 0.0
            self._connect()
            if self.sock is None:
                time.sleep(0.2)
        if self.sock is None:
            raise ServeError("cannot reach a bridge at %s (start `emtag bridge --listen "
                             "tcp://%s:%d` first)" % (self.url, host, port))

    def _connect(self):
        if self.sock is not None or time.monotonic() < self._next_try:
            return
        self._next_try = time.monotonic() + self.RETRY_S
        try:
            self.sock = socket.create_connection(self.addr, timeout=2)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.sock = None

    def _drop(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def receive(self, data):
        self._connect()
        if self.sock is not None:
            try:
                self.sock.sendall(data)
            except OSError:
                self._drop()
        return b""

    def fds(self):
        self._connect()
        return [self.sock] if self.sock is not None else []

    def read(self, ready):
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop()
        return data

    def close(self):
        self._drop()


def open_port(spec):
    """pty, or a TCP address to listen on (host/ports.py spellings: tcp:PORT, tcp:HOST:PORT,
    socket://HOST:PORT; PORT 0: any free port). `spec`: the text or a parsed ports.Port."""
    if spec in (None, ""):
        spec = "pty"
    try:
        p = spec if isinstance(spec, ports.Port) else ports.parse(spec, pty=True)
    except ports.PortNameError as e:
        raise ServeError(str(e)) from None
    if p.kind == "pty":
        return PtyPort()
    if p.kind != "tcp":
        raise ServeError(
            "a simulated tag serves its console on pty or a TCP port (tcp:PORT, "
            "tcp:HOST:PORT, socket://HOST:PORT), not %r" % p.text
        )
    return SocketPort(p.host, p.port)


class Pacer:
    """Ties the world's virtual clock to the wall clock and feeds it the console's input.

    World._sleep calls wait(world, t) before it moves virtual time to t: it returns False at
    the wall-clock moment t is due, or True as soon as console bytes arrive (queued for the
    tag at the virtual time they came in). Ctrl-C ends the scenario: the tag shuts down."""

    def __init__(self, port, speed=1.0, link=None):
        if not speed > 0:
            raise ServeError("speed must be positive")
        self.port = port
        self.link = link  # BridgeLink: the external bridge's replies come in here too
        self.speed = speed
        self.stopping = False
        self._v0 = None
        self._w0 = 0.0

    def _virtual(self):
        return self._v0 + (time.monotonic() - self._w0) * 1000.0 * self.speed

    def wait(self, world, t):
        if self.stopping:
            return False
        if self._v0 is None or self._virtual() - world.now > MAX_LAG_MS:
            self._v0, self._w0 = world.now, time.monotonic()  # (re)anchor: no burst after a lag
        try:
            while True:
                now_v = self._virtual()
                if now_v >= t:
                    return False
                timeout = min((t - now_v) / 1000.0 / self.speed, POLL_S)
                # the console is USB CDC: while the tag's receive buffer is full, the host
                # is held off (flow control), so no more is read than it has room for
                held = sum(len(d) for ch, d in world.rx if ch == w.CONSOLE)
                room = CONSOLE_QUEUE - held
                sources = [(self.port, w.CONSOLE)] if room > 0 else []
                if self.link is not None:
                    sources.append((self.link, w.LINK))
                fds = [fd for src, _ in sources for fd in src.fds()]
                ready, _, _ = select.select(fds, [], [], 0 if held else timeout)
                came = held > 0  # the tag wakes to drain what waits for it
                for src, channel in sources:
                    mine = [fd for fd in src.fds() if fd in ready]
                    if not mine:
                        continue
                    data = src.read(mine, room) if channel == w.CONSOLE else src.read(mine)
                    if data:
                        world.now = max(world.now, min(int(now_v), t))
                        if channel == w.LINK:
                            world._to_tag(w.LINK, data)  # through the link's faults
                        else:
                            world.rx.append((channel, data))
                        came = True
                if came and world.rx:
                    world.now = max(world.now, min(int(now_v), t))
                    return True
        except KeyboardInterrupt:
            self.stopping = True
            world.end = world.now  # the tag's next wake says stop; it shuts down cleanly
            return False


def serve(
    scenario_path=None,
    port_spec="pty",
    out_dir=None,
    interpreter=None,
    heapsize=None,
    speed=1.0,
    timeline=None,
    announce=print,
    uplink=None,
    to_end=False,
):
    """Run until Ctrl-C (or SIGTERM); returns the World's events. uplink: the address of an
    external bridge (BridgeLink) the tag uploads to instead of the simulator's own; to_end:
    stop at the scenario's end (duration_s) rather than at Ctrl-C."""
    from emtag.simulator import runner, scenario
    from emtag.simulator.world import World

    sc = scenario.load(scenario_path or BENCH)
    out_dir = out_dir or os.path.join("out", "serve")
    link = BridgeLink(uplink) if uplink else None
    port = open_port(port_spec)
    pacer = Pacer(port, speed, link)
    world = World(sc, out_dir, timeline)
    if link is not None:
        world.bridge = link
    if not to_end:
        world.end = float("inf")  # until interrupted
    world.console_port = port
    world.pacer = pacer

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C stops the run even where the shell started us with SIGINT ignored (background)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        announce(port.url)
        kw = {"heapsize": heapsize} if heapsize else {}
        try:
            runner.run(world, interpreter, **kw)
        except KeyboardInterrupt:
            pass  # interrupted outside the pacer: the firmware stops with the pipes
        except runner.FirmwareCrashed:
            if not pacer.stopping:
                raise
        world.events.add(world.now, "sim", "end")
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)
        port.close()
        if link is not None:
            link.close()
        world.close()
    return world.events.events
