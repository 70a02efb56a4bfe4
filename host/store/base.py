"""The store interface: what the bridge writes and what the centre reads, whatever the backend.

Backends (host/store/sqlite.py, host/store/postgres.py) keep their own SQL and their own
migrations and implement every method below with the same meaning; tests run each query on
both (tests/test_store_backends.py). Callers never see SQL or the table layout: rows come
back as the named tuples defined here, so the layout can change (a compact per-block layout,
new tables) without touching them.

Times are UTC Unix seconds (`t`) plus milliseconds (`t_ms`); positions are degrees x 1e7;
accuracy radii are centimetres, as the tag records them (protocol/records.py).
"""

import contextlib
import datetime
from typing import NamedTuple

from emtag.host.store.centre_tables import CentreTables
from emtag.protocol import records as R

# record statuses
VALID = "valid"  # proven by the tag's signature through the chain
EARLY = "early"  # an alert sent ahead of the backlog: its own signature checked, chain not yet
REJECTED = "rejected"  # (stores before schema 5) refused input now lives in add_rejected

# Rejected input is kept for diagnosis, apart from the tags' evidence (never in a bundle),
# and bounded: the newest REJECTED_PER_DEVICE per device and REJECTED_TOTAL in all.
REJECTED_PER_DEVICE = 1000
REJECTED_TOTAL = 100000

# breach alerts and the alert that ends each (per zone)
BREACH_CLEARS = {
    "exclusion_breach": "exclusion_clear",
    "inclusion_breach": "inclusion_clear",
    "curfew_breach": "curfew_clear",
}
BATTERY_ALERTS = ("battery_low", "battery_critical", "charging_started", "charging_stopped")


def iso_utc(t: int, t_ms: int | None = None) -> str:
    """ISO 8601 UTC with milliseconds, as the bridge writes `received`."""
    dt = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t_ms or 0)


class StoreError(Exception):
    """A store that cannot be used (missing, not emtag's, too new, unreachable), with a
    message a person can act on."""


class Fix(NamedTuple):
    """A position the tag recorded: a fix record, or the fix an alert carries."""

    seq: int
    t: int
    t_ms: int
    lat_e7: int
    lon_e7: int
    acc_cm: int | None


class Record(NamedTuple):
    """A stored record's query columns and the exact wire item the tag sent."""

    seq: int
    type: int
    t: int | None
    t_ms: int | None
    lat_e7: int | None
    lon_e7: int | None
    acc_cm: int | None
    alert: str | None
    zone: str | None
    status: str
    received: str
    wire: bytes


class Alert(NamedTuple):
    """An alert with the centre's acknowledgement state (acked_at None: not yet)."""

    device: str
    seq: int
    t: int | None
    t_ms: int | None
    alert: str
    zone: str | None
    lat_e7: int | None
    lon_e7: int | None
    acc_cm: int | None
    status: str  # VALID, or EARLY while the chain has not reached it
    received: str
    acked_by: str | None
    acked_at: str | None
    note: str | None


class Device(NamedTuple):
    device: str
    public_key: bytes
    firmware: str | None
    first_seen: str


class DeviceStatus(NamedTuple):
    """What a centre's tag list shows for one tag."""

    device: str
    firmware: str | None
    first_seen: str
    last_received: str | None  # bridge time of the newest record stored
    last_t: int | None  # tag time of the newest record stored
    last_fix: Fix | None
    battery: str | None  # newest of battery_low/critical, charging_started/stopped; None
    open_breaches: tuple  # ((alert, zone, seq, t), ...) without a later clear
    unacked_alerts: int


class RetentionRun(NamedTuple):
    run_at: str
    cutoff_t: int
    policy: str
    records: int
    outbox: int
    acks: int


