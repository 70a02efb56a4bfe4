"""The monitoring centre's own tables in the store (part of the store interface, base.Store):
its users and their tag assignments, the audit log, notes and escalations on alerts, the
alerts the centre itself raises (victim_proximity), victims' phones and their positions, and
a little state (the feed's cursor).

One implementation for both backends: every method is written over two primitives each
backend provides, _cq (a read) and _cw (a write, one transaction), in SQL both SQLite and
PostgreSQL run (placeholders are '?'; the PostgreSQL backend turns them into '%s'). The
tables are created by each backend's migrations (SQLite 5, PostgreSQL 3).

Alert references: a tag's alert is "DEVICE/SEQ", an alert the centre raised "centre/ID";
notes and escalations hang off either.
"""

from typing import NamedTuple

ROLES = ("officer", "admin")


class User(NamedTuple):
    name: str
    role: str  # "officer" or "admin"
    password_hash: str  # argon2 (centre/web/auth.py); never shown
    created: str
    disabled: bool


class AuditEntry(NamedTuple):
    id: int
    at: str  # ISO 8601 UTC
    user: str
    action: str  # view_tag, view_trail, ack, note, escalate, login_failed, denied, ...
    device: str | None
    detail: str
    client: str | None  # the client's address


class CentreAlert(NamedTuple):
    """An alert the centre raised from what it holds (not signed by a tag)."""

    id: int
    device: str
    kind: str  # victim_proximity, victim_proximity_clear
    t: int  # when the situation arose (the later of the two positions' times)
    lat_e7: int | None  # the wearer's position it rests on
    lon_e7: int | None
    acc_cm: int | None
    detail: str  # JSON: victim, distances, the records it rests on
    raised: str  # centre time, ISO 8601 UTC
    acked_by: str | None
    acked_at: str | None
    note: str | None


class AlertNote(NamedTuple):
    ref: str
    at: str
    by: str
    note: str


class Escalation(NamedTuple):
    ref: str
    at: str
    by: str  # a user, or "centre" for the automatic rule
    reason: str


class Victim(NamedTuple):
    name: str
    token_hash: str  # SHA-256 hex of the phone's token (the token itself is never stored)
    distance_m: float | None  # None: the centre's default
    devices: tuple  # the wearers this victim is protected from
    created: str


class VictimPosition(NamedTuple):
    id: int
    victim: str
    t: int
    lat_e7: int
    lon_e7: int
    acc_cm: int
    received: str


class FeedRow(NamedTuple):
    """A stored position-bearing record, in store order (the centre's polling feed)."""

    id: int
    device: str
    seq: int
    type: int  # 1 fix, 2 alert
    t: int | None
    t_ms: int | None
    lat_e7: int | None
    lon_e7: int | None
    acc_cm: int | None
    alert: str | None
    zone: str | None
    status: str


def tag_ref(device, seq):
    return "%s/%d" % (device, seq)


def centre_ref(alert_id):
    return "centre/%d" % alert_id


