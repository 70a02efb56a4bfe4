"""Who may use the centre: password hashes (argon2id through argon2-cffi), login sessions
(random tokens held in memory: a restart logs everyone out), CSRF tokens, and the limit on
failed logins.

A session cookie is HttpOnly and SameSite=Strict; every POST must also carry the session's
CSRF token (a form field or the X-CSRF-Token header), compared in constant time.
"""

import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()  # argon2id, the library's current defaults (RFC 9106 profile)
# verified against for unknown users, so a wrong name costs what a wrong password does
_DUMMY = _hasher.hash(secrets.token_hex(16))


class PasswordError(ValueError):
    pass


def check_password_rules(password):
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordError("a password needs at least %d characters" % MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise PasswordError("a password has at most %d characters" % MAX_PASSWORD)


def hash_password(password):
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(stored_hash, password):
    """True if password matches; an unknown user (stored_hash None) costs the same."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class Session:
    __slots__ = ("token", "user", "role", "csrf", "last")

    def __init__(self, user, role):
        self.token = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.user, self.role = user, role
        self.last = time.monotonic()


class Sessions:
    def __init__(self, idle_s=1800.0, clock=time.monotonic):
        self.idle_s = idle_s
        self.clock = clock
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user, role):
        s = Session(user, role)
        s.last = self.clock()
        with self._lock:
            self._by_token[s.token] = s
        return s

    def get(self, token):
        """The live session for a cookie's token, its idle timer restarted; None if none."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            if now - s.last > self.idle_s:
                del self._by_token[token]
                return None
            s.last = now
            return s

    def drop(self, token):
        with self._lock:
            self._by_token.pop(token, None)

    def drop_user(self, user):
        with self._lock:
            for t in [t for t, s in self._by_token.items() if s.user == user]:
                del self._by_token[t]


def csrf_ok(session, given):
    return bool(given) and hmac.compare_digest(session.csrf.encode(), str(given).encode())


class LoginLimiter:
    """Failed logins per user name and per client address: the FREE-th failure within
    WINDOW_S locks out further tries for BASE_S, each failure after it doubling the wait up
    to MAX_S. A
    success clears the name's count (not the address's)."""

    FREE = 5
    WINDOW_S = 900.0
    BASE_S = 30.0
    MAX_S = 900.0
    FREE_PER_ADDRESS = 20

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._fails: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _keys(self, name, client):
        addr = ("addr:" + str(client), self.FREE_PER_ADDRESS)
        return (addr,) if name is None else (("user:" + name.lower(), self.FREE), addr)

    def retry_after(self, name, client):
        """Seconds until this name from this address may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [self._locked_until.get(k, 0) - now for k, _ in self._keys(name, client)]
        return max(0.0, *waits)

    def failed(self, name, client):
        now = self.clock()
        with self._lock:
            for key, free in self._keys(name, client):
                fails = [t for t in self._fails.get(key, []) if now - t < self.WINDOW_S]
                fails.append(now)
                self._fails[key] = fails
                over = len(fails) - free + 1
                if over > 0:
                    wait = min(self.MAX_S, self.BASE_S * 2 ** (over - 1))
                    self._locked_until[key] = now + wait

    def succeeded(self, name):
        with self._lock:
            key = "user:" + name.lower()
            self._fails.pop(key, None)
            self._locked_until.pop(key, None)
