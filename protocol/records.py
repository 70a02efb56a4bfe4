"""Evidence records: what the tag logs, signs and uploads (schema: protocol/records.cddl).

Every record has a per-tag sequence number. On the wire, in the tag's log and in evidence
files a record is one CBOR item (a "wire item"):

- a fix is a byte string: the compact, delta-encoded fix (protocol/fixcodec.py);
- an alert or a restart is an ES256 COSE_Sign1 (tag 18, kid = device id) over a CBOR map
  with small integer keys, signed at once;
- a checkpoint is an ES256 COSE_Sign1 over {type, seq, time, count} whose external AAD
  binds the block it seals: the device id, the block's first seq and the SHA-256 of the
  block's records in order (`block_aad`): an alert's or restart's wire item as it is, a
  fix as `hashed_fix(body)`, its length, body and zeros to a fixed 65 bytes (the tag hashes
  one fixed buffer, with no view per length on its small heap). The verifier recomputes
  that hash, so no record stores a hash of another. The checkpoint's unprotected header
  also carries each sealed record's CRC-16 (`H_TAGS`): not signed, used only to say which
  record of a block that fails to verify was changed, removed or moved.

A block is the records after one checkpoint up to and including the next: fixes, alerts
and restarts, then the checkpoint. Fixes delta-encode against the previous fix of their
block, so each block decodes and verifies on its own. firmware/evidence.py decides when to
seal; host/verify.py checks.
"""

from emtag.protocol import cbor

# record types
FIX = 1
ALERT = 2
RESTART = 3
CHECKPOINT = 4

TYPE_NAMES = {FIX: "fix", ALERT: "alert", RESTART: "restart", CHECKPOINT: "checkpoint"}
SIGNED_TYPES = (ALERT, RESTART, CHECKPOINT)

# keys of the signed records' maps
K_TYPE = 0
K_SEQ = 1  # 1, 2, 3 ... per tag; reused only after a record torn away unsent by a power cut
K_TIME = 2  # UTC, seconds since 1970 (fix, alert: GNSS time; checkpoint: the tag's clock)
K_TIME_MS = 3
# position fields (scaled integers, see firmware/nmea.py); a decoded fix uses them too
K_LAT = 10  # degrees x 1e7
K_LON = 11
K_ACC = 12  # accuracy radius, cm
K_FIXTYPE = 13  # 2 or 3
K_SATS = 14
K_HDOP = 15  # x100
K_SPEED = 16  # mm/s
K_COURSE = 17  # centidegrees
K_ALT = 18  # cm above mean sea level
K_ALERT = 20  # alert kind, one of ALERTS
K_ZONE = 21  # zone id (text) where a zone is involved
K_REASON = 30  # restart reason
K_COUNT = 42  # checkpoint: how many records before it it seals (first = seq - count)

# checkpoint's unprotected header: the sealed records' CRC-16s, 2 bytes each, big-endian
# (a private-use COSE header label, RFC 9052 section 3.1)
H_TAGS = -65537
BLOCK_LABEL = "emtag block v2"

# One vocabulary for events, protocol and store.
ALERTS = (
    "exclusion_breach",
    "exclusion_clear",
    "inclusion_breach",
    "inclusion_clear",
    "curfew_breach",
    "curfew_clear",
    "zone_approach",
    "crossing_possible",  # sparse fixes: the wearer may have crossed a zone (not surely)
    "strap_tamper",
    "case_tamper",
    "battery_low",
    "battery_critical",
    "charging_started",
    "charging_stopped",
    "no_fix",
    "shielding_suspected",
    "jamming_suspected",
    "storage_full",
    "zones_unusable",
    "device_restart",
)

POSITION_FIELDS = (
    (K_LAT, "lat"),
    (K_LON, "lon"),
    (K_ACC, "acc_cm"),
    (K_FIXTYPE, "fix"),
    (K_SATS, "sats"),
    (K_HDOP, "hdop"),
    (K_SPEED, "speed_mmps"),
    (K_COURSE, "course_cdeg"),
    (K_ALT, "alt_cm"),
)


def _base(kind, seq, t, t_ms):
    return {K_TYPE: kind, K_SEQ: seq, K_TIME: t, K_TIME_MS: t_ms}


def alert_record(seq, prev, kind, t, t_ms, fix=None, zone=None):
    """An alert's map (signed on its own). `prev` is unused: chain hashes are computed over
    records, not stored in them (kept so callers need not change)."""
    if kind not in ALERTS:
        raise ValueError("unknown alert kind %r" % kind)
    rec = _base(ALERT, seq, t, t_ms)
    rec[K_ALERT] = kind
    if zone is not None:
        rec[K_ZONE] = zone
    if fix is not None:
        for key, attr in POSITION_FIELDS:
            v = getattr(fix, attr)
            if v is not None:
                rec[key] = v
    return rec


def restart_record(seq, prev, t, t_ms, reason):
    """A restart's map (signed on its own; `prev` unused, as for alert_record)."""
    rec = _base(RESTART, seq, t, t_ms)
    rec[K_REASON] = reason
    return rec


def checkpoint_record(seq, t, count):
    """Seals the `count` records seq-count .. seq-1 (its block)."""
    if not 1 <= count < seq:
        raise ValueError("a checkpoint seals at least one earlier record")
    return {K_TYPE: CHECKPOINT, K_SEQ: seq, K_TIME: t, K_COUNT: count}


HASHED_FIX = 65  # bytes a fix adds to its block's hash (1 + fixcodec.MAX_BODY)


def hashed_fix(body):
    """What a fix adds to its block's SHA-256: its length (1 byte), its body, then zeros to
    HASHED_FIX bytes."""
    n = len(body)
    return bytes([n]) + bytes(body) + bytes(HASHED_FIX - 1 - n)


def block_aad(device_id, first, digest):
    """External AAD of a checkpoint: what its signature binds besides its own map."""
    return cbor.dumps([BLOCK_LABEL, bytes(device_id), first, bytes(digest)])


def fix_header(n):
    """The CBOR byte-string head of an n-byte fix body (n < 256)."""
    return bytes([0x40 | n]) if n < 24 else bytes([0x58, n])