class CentreTables:
    """Mixed into base.Store. Backends implement _cq(sql, args) -> rows and
    _cw(sql, args) -> (rowcount, rows of RETURNING)."""

    def _cq(self, sql, args=()):
        raise NotImplementedError

    def _cw(self, sql, args=()):
        raise NotImplementedError

    # --- users and assignments
    def add_user(self, name: str, role: str, password_hash: str, when: str) -> bool:
        """A new user; False if the name is taken."""
        n, _ = self._cw(
            "INSERT INTO centre_users(name, role, password_hash, created, disabled) "
            "VALUES (?,?,?,?,0) ON CONFLICT DO NOTHING",
            (name, role, password_hash, when),
        )
        return n == 1

    def set_user(self, name, password_hash=None, role=None, disabled=None) -> bool:
        """Change a user's password hash, role or disabled flag; False if no such user."""
        sets, args = [], []
        for col, value in (("password_hash", password_hash), ("role", role)):
            if value is not None:
                sets.append(col + " = ?")
                args.append(value)
        if disabled is not None:
            sets.append("disabled = ?")
            args.append(1 if disabled else 0)
        if not sets:
            return self.user(name) is not None
        n, _ = self._cw(
            "UPDATE centre_users SET %s WHERE name = ?" % ", ".join(sets), (*args, name)
        )
        return n == 1

    def user(self, name: str) -> User | None:
        rows = self._cq(
            "SELECT name, role, password_hash, created, disabled FROM centre_users WHERE name = ?",
            (name,),
        )
        return User(*rows[0][:4], bool(rows[0][4])) if rows else None

    def users(self) -> list[User]:
        rows = self._cq(
            "SELECT name, role, password_hash, created, disabled FROM centre_users ORDER BY name"
        )
        return [User(*r[:4], bool(r[4])) for r in rows]

    def assign(self, user: str, device: str, when: str) -> bool:
        """Give an officer a tag; False if already theirs."""
        n, _ = self._cw(
            "INSERT INTO centre_assignments(user_name, device, since) VALUES (?,?,?) "
            "ON CONFLICT DO NOTHING",
            (user, device, when),
        )
        return n == 1

    def unassign(self, user: str, device: str) -> bool:
        n, _ = self._cw(
            "DELETE FROM centre_assignments WHERE user_name = ? AND device = ?", (user, device)
        )
        return n == 1

    def assignments(self, user: str | None = None) -> list[tuple[str, str]]:
        """(user, device) pairs, of one user or all."""
        if user is None:
            return [
                tuple(r)
                for r in self._cq(
                    "SELECT user_name, device FROM centre_assignments ORDER BY user_name, device"
                )
            ]
        rows = self._cq(
            "SELECT user_name, device FROM centre_assignments WHERE user_name = ? ORDER BY device",
            (user,),
        )
        return [tuple(r) for r in rows]

    # --- the audit log: append only
    def audit(self, at, user, action, device=None, detail="", client=None) -> None:
        self._cw(
            "INSERT INTO centre_audit(at, user_name, action, device, detail, client) "
            "VALUES (?,?,?,?,?,?)",
            (at, user, action, device, detail, client),
        )

    def audit_log(self, user=None, device=None, action=None, limit=200) -> list[AuditEntry]:
        """Newest first."""
        where, args = [], []
        for col, value in (("user_name", user), ("device", device), ("action", action)):
            if value is not None:
                where.append(col + " = ?")
                args.append(value)
        sql = "SELECT id, at, user_name, action, device, detail, client FROM centre_audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %d" % int(limit)
        return [AuditEntry(*r) for r in self._cq(sql, args)]

    # --- notes and escalations on any alert (ref: tag_ref or centre_ref)
    def add_alert_note(self, ref: str, by: str, at: str, note: str) -> None:
        self._cw(
            "INSERT INTO centre_alert_notes(ref, at, by_user, note) VALUES (?,?,?,?)",
            (ref, at, by, note),
        )

    def alert_notes(self, refs) -> dict[str, list[AlertNote]]:
        out: dict[str, list[AlertNote]] = {}
        refs = list(refs)
        for i in range(0, len(refs), 500):
            chunk = refs[i : i + 500]
            rows = self._cq(
                "SELECT ref, at, by_user, note FROM centre_alert_notes WHERE ref IN (%s) "
                "ORDER BY id" % ",".join("?" * len(chunk)),
                chunk,
            )
            for r in rows:
                out.setdefault(r[0], []).append(AlertNote(*r))
        return out

    def escalate(self, ref: str, by: str, at: str, reason: str) -> bool:
        """Escalate an alert once; False if it already was."""
        n, _ = self._cw(
            "INSERT INTO centre_escalations(ref, at, by_user, reason) VALUES (?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            (ref, at, by, reason),
        )
        return n == 1

    def escalations(self, refs=None) -> dict[str, Escalation]:
        if refs is None:
            rows = self._cq("SELECT ref, at, by_user, reason FROM centre_escalations")
        else:
            refs, rows = list(refs), []
            for i in range(0, len(refs), 500):
                chunk = refs[i : i + 500]
                rows += self._cq(
                    "SELECT ref, at, by_user, reason FROM centre_escalations WHERE ref IN (%s)"
                    % ",".join("?" * len(chunk)),
                    chunk,
                )
        return {r[0]: Escalation(*r) for r in rows}

    def escalations_after(self, at: str, ref: str, limit: int = 100) -> list[Escalation]:
        """Escalations after (at, ref) in (at, ref) order: what the notifier has not sent."""
        rows = self._cq(
            "SELECT ref, at, by_user, reason FROM centre_escalations "
            "WHERE at > ? OR (at = ? AND ref > ?) ORDER BY at, ref LIMIT ?",
            (at, at, ref, limit),
        )
        return [Escalation(*r) for r in rows]

    # --- alerts the centre raises
    def add_centre_alert(self, device, kind, t, lat_e7, lon_e7, acc_cm, detail, raised) -> int:
        _, rows = self._cw(
            "INSERT INTO centre_alerts(device, kind, t, lat_e7, lon_e7, acc_cm, detail, raised) "
            "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (device, kind, t, lat_e7, lon_e7, acc_cm, detail, raised),
        )
        return rows[0][0]

    def centre_alerts(self, device=None, unacked_only=False, limit=None) -> list[CentreAlert]:
        """Newest first (by t, then id)."""
        where, args = [], []
        if device is not None:
            where.append("device = ?")
            args.append(device)
        if unacked_only:
            where.append("acked_at IS NULL")
        sql = (
            "SELECT id, device, kind, t, lat_e7, lon_e7, acc_cm, detail, raised, acked_by, "
            "acked_at, note FROM centre_alerts"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t DESC, id DESC"
        if limit is not None:
            sql += " LIMIT %d" % int(limit)
        return [CentreAlert(*r) for r in self._cq(sql, args)]

    def centre_alert(self, alert_id: int) -> CentreAlert | None:
        rows = self._cq(
            "SELECT id, device, kind, t, lat_e7, lon_e7, acc_cm, detail, raised, acked_by, "
            "acked_at, note FROM centre_alerts WHERE id = ?",
            (alert_id,),
        )
        return CentreAlert(*rows[0]) if rows else None

    def acknowledge_centre_alert(self, alert_id: int, by: str, when: str, note="") -> bool:
        """False if no such alert or already acknowledged."""
        n, _ = self._cw(
            "UPDATE centre_alerts SET acked_by = ?, acked_at = ?, note = ? "
            "WHERE id = ? AND acked_at IS NULL",
            (by, when, note, alert_id),
        )
        return n == 1

    # --- victims' phones (their positions never leave the centre)
    def add_victim(self, name, token_hash, distance_m, devices, when) -> bool:
        """False if the name is taken."""
        n, _ = self._cw(
            "INSERT INTO centre_victims(name, token_hash, distance_m, created) VALUES (?,?,?,?) "
            "ON CONFLICT DO NOTHING",
            (name, token_hash, distance_m, when),
        )
        if n != 1:
            return False
        for d in devices:
            self._cw(
                "INSERT INTO centre_victim_wearers(victim, device) VALUES (?,?) "
                "ON CONFLICT DO NOTHING",
                (name, d),
            )
        return True

    def set_victim_token(self, name: str, token_hash: str) -> bool:
        n, _ = self._cw(
            "UPDATE centre_victims SET token_hash = ? WHERE name = ?", (token_hash, name)
        )
        return n == 1

    def victims(self, device=None) -> list[Victim]:
        """Every victim, or those protected from one wearer."""
        pairs = self._cq("SELECT victim, device FROM centre_victim_wearers ORDER BY device")
        wearers: dict[str, list[str]] = {}
        for v, d in pairs:
            wearers.setdefault(v, []).append(d)
        rows = self._cq(
            "SELECT name, token_hash, distance_m, created FROM centre_victims ORDER BY name"
        )
        out = [Victim(r[0], r[1], r[2], tuple(wearers.get(r[0], ())), r[3]) for r in rows]
        return [v for v in out if device is None or device in v.devices]

    def victim_by_token(self, token_hash: str) -> Victim | None:
        rows = self._cq("SELECT name FROM centre_victims WHERE token_hash = ?", (token_hash,))
        if not rows:
            return None
        return next((v for v in self.victims() if v.name == rows[0][0]), None)

    def add_victim_positions(self, victim: str, positions, received: str) -> list[int]:
        """Store (t, lat_e7, lon_e7, acc_cm) rows; their ids."""
        ids = []
        for t, lat, lon, acc in positions:
            _, rows = self._cw(
                "INSERT INTO centre_victim_positions(victim, t, lat_e7, lon_e7, acc_cm, received) "
                "VALUES (?,?,?,?,?,?) RETURNING id",
                (victim, t, lat, lon, acc, received),
            )
            ids.append(rows[0][0])
        return ids

    def victim_position(self, victim: str, t: int, after=False) -> VictimPosition | None:
        """The newest position at or before t (after=True: the oldest after t)."""
        cols = "id, victim, t, lat_e7, lon_e7, acc_cm, received"
        if after:
            sql = "WHERE victim = ? AND t > ? ORDER BY t, id LIMIT 1"
        else:
            sql = "WHERE victim = ? AND t <= ? ORDER BY t DESC, id DESC LIMIT 1"
        rows = self._cq("SELECT %s FROM centre_victim_positions %s" % (cols, sql), (victim, t))
        return VictimPosition(*rows[0]) if rows else None

    # --- the centre's own state (the polling feed's cursor)
    def centre_get(self, key: str) -> str | None:
        rows = self._cq("SELECT value FROM centre_state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def centre_set(self, key: str, value: str) -> None:
        self._cw(
            "INSERT INTO centre_state(key, value) VALUES (?,?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def feed(self, after_id: int, limit: int = 1000) -> list[FeedRow]:
        """Valid and early fixes and alerts stored after record id after_id, in id order."""
        rows = self._cq(
            "SELECT id, device, seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, status "
            "FROM records WHERE id > ? AND type IN (1, 2) AND status IN ('valid', 'early') "
            "AND seq IS NOT NULL ORDER BY id LIMIT %d" % int(limit),
            (after_id,),
        )
        return [FeedRow(*r) for r in rows]

    def feed_head(self) -> int:
        """The highest record id stored (0 for none)."""
        rows = self._cq("SELECT MAX(id) FROM records")
        return rows[0][0] or 0
