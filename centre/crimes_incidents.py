"""Reported incidents from a CSV file: one row per incident, each checked on its own.

Columns (names are matched ignoring case, spaces, '-' and '_'; police.uk's own names are
accepted where they exist):

    id              incident id               (also: incident id, crime id, reference)
    crime_type      police.uk category or the policy's own   (also: type, crime type)
    latitude        WGS84 degrees             (also: lat)
    longitude       WGS84 degrees             (also: lon, lng, long)
    uncertainty_m   radius, metres, of where it happened   (also: location uncertainty m,
                                              accuracy m, radius m)
    time_from       ISO 8601; without an offset: the policy's time zone  (also: from, start,
                                              committed from)
    time_to         the end of the window     (also: to, end, committed to)

police.uk's published street-level data has only a month and a location moved to an
anonymised snap point ("On or near ..."), so its rows cannot be matched: a file in that
form is refused row by row with that reason. Every row that cannot be used is refused with
a reason; the others go on.
"""

import csv
import datetime
import io
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 200000
MAX_FIELD = 4096
MAX_UNCERTAINTY_M = 5000.0

ALIASES = {
    "id": ("id", "incidentid", "crimeid", "reference", "ref"),
    "crime_type": ("crimetype", "type", "category", "offence"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "uncertainty_m": (
        "uncertaintym",
        "uncertainty",
        "locationuncertaintym",
        "locationuncertainty",
        "accuracym",
        "radiusm",
    ),
    "time_from": ("timefrom", "from", "start", "committedfrom", "datefrom", "fromtime"),
    "time_to": ("timeto", "to", "end", "committedto", "dateto", "totime"),
}
POLICE_UK = ("month", "location", "lsoacode", "fallswithin")  # the published-data columns


@dataclass
class Incident:
    line: int  # line of the file (1: the header)
    id: str
    crime_type: str  # as written
    lat: float
    lon: float
    uncertainty_m: float
    t_from: float  # UTC seconds
    t_to: float
    note: str = ""  # e.g. how a local time was read


@dataclass
class Refusal:
    line: int
    id: str
    kind: str  # what is wrong, for counting: one of KINDS
    reason: str  # ...and in full
    crime_type: str = ""


KINDS = (
    "police_uk_published_data",
    "missing_column",
    "too_few_fields",
    "no_crime_type",
    "bad_coordinates",
    "bad_uncertainty",
    "bad_time",
    "window_ends_before_start",
    "window_too_long",
    "crime_type_outside_policy",
    "unknown_crime_type",
    "too_many_rows",
    "unreadable_csv",
)


def _norm(name):
    return "".join(c for c in name.strip().lower() if c.isalnum())


def read(data: bytes, tz="UTC"):
    """(incidents, refusals, file_problem) from the file's bytes. file_problem is a reason
    that no row could be read at all (then both lists may be empty), else None."""
    if len(data) > MAX_FILE_BYTES:
        return [], [], "the file is larger than %d MB" % (MAX_FILE_BYTES >> 20)
    if b"\x00" in data[:4096]:
        return [], [], "not a CSV file (binary data)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return [], [], "not UTF-8 text (byte %d): not a CSV file of incidents" % e.start
    if text.lstrip()[:1] in ("{", "[", "<"):
        return [], [], "not a CSV file (it looks like JSON or XML)"
    csv.field_size_limit(MAX_FIELD)
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
    except csv.Error as e:
        return [], [], "not a readable CSV file: %s" % e
    if not header or not any(h.strip() for h in header):
        return [], [], "the file is empty (no header row)"
    cols = {}
    names = [_norm(h) for h in header]
    for key, aliases in ALIASES.items():
        for i, n in enumerate(names):
            if n in aliases and key not in cols:
                cols[key] = i
    police_uk = "month" in names and not ("time_from" in cols and "time_to" in cols)
    missing = [k for k in ALIASES if k not in cols]
    try:
        zone = ZoneInfo(tz)
    except Exception:  # noqa: BLE001 (zoneinfo raises several kinds)
        return [], [], "unknown time zone %r in the policy" % tz
    incidents, refusals = [], []
    n = 0
    try:
        for row in rows:
            n += 1
            line = rows.line_num
            if n > MAX_ROWS:
                refusals.append(
                    Refusal(
                        line,
                        "",
                        "too_many_rows",
                        "more than %d rows: the rest is not read" % MAX_ROWS,
                    )
                )
                break
            if not any(c.strip() for c in row):
                continue
            rid = row[cols["id"]].strip() if "id" in cols and cols["id"] < len(row) else ""
            rid = rid or "line %d" % line
            if police_uk:
                refusals.append(
                    Refusal(
                        line,
                        rid,
                        "police_uk_published_data",
                        (
                            "police.uk published data (a month and an anonymised snap point, not a "
                            "time window and a place): it cannot be matched"
                        ),
                    )
                )
                continue
            if missing:
                refusals.append(
                    Refusal(
                        line,
                        rid,
                        "missing_column",
                        "the file has no column for %s (header: %s)"
                        % (", ".join(missing), ", ".join(header)),
                    )
                )
                continue
            inc, why = _row(row, cols, line, rid, zone, tz)
            if why:
                ctype = row[cols["crime_type"]].strip() if cols["crime_type"] < len(row) else ""
                refusals.append(Refusal(line, rid, why[0], why[1], ctype))
            else:
                incidents.append(inc)
    except csv.Error as e:
        refusals.append(
            Refusal(rows.line_num, "", "unreadable_csv", "unreadable CSV from here on: %s" % e)
        )
    if n == 0:
        return [], [], "the file has a header but no rows"
    return incidents, refusals, None


def _row(row, cols, line, rid, zone, tz):
    if len(row) < len(set(cols.values())) or max(cols.values()) >= len(row):
        return None, (
            "too_few_fields",
            "too few fields (%d)" % len(row),
        )
    f = {k: row[i].strip() for k, i in cols.items()}
    if not f["crime_type"]:
        return None, (
            "no_crime_type",
            "no crime type",
        )
    try:
        lat, lon = float(f["latitude"]), float(f["longitude"])
    except ValueError:
        return None, (
            "bad_coordinates",
            "latitude/longitude %r, %r are not numbers" % (f["latitude"], f["longitude"]),
        )
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None, (
            "bad_coordinates",
            "latitude/longitude %s, %s out of range" % (f["latitude"], f["longitude"]),
        )
    if lat == 0 and lon == 0:
        return None, (
            "bad_coordinates",
            "latitude/longitude 0, 0 (a missing location)",
        )
    try:
        u = float(f["uncertainty_m"])
    except ValueError:
        return None, (
            "bad_uncertainty",
            "uncertainty %r is not a number of metres" % f["uncertainty_m"],
        )
    if not (math.isfinite(u) and 0 <= u <= MAX_UNCERTAINTY_M):
        return None, (
            "bad_uncertainty",
            "uncertainty %s m out of range (0..%d m)" % (f["uncertainty_m"], MAX_UNCERTAINTY_M),
        )
    notes = []
    try:
        t0 = _time(f["time_from"], zone, tz, notes, earliest=True)
        t1 = _time(f["time_to"], zone, tz, notes, earliest=False)
    except ValueError as e:
        return None, ("bad_time", str(e))
    if t1 < t0:
        return None, (
            "window_ends_before_start",
            "the window ends (%s) before it starts (%s)" % (f["time_to"], f["time_from"]),
        )
    return Incident(line, rid, f["crime_type"], lat, lon, u, t0, t1, "; ".join(notes)), None


def _time(text, zone, tz, notes, earliest):
    """UTC seconds. A time without an offset is local time in `zone`; where the clocks go
    back it has two readings, and the window takes the one that makes it longer."""
    if not text:
        raise ValueError("no time")
    try:
        d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("time %r is not ISO 8601 (e.g. 2026-03-02T21:30:00Z)" % text) from None
    if d.tzinfo is not None:
        return d.timestamp()
    if len(text) <= 10:
        raise ValueError("time %r has no time of day" % text)
    a = d.replace(tzinfo=zone, fold=0).timestamp()
    b = d.replace(tzinfo=zone, fold=1).timestamp()
    if a != b:
        notes.append(
            "%s is ambiguous or skipped in %s: read as %s"
            % (text, tz, "the earlier instant" if earliest else "the later instant")
        )
    elif tz != "UTC" and not notes:
        notes.append("local times read in %s" % tz)
    return min(a, b) if earliest else max(a, b)