class Store(CentreTables):
    """The interface. A backend implements every method; docstrings say what each means.
    The centre's own tables (users, audit, escalations, victims) are CentreTables'
    methods, written once over the backends' _cq/_cw."""

    kind = "?"  # "sqlite" or "postgresql"
    target = ""  # path or URL, for messages

    # --- the bridge (host/bridge.py): writes, committed before anything is acknowledged
    def device(self, device: str) -> bytes | None:
        """The tag's public key (65-byte SEC1), None for a tag not in the store."""
        raise NotImplementedError

    def add_device(self, device: str, public_key: bytes, firmware: str, when: str) -> None:
        raise NotImplementedError

    def last_valid(self, device: str) -> tuple[int, bytes | None]:
        """(seq, wire item) of the newest valid record, or (0, None)."""
        raise NotImplementedError

    def add_records(self, rows: list[dict]) -> None:
        """Insert record rows (dicts of the store's columns, see host/bridge.py _row) in one
        transaction; a valid fix or alert and an early alert also enter the MQTT outbox."""
        raise NotImplementedError

    def has_record(self, device: str, seq: int, status: str) -> bool:
        raise NotImplementedError

    def valid_wire(self, device: str, seq: int) -> bytes | None:
        raise NotImplementedError

    # --- evidence (host/bundle.py, emtag export, the simulator's checks)
    def records(self, device: str, status: str = VALID) -> list[tuple]:
        """(seq, type, t, lat_e7, lon_e7, acc_cm, alert, zone, wire) of the device's records
        with this status, in seq order."""
        raise NotImplementedError

    def valid_span(self, device: str, t_from: int, t_to: int) -> tuple[int, int, int] | None:
        """(first seq, last seq) of the valid fixes, alerts and restarts with t_from <= t <=
        t_to, and the seq of the signed record that seals the last of them; None if none."""
        raise NotImplementedError

    def valid_rows(self, device: str, first_seq: int, last_seq: int) -> list[tuple]:
        """(seq, type, t, wire) of valid records first_seq..last_seq, in seq order."""
        raise NotImplementedError

    def group(self):
        """A context: writes inside commit together, once, when it ends (all rolled back if
        it raises); nothing written inside may be acknowledged before it has ended. The
        bridge's I/O loop serves every connection of a turn in one group (one synced commit
        for many batches). Groups do not nest."""
        return contextlib.nullcontext(self)

    def savepoint(self):
        """A context inside a group: its writes are undone alone if it raises (one session's
        failure does not undo the others')."""
        return contextlib.nullcontext(self)

    def add_rejected(self, device: str, rows: list[tuple], when: str, peer: str | None) -> None:
        """Keep what a device's connection sent and the bridge refused, (seq, reason, wire)
        each, for diagnosis, apart from the evidence and bounded (REJECTED_PER_DEVICE,
        REJECTED_TOTAL: the oldest go first)."""
        raise NotImplementedError

    def rejected(self, device: str) -> list[tuple]:
        """(seq, reason, wire) of the refused items kept for a device, oldest first."""
        raise NotImplementedError

    # --- MQTT forwarding (host/forward.py)
    def outbox_pending(self, limit: int) -> list[tuple]:
        """Up to `limit` unforwarded outbox rows, alerts first, then oldest first:
        (outbox id, device, seq, kind, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone,
        status, received, wire)."""
        raise NotImplementedError

    def mark_forwarded(self, ids: list[int], when: str) -> None:
        raise NotImplementedError

    def outbox_backlog(self) -> int:
        raise NotImplementedError

    # --- the centre: reads
    def devices(self) -> list[Device]:
        raise NotImplementedError

    def resolve_device(self, text: str) -> str:
        """The full device id for an id or a unique prefix of one; StoreError if none or
        several match."""
        text = text.strip().lower()
        if not text or any(c not in "0123456789abcdef" for c in text):
            raise StoreError("device %r: not a hex device id" % text)
        match = [d.device for d in self.devices() if d.device.startswith(text)]
        if len(match) != 1:
            raise StoreError(
                "device %s: %s in %s" % (text, "ambiguous" if match else "not", self.target)
            )
        return match[0]

    def fixes(self, device: str, t_from: int, t_to: int) -> list[Fix]:
        """Valid positions (fixes and the fixes alerts carry) with t_from <= t <= t_to, in
        time order."""
        raise NotImplementedError

    def fix_before(self, device: str, t: int, t_ms: int = 999) -> Fix | None:
        """The newest valid position at or before t (t_ms)."""
        raise NotImplementedError

    def fix_after(self, device: str, t: int, t_ms: int = 0) -> Fix | None:
        """The oldest valid position after t (t_ms)."""
        raise NotImplementedError

    def records_between(
        self, device: str, t_from: int, t_to: int, types: tuple = (R.ALERT, R.RESTART, R.CHECKPOINT)
    ) -> list[Record]:
        """Valid records of these types with t_from <= t <= t_to, in seq order."""
        raise NotImplementedError

    def newest_record(self, device: str) -> Record | None:
        """The valid record with the highest seq (what the bridge has up to now)."""
        raise NotImplementedError

    def alerts(
        self,
        device: str | None = None,
        t_from: int | None = None,
        t_to: int | None = None,
        unacked_only: bool = False,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts (valid, or early while the chain has not reached them; one per seq), newest
        first, with their acknowledgement: the centre's alert queue."""
        raise NotImplementedError

    def acknowledge_alert(self, device: str, seq: int, by: str, when: str, note: str = "") -> bool:
        """Mark an alert acknowledged by a person; False if no such alert or already done."""
        raise NotImplementedError

    def latest_alerts(self) -> list[tuple]:
        """(device, alert, zone, seq, t) of the newest alert of each kind per device and zone
        (valid or early): what open breaches and battery states are read from."""
        raise NotImplementedError

    def last_fixes(self) -> dict[str, Fix]:
        """The newest valid position of every device."""
        raise NotImplementedError

    def last_records(self) -> dict[str, tuple]:
        """device -> (t, received) of its newest valid record (highest seq)."""
        raise NotImplementedError

    def unacked_counts(self) -> dict[str, int]:
        raise NotImplementedError

    def device_status(self) -> list[DeviceStatus]:
        """Every tag with its last position, battery state, open breaches and unacknowledged
        alerts (the centre's tag list)."""
        last_fix = self.last_fixes()
        last_rec = self.last_records()
        unacked = self.unacked_counts()
        latest: dict[str, dict] = {}
        for device, alert, zone, seq, t in self.latest_alerts():
            latest.setdefault(device, {})[(alert, zone)] = (seq, t)
        out = []
        for d in self.devices():
            mine = latest.get(d.device, {})
            battery = max(
                ((seq, kind) for (kind, _), (seq, _t) in mine.items() if kind in BATTERY_ALERTS),
                default=(0, None),
            )[1]
            open_ = []
            for (kind, zone), (seq, t) in mine.items():
                clear = BREACH_CLEARS.get(kind)
                if clear and mine.get((clear, zone), (0, 0))[0] < seq:
                    open_.append((kind, zone, seq, t))
            t_last, received = last_rec.get(d.device, (None, None))
            out.append(
                DeviceStatus(
                    d.device,
                    d.firmware,
                    d.first_seen,
                    received,
                    t_last,
                    last_fix.get(d.device),
                    battery,
                    tuple(sorted(open_, key=lambda b: b[2])),
                    unacked.get(d.device, 0),
                )
            )
        return out

    def fixes_near(
        self, lat_e7: int, lon_e7: int, radius_m: float, t_from: int, t_to: int
    ) -> list[tuple[str, Fix]]:
        """(device, position) of every tag's valid positions with t_from <= t <= t_to whose
        centre lies within radius_m of the point (great circle), in time order."""
        from emtag.host import geo

        lo_lat, hi_lat, lo_lon, hi_lon = geo.bbox_e7(lat_e7, lon_e7, radius_m)
        rows = self._fixes_in_box(t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon)
        return [
            (dev, f)
            for dev, f in rows
            if geo.distance_m(lat_e7, lon_e7, f.lat_e7, f.lon_e7) <= radius_m
        ]

    def _fixes_in_box(self, t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon):
        raise NotImplementedError

    # --- retention (emtag store retention)
    def delete_before(self, cutoff_t: int, policy: str, when: str) -> RetentionRun:
        """Delete records older than cutoff_t (tag time; bridge time for records without
        one) with their outbox rows and acknowledgements, keeping each device's newest valid
        record (the bridge continues the chain from it), and log the run."""
        raise NotImplementedError

    def retention_runs(self) -> list[RetentionRun]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


RECORD_COLUMNS = (
    "device",
    "seq",
    "type",
    "t",
    "t_ms",
    "lat_e7",
    "lon_e7",
    "acc_cm",
    "alert",
    "zone",
    "status",
    "reason",
    "received",
    "cose",
    "hash",
    "sealed_by",
)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


def describe(target: str) -> str:
    """The target for messages and logs, without a password."""
    if not is_postgres(target):
        return str(target)
    import urllib.parse

    u = urllib.parse.urlsplit(target)
    if u.password:
        netloc = "%s:***@%s" % (u.username or "", u.hostname or "")
        if u.port:
            netloc += ":%d" % u.port
        return urllib.parse.urlunsplit(u._replace(netloc=netloc))
    return target
