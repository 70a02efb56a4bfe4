"""Evidence records: what the tag logs, signs and uploads (schema: protocol/records.cddl).

A record is a CBOR map with small integer keys, in core deterministic encoding. Every
record carries the tag's sequence number and `prev`, the SHA-256 of the previous record's
encoded payload (for seq 1: genesis(device id)), so a verifier can detect deletion,
reordering, duplication and splicing. On the wire (and in the tag's log):

- a fix record is its plain CBOR encoding (unsigned);
- alert, restart and checkpoint records are an ES256 COSE_Sign1 (tag 18, kid = device id)
  whose payload is that encoding.

A signed record proves itself and, through `prev`, every record before it. A checkpoint is
a signed record with no other news: it seals the records since the last signed one.
firmware/evidence.py decides when; host/verify.py checks.
"""

import hashlib

from emtag.protocol import cbor

# record types
FIX = 1
ALERT = 2
RESTART = 3
CHECKPOINT = 4

TYPE_NAMES = {FIX: "fix", ALERT: "alert", RESTART: "restart", CHECKPOINT: "checkpoint"}
# Types the tag always signs; a fix may be signed too (older firmware signed every record).
SIGNED_TYPES = (ALERT, RESTART, CHECKPOINT)

# keys common to every record
K_TYPE = 0
K_SEQ = 1  # 1, 2, 3, ... per tag; reused only after a record torn away unsent by a power cut
K_TIME = 2  # UTC, seconds since 1970 (fix, alert: GNSS time; checkpoint: the tag's clock)
K_TIME_MS = 3
K_PREV = 4  # SHA-256 of the previous record's payload; genesis(device id) before seq 1
# fix fields (all scaled integers, see firmware/nmea.py)
K_LAT = 10  # degrees x 1e7
K_LON = 11
K_ACC = 12  # accuracy radius, cm
K_FIXTYPE = 13  # 2 or 3
K_SATS = 14
K_HDOP = 15  # x100
K_SPEED = 16  # mm/s
K_COURSE = 17  # centidegrees
K_ALT = 18  # cm above mean sea level
# alert fields
K_ALERT = 20  # alert kind, one of ALERTS
K_ZONE = 21  # zone id (text) where a zone is involved
# restart fields
K_REASON = 30
# checkpoint fields: it seals records K_FIRST..K_LAST (K_LAST = its own seq - 1) whose
# chain head is its K_PREV
K_DEVICE = 40  # the tag's device id (8 bytes), inside the signed payload
K_FIRST = 41
K_LAST = 42

GENESIS_LABEL = "emtag genesis v1"


def genesis(device_id):
    """`prev` of a tag's first record: SHA-256 of the CBOR array ["emtag genesis v1", device
    id]. Bound to the device, so another tag's chain can never continue this one's."""
    return hashlib.sha256(cbor.dumps([GENESIS_LABEL, bytes(device_id)])).digest()


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

_FIX_FIELDS = (
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


def _base(kind, seq, t, t_ms, prev):
    return {K_TYPE: kind, K_SEQ: seq, K_TIME: t, K_TIME_MS: t_ms, K_PREV: prev}


def fix_record(seq, prev, fix):
    """Record for a Fix (firmware/nmea.py); unknown fields are left out, not zeroed."""
    rec = _base(FIX, seq, fix.t, fix.t_ms, prev)
    for key, attr in _FIX_FIELDS:
        v = getattr(fix, attr)
        if v is not None:
            rec[key] = v
    return rec


def alert_record(seq, prev, kind, t, t_ms, fix=None, zone=None):
    if kind not in ALERTS:
        raise ValueError("unknown alert kind %r" % kind)
    rec = _base(ALERT, seq, t, t_ms, prev)
    rec[K_ALERT] = kind
    if zone is not None:
        rec[K_ZONE] = zone
    if fix is not None:
        for key, attr in _FIX_FIELDS:
            v = getattr(fix, attr)
            if v is not None:
                rec[key] = v
    return rec


def restart_record(seq, prev, t, t_ms, reason):
    rec = _base(RESTART, seq, t, t_ms, prev)
    rec[K_REASON] = reason
    return rec


def checkpoint_record(seq, prev, t, t_ms, device_id, first):
    """Seals records first..seq-1; prev is the chain head (the hash of record seq-1)."""
    if not 1 <= first < seq:
        raise ValueError("a checkpoint seals at least one earlier record")
    rec = _base(CHECKPOINT, seq, t, t_ms, prev)
    rec[K_DEVICE] = device_id
    rec[K_FIRST] = first
    rec[K_LAST] = seq - 1
    return rec
