"""GNSS capture files through the tag's NMEA parser, on CPython or on the MicroPython unix
port, and the JSON record `emtag nmea` prints for each fix."""

import json

from emtag.firmware.gnss_fix import CONSTELLATIONS, NCONS, Fix
from emtag.firmware.gnss_time import NOT_BEFORE_DAYS, ROLLOVER_DAYS, civil_from_days
from emtag.firmware.nmea import NmeaParser
from emtag.firmware.nmea_dump import ARRAYS, COUNTERS, FIELDS
from emtag.host.errors import CommandError

FIX_NAMES = {0: "none", 2: "2d", 3: "3d"}


def strip_comments(data):
    """Drop `#` comment lines of gpsd's capture format; everything else stays as is."""
    if not data.startswith(b"#") and b"\n#" not in data and b"\r#" not in data:
        return data
    lines = data.splitlines(True)
    return b"".join(line for line in lines if not line.startswith(b"#"))


def iso_time(t, t_ms):
    y, mo, d = civil_from_days(t // 86400)
    s = t % 86400
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        y, mo, d, s // 3600, s // 60 % 60, s % 60, t_ms or 0)


def _deg(v):
    """Degrees x 1e7 as an exact decimal with 7 places (no float rounding)."""
    sign = "-" if v < 0 else ""
    v = abs(v)
    return "%s%d.%07d" % (sign, v // 10000000, v % 10000000)


class _Raw(str):
    """Pre-formatted JSON number."""


def _scaled(v, div):
    return None if v is None else v / div


def to_json_dict(fix, full=False):
    """The `emtag nmea` record of a Fix; lat/lon are exact decimal strings wrapped as raw
    JSON numbers, see dumps()."""
    d = {
        "time": None if fix.t is None else iso_time(fix.t, fix.t_ms),
        "lat": None if fix.lat is None else _Raw(_deg(fix.lat)),
        "lon": None if fix.lon is None else _Raw(_deg(fix.lon)),
        "fix": FIX_NAMES.get(fix.fix, "none"),
        "sats": fix.sats,
        "hdop": _scaled(fix.hdop, 100),
        "accuracy_m": _scaled(fix.acc_cm, 100),
        "speed_mps": _scaled(fix.speed_mmps, 1000),
        "course_deg": _scaled(fix.course_cdeg, 100),
        "alt_m": _scaled(fix.alt_cm, 100),
    }
    if full:
        d["pdop"] = _scaled(fix.pdop, 100)
        d["vdop"] = _scaled(fix.vdop, 100)
        cn0 = None
        if fix.cn0_mask:
            cn0 = {}
            for c in range(NCONS):
                if fix.cn0_mask & (1 << c):
                    cn0[CONSTELLATIONS[c]] = {
                        "view": fix.sv_view[c], "tracked": fix.sv_cn0[c],
                        "max_dbhz": fix.cn0_max[c], "mean_dbhz": fix.cn0_mean[c],
                        "used": fix.sv_used[c],
                    }
        d["cn0"] = cn0
    return d


def dumps(d):
    parts = []
    for k, v in d.items():
        text = v if isinstance(v, _Raw) else json.dumps(v, separators=(",", ":"))
        parts.append(json.dumps(k) + ":" + text)
    return "{" + ",".join(parts) + "}"


def decode_cpython(data, require_checksum=True, not_before=NOT_BEFORE_DAYS):
    """(fixes, counters) from the parser running in this interpreter, with the tag's own
    field backend (not the faster CPython one): the same code as on the tag."""
    fixes = []
    p = NmeaParser(lambda f: fixes.append(f.copy()), require_checksum, not_before,
                   portable=True)
    p.feed(data)
    p.flush()
    return fixes, {name: getattr(p, name) for name in COUNTERS}


def decode_micropython(data, require_checksum=True, not_before=NOT_BEFORE_DAYS):
    """(fixes, counters) from the parser running in the MicroPython unix port."""
    from emtag.host import unixport

    args = ["-m", "emtag.firmware.nmea_dump", "--not-before", str(not_before)]
    if not require_checksum:
        args.append("--no-checksum")
    try:
        proc = unixport.run(args, input=data, capture_output=True, timeout=600)
    except unixport.NoMicroPython as e:
        raise CommandError(str(e)) from None
    if proc.returncode != 0:
        raise CommandError("MicroPython failed: " + proc.stderr.decode(errors="replace")[-500:])
    return parse_dump(proc.stdout.decode())


def parse_dump(text):
    fixes, counters = [], None
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "F":
            fix = Fix()
            vals = [None if v == "-" else int(v) for v in parts[1:]]
            for name, v in zip(FIELDS, vals[: len(FIELDS)], strict=True):
                setattr(fix, name, v)
            k = len(FIELDS)
            for name in ARRAYS:
                getattr(fix, name)[:] = bytes(vals[k:k + NCONS])
                k += NCONS
            fixes.append(fix)
        elif parts and parts[0] == "C":
            counters = dict(zip(COUNTERS, (int(v) for v in parts[1:]), strict=True))
    if counters is None:
        raise CommandError("MicroPython output ended early")
    return fixes, counters


def date_repairs(data, require_checksum, fixes):
    """What the parser did to the receiver's dates in `fixes` (decoded from `data`):
    {"moved": [(receiver's day, day used), ...], "dropped": [receiver's day, ...]}, days
    since 1970. A date before not_before is a GPS week rollover and moves 1024 weeks on;
    one still too early after that (a power-on default) leaves the epoch without a time.
    Found by decoding again with no lower bound (CPython's fast path: cheap) and comparing."""
    raw = []
    p = NmeaParser(lambda f: raw.append(f.t), require_checksum, 0)
    p.feed(data)
    p.flush()
    moved, dropped = [], []
    if len(raw) != len(fixes):  # not the same epochs: say nothing rather than guess
        return {"moved": moved, "dropped": dropped}
    for r, fix in zip(raw, fixes, strict=True):
        if r is None:
            continue
        if fix.t is None:
            dropped.append(r // 86400)
        elif fix.t - r == ROLLOVER_DAYS * 86400:
            moved.append((r // 86400, fix.t // 86400))
    return {"moved": moved, "dropped": dropped}


def iso_day(days):
    return "%04d-%02d-%02d" % civil_from_days(days)
