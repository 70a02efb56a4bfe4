"""Evidence records: what the tag logs, signs and uploads (schema: protocol/emtag.cddl).

A record is a CBOR map with small integer keys. Every record carries the tag's sequence
number and the SHA-256 of the previous record's payload, so a verifier can detect
deletion, reordering, duplication and splicing. The payload is wrapped in an ES256
COSE_Sign1 made on the tag.
"""

# record types
FIX = 1
ALERT = 2
RESTART = 3

# keys common to every record
K_TYPE = 0
K_SEQ = 1
K_TIME = 2  # UTC, seconds since 1970
K_TIME_MS = 3
K_PREV = 4  # SHA-256 of the previous record's payload (32 zero bytes before the first)
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

GENESIS = bytes(32)

# One vocabulary for events, protocol and store.
ALERTS = (
    "exclusion_breach",
    "exclusion_clear",
    "inclusion_breach",
    "inclusion_clear",
    "curfew_breach",
    "curfew_clear",
    "zone_approach",
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
