"""A throwaway PostgreSQL server for the tests and benchmarks: initdb in a temporary
directory, postgres on a free port of 127.0.0.1 (and a Unix socket in the same directory),
trust authentication, stopped and removed on stop() (kept, and started again on the same
data, when made with keep=DIR: a benchmark's store reused across runs).

    with PgServer() as pg:
        url = pg.new_database()        # postgresql://postgres@127.0.0.1:PORT/emtag_1

PostgreSQL refuses to run as root, so as root the cluster is made and run as the
`postgres` user (Debian's packages create it) or else `nobody`. The binaries come from
`pg_config --bindir`, Debian's /usr/lib/postgresql/N/bin, or the PATH; none found raises
PgUnavailable (tools/setup.sh installs them with apt-get)."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


class PgUnavailable(RuntimeError):
    pass


def bindir():
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        d = out.stdout.strip()
        if out.returncode == 0 and os.path.isfile(os.path.join(d, "initdb")):
            return d
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise PgUnavailable(
        "no PostgreSQL server binaries (initdb): bash tools/setup.sh installs them "
        "(apt-get install postgresql)"
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as():
    """The user to run the server as: ourselves, or when root a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgUnavailable("running as root and no 'postgres' or 'nobody' user to run PostgreSQL")


class PgServer:
    def __init__(self, durable=False, shared_buffers="128MB", keep=None):
        self.bin = bindir()
        self.durable = durable  # False: fsync off (tests); True: as a real centre runs it
        self.shared_buffers = shared_buffers
        self.keep = keep  # a directory the cluster lives in across runs (benchmarks)
        self.dir = None
        self.proc = None
        self.port = None
        self._n = 0

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _popen_args(self):
        user = _run_as()
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def start(self):
        if self.keep:
            self.dir = os.path.abspath(self.keep)
            os.makedirs(self.dir, exist_ok=True)
        else:
            self.dir = tempfile.mkdtemp(prefix="emtag-pg-")
        user = _run_as()
        if user is not None:
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        data = os.path.join(self.dir, "data")
        env = dict(os.environ, LC_ALL="C", LANG="C")
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            shutil.rmtree(data, ignore_errors=True)  # an initdb cut short
            r = subprocess.run(
                [os.path.join(self.bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--no-sync"],
                capture_output=True, text=True, env=env, cwd=self.dir, **self._popen_args(),
            )  # fmt: skip
            if r.returncode != 0:
                raise PgUnavailable("initdb failed: " + (r.stderr or r.stdout)[-800:])
        self.port = _free_port()
        opts = [
            "-c", "listen_addresses=127.0.0.1", "-c", "port=%d" % self.port,
            "-c", "unix_socket_directories=" + self.dir,
            "-c", "shared_buffers=" + self.shared_buffers,
            "-c", "max_connections=50", "-c", "logging_collector=off",
        ]  # fmt: skip
        if not self.durable:
            opts += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            opts += ["-c", "full_page_writes=off"]
        log = open(os.path.join(self.dir, "postgres.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "postgres"), "-D", data, *opts],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir, **self._popen_args(),
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgUnavailable("postgres exited: " + self.log()[-800:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._ready():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise PgUnavailable("postgres did not start within 60 s")

    def _ready(self):
        import psycopg

        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def log(self):
        try:
            path = os.path.join(self.dir, "postgres.log")
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self, db):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def has_database(self, name):
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()

    def new_database(self, name=None):
        """A fresh empty database; its URL."""
        import psycopg

        self._n += 1
        name = name or "emtag_%d" % self._n
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute('DROP DATABASE IF EXISTS "%s"' % name)
            c.execute('CREATE DATABASE "%s" TEMPLATE template0' % name)
        return self.url(name)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown (SIGTERM waits for clients)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
