"""The bridge's I/O around bridge.Session: serial ports and a TCP listener, one store.

    br = Bridge("store.sqlite", emit)            # emit(type, **fields); or postgresql://...
    br.add_port("/dev/ttyACM0")                  # any pyserial URL: a device, a pty,
                                                 # socket://HOST:PORT, loop://, rfc2217://
    br.listen("tcp://127.0.0.1:7000")            # many tags (simulated ones) at once
    br.run()                                     # until br.stop() (another thread, a signal)

One thread owns the store and every Session (one writer connection; the sessions are
cheap), so a record is verified, committed and only then acknowledged, whichever port it
came in on. Each serial port has a reader thread that hands bytes to it; a port that goes
away (unplugged, the peer of socket:// closing) is reopened every RETRY_S and gets a fresh
Session (the tag says HELLO again when the bridge answers "hello first"). TCP connections
are served by the owning thread itself (selectors), one Session each.

Opening a port fails with PortError and a message a person can act on: no such port, port
busy (another program holds it: ports are opened exclusively), permission denied,
connection refused.
"""

import datetime
import errno
import queue
import selectors
import socket
import threading
import urllib.parse

import cbor2

from emtag.host import bridge as host_bridge
from emtag.host import store as host_store
from emtag.protocol import frame
from emtag.protocol import messages as m

RETRY_S = 1.0
READ_TIMEOUT_S = 0.2
# sent when a session starts: NACK of seq 0, "hello first" (protocol/uplink.cddl)
INVITE = frame.encode(cbor2.dumps([m.NACK, 0, "hello first"]))


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


def open_port(url, baudrate=115200):
    """A pyserial port for any URL pyserial knows, opened exclusively; PortError if not."""
    import serial

    try:
        ser = serial.serial_for_url(
            url, baudrate=baudrate, timeout=READ_TIMEOUT_S, exclusive=True, do_not_open=True
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


class _Conn:
    """One link to a tag: a serial port or a TCP connection, with its Session."""

    def __init__(self, name, write):
        self.name = name
        self.write = write
        self.session = None


class Bridge:
    def __init__(self, store_path, emit, register=True, on_commit=None, baudrate=115200):
        self.store_path = store_path
        host_store.open_store(store_path).close()  # fails here, early, if it is unusable
        self.store = None  # opened by run(), in the thread that uses it
        self._emit = emit
        self.register = register
        self.on_commit = on_commit  # called after each commit (wakes the MQTT forwarder)
        self.baudrate = baudrate
        self._inbox = queue.Queue()  # (conn, bytes) from reader threads; bytes None: lost
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = threading.Event()
        self._threads = []
        self.addresses = []  # (host, port) actually listened on (port 0: the one chosen)

    def emit(self, kind, **fields):
        self._emit(kind, **fields)
        if self.on_commit is not None and kind in ("records_stored", "alert_early"):
            self.on_commit()

    # ports
    def add_port(self, url):
        """Open a serial port now (PortError if it cannot be), then serve it from a thread."""
        ser = open_port(url, self.baudrate)
        t = threading.Thread(target=self._serial_reader, args=(url, ser), daemon=True)
        t.name = "emtag-port " + url
        self._threads.append(t)
        t.start()

    def _serial_reader(self, url, ser):
        while not self._stop.is_set():
            conn = _Conn(url, ser.write)
            self._post(conn, b"")  # a fresh session for this port
            self.emit("port_open", port=url)
            try:
                while not self._stop.is_set():
                    data = ser.read(ser.in_waiting or 1)
                    if data:
                        self._post(conn, data)
            except Exception as e:  # pyserial raises SerialException, OSError, TypeError...
                self.emit("port_lost", port=url, error=str(e)[:200])
            finally:
                self._post(conn, None)
                try:
                    ser.close()
                except Exception:  # closing a port that is gone: nothing left to do
                    pass
            while not self._stop.wait(RETRY_S):
                try:
                    ser = open_port(url, self.baudrate)
                    break
                except PortError:
                    continue
        try:
            ser.close()
        except Exception:  # see above
            pass

    def _post(self, conn, data):
        self._inbox.put((conn, data))
        try:
            self._wake_w.send(b"\x00")
        except OSError:  # the bridge is shutting down
            pass

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
        srv.listen(64)
        srv.setblocking(False)
        self._sel.register(srv, selectors.EVENT_READ, "listen")
        self.addresses.append(srv.getsockname()[:2])
        self.emit("listening", address="tcp://%s:%d" % srv.getsockname()[:2])

    # the owning thread
    def run(self):
        self.store = host_store.open_store(self.store_path)
        try:
            while not self._stop.is_set():
                for key, _ in self._sel.select(0.5):
                    if key.data == "wake":
                        self._drain_wake()
                    elif key.data == "listen":
                        self._accept(key.fileobj)
                    else:
                        self._tcp_read(key.fileobj, key.data)
                self._drain_inbox()
        finally:
            self._close()

    def stop(self):
        self._stop.set()
        try:
            self._wake_w.send(b"\x00")
        except OSError:  # already closed
            pass

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _drain_inbox(self):
        while True:
            try:
                conn, data = self._inbox.get_nowait()
            except queue.Empty:
                return
            if data is None:
                conn.session = None
                continue
            self._feed(conn, data)

    def _session(self):
        return host_bridge.Session(self.store, self.emit, now_iso, register=self.register)

    def _feed(self, conn, data):
        if conn.session is None:
            conn.session = self._session()
            self._invite(conn)
        if not data:
            return
        reply = conn.session.receive(data)  # verified and committed before we answer
        if reply:
            try:
                conn.write(reply)
            except Exception as e:  # the port went away mid-write: the tag resends
                self.emit("write_failed", port=conn.name, error=str(e)[:200])

    def _invite(self, conn):
        """A new session: tell whatever tag is there to say HELLO (a tag that was mid-upload
        to a bridge that died resumes at once instead of after its resend timeout)."""
        try:
            conn.write(INVITE)
        except Exception as e:  # the port is already gone again
            self.emit("write_failed", port=conn.name, error=str(e)[:200])

    def _accept(self, srv):
        try:
            sock, peer = srv.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        sock.settimeout(5)
        name = "tcp://%s:%d" % peer[:2]
        conn = _Conn(name, sock.sendall)
        conn.session = self._session()
        self._sel.register(sock, selectors.EVENT_READ, conn)
        self.emit("connected", peer=name)
        self._invite(conn)

    def _tcp_read(self, sock, conn):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(sock)
            sock.close()
            self.emit("disconnected", peer=conn.name)
            return
        self._feed(conn, data)

    def _close(self):
        self._stop.set()
        for key in list(self._sel.get_map().values()):
            if key.data not in ("wake",):
                try:
                    key.fileobj.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(2)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        self.store.close()
        self.store = None
