"""What a crime-mapping request hands back: hits.csv (one row per answer, and one per
refused incident), the same as JSON, and a short summary for the terminal."""

import csv
import datetime
import io

from emtag.centre import crimes_match as M

COLUMNS = (
    "incident_id",
    "line",
    "crime_type",
    "device",
    "answer",
    "exculpatory",
    "window_from",
    "window_to",
    "scene_lat",
    "scene_lon",
    "scene_uncertainty_m",
    "at",
    "distance_m",
    "record_accuracy_m",
    "placing_records",
    "placing_from",
    "placing_to",
    "speed_needed_kmh",
    "mode",
    "assumes_at_most_kmh",
    "gap",
    "gap_s",
    "gap_from",
    "gap_to",
    "distance_before_m",
    "distance_after_m",
    "margin_m",
    "closest_m",
    "records_in_window",
    "rests_on_seqs",
    "bundle",
    "explanation",
)
REFUSED = "refused"


def iso(t):
    if t is None:
        return ""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _m(x):
    return "" if x is None else "%.0f" % x


def _kmh(mps):
    return "" if mps is None else "%.1f" % (mps * 3.6)


def _distance(m):
    return "%.1f km" % (m / 1000) if m >= 1000 else "%.0f m" % m


def seqs_text(seqs):
    """'12, 13' or, for a long run, '100..580 (481 records)'."""
    if len(seqs) <= 6:
        return ", ".join(str(s) for s in seqs)
    return "%d..%d (%d records)" % (min(seqs), max(seqs), len(seqs))


def explain(row, params):
    a, inc = row.answer, row.incident
    r = a.record
    top = params.top_speed * 3.6
    if a.answer == M.PLACED:
        lo, hi = a.placing_span
        more = (
            "; %d records place the wearer there between %s and %s" % (a.placing, iso(lo), iso(hi))
            if a.placing > 1
            else "; it is the only record that does"
        )
        return (
            "PLACED AT THE SCENE: seq %d at %s was %s from the reported location (record "
            "accuracy +-%.0f m, scene uncertainty +-%.0f m)%s."
            % (r.seq, iso(r.t), _distance(r.d_m), r.acc_m, inc.uncertainty_m, more)
        )
    if a.answer == M.COULD:
        if a.gap == "vague fix":
            return (
                "COULD HAVE BEEN THERE: seq %d at %s was %s away with accuracy +-%.0f m: it "
                "does not place the wearer at the scene, nor rule it out."
                % (r.seq, iso(r.t), _distance(r.d_m), r.acc_m)
            )
        how = (
            "without moving"
            if a.mode == "none"
            else "which needs %.0f km/h (%s)" % (a.speed_mps * 3.6, a.mode)
        )
        if a.gap == "gap":
            b = a.other
            where = (
                "in the %s between seq %d at %s (%s away, +-%.0f m) and seq %d at %s (%s away, "
                "+-%.0f m)"
                % (
                    _duration(b.t - r.t),
                    r.seq,
                    iso(r.t),
                    _distance(r.d_m),
                    r.acc_m,
                    b.seq,
                    iso(b.t),
                    _distance(b.d_m),
                    b.acc_m,
                )
            )
        elif a.gap == "before first":
            where = "before the tag's first record, seq %d at %s (%s away)" % (
                r.seq,
                iso(r.t),
                _distance(r.d_m),
            )
        else:
            where = "after the tag's last record, seq %d at %s (%s away)" % (
                r.seq,
                iso(r.t),
                _distance(r.d_m),
            )
        return (
            "COULD HAVE BEEN THERE: no record places the wearer at the scene, but %s the "
            "wearer could have been there, %s; assumes no one moves faster than %.0f km/h."
            % (where, how, top)
        )
    n, s0, s1 = a.in_window
    over = (
        "; %d records in the window (seq %d..%d), the closest %s away"
        % (n, s0, s1, _distance(a.closest.d_m))
        if n
        else "; no record in the window: the records around it decide"
    )
    return (
        "COULD NOT HAVE BEEN THERE (exculpatory: as much a result as a hit): moving at up to "
        "%.0f km/h, the wearer stays at least %s short of the scene throughout the window"
        " (tightest around seq %d at %s)%s."
        % (top, _distance(max(0.0, a.margin_m)), r.seq, iso(r.t), over)
    )


def _duration(s):
    if s < 120:
        return "%.0f s" % s
    if s < 7200:
        return "%.0f min" % (s / 60)
    return "%.1f h" % (s / 3600)


def row_dict(row, params):
    a, inc = row.answer, row.incident
    r, b = a.record, a.other
    gap = a.gap == "gap"
    return {
        "incident_id": inc.id,
        "line": inc.line,
        "crime_type": inc.crime_type,
        "device": row.device,
        "answer": a.answer,
        "exculpatory": "yes" if a.answer == M.COULD_NOT else "no",
        "window_from": iso(inc.t_from),
        "window_to": iso(inc.t_to),
        "scene_lat": "%.7f" % inc.lat,
        "scene_lon": "%.7f" % inc.lon,
        "scene_uncertainty_m": _m(inc.uncertainty_m),
        "at": iso(r.t),
        "distance_m": _m(r.d_m),
        "record_accuracy_m": "%.1f" % r.acc_m,
        "placing_records": a.placing or "",
        "placing_from": iso(a.placing_span[0]) if a.placing else "",
        "placing_to": iso(a.placing_span[1]) if a.placing else "",
        "speed_needed_kmh": _kmh(a.speed_mps),
        "mode": a.mode or "",
        "assumes_at_most_kmh": "%.0f" % (params.top_speed * 3.6),
        "gap": a.gap,
        "gap_s": "%.0f" % (b.t - r.t) if gap else "",
        "gap_from": iso(r.t) if gap else "",
        "gap_to": iso(b.t) if gap else "",
        "distance_before_m": _m(r.d_m) if gap else "",
        "distance_after_m": _m(b.d_m) if gap else "",
        "margin_m": _m(a.margin_m),
        "closest_m": _m(a.closest.d_m if a.closest else None),
        "records_in_window": a.in_window[0] if a.in_window else "",  # not read: pruned
        "rests_on_seqs": seqs_text(a.rests_on),
        "bundle": row.bundle,
        "explanation": explain(row, params),
    }


def refusal_dict(f):
    d = dict.fromkeys(COLUMNS, "")
    d.update(
        incident_id=f.id, line=f.line, crime_type=f.crime_type, answer=REFUSED, explanation=f.reason
    )
    return d


def _order(row):
    rank = {M.PLACED: 0, M.COULD: 1, M.COULD_NOT: 2}[row.answer.answer]
    return (row.incident.line, rank, row.answer.record.d_m, row.device)


def csv_text(result, params):
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in sorted(result.rows, key=_order):
        w.writerow(row_dict(row, params))
    for f in result.refusals:
        w.writerow(refusal_dict(f))
    return buf.getvalue()


def json_doc(result, params, audit_id=None):
    return {
        "audit_id": audit_id,
        "counts": result.counts(),
        "seconds": round(result.seconds, 3),
        "file_problem": result.file_problem,
        "answers": [row_dict(r, params) for r in sorted(result.rows, key=_order)],
        "refused": [
            {"incident_id": f.id, "line": f.line, "crime_type": f.crime_type, "reason": f.reason}
            for f in result.refusals
        ],
        "per_incident": result.per_incident,
    }


def summary(result, policy):
    c = result.counts()
    a = c["answers"]
    lines = [
        "policy: %s%s" % (policy.name, " (%s)" % policy.path if policy.path else ""),
        "incidents: %d read, %d matched, %d refused"
        % (c["incidents_read"], c["incidents_matched"], c["incidents_refused"]),
    ]
    for reason, n in sorted(c["refused_by_reason"].items(), key=lambda x: -x[1]):
        lines.append("  refused %4d  %s" % (n, reason))
    lines.append(
        "wearers: %d eligible, %d not eligible and never looked at (%s)"
        % (
            c["wearers_eligible"],
            c["wearers_not_eligible"],
            ", ".join(
                "%d %s" % (n, k) for k, n in sorted(c["wearers_not_eligible_by_reason"].items())
            )
            or "none",
        )
    )
    modes = ", ".join(
        "%d %s" % (n, m) for m, n in sorted(c["could_have_been_there_by_mode"].items())
    )
    lines.append(
        "answers: %d placed at the scene, %d could have been there%s, %d could not have been "
        "there (exculpatory); other eligible wearers were nowhere near"
        % (a[M.PLACED], a[M.COULD], " (%s)" % modes if modes else "", a[M.COULD_NOT])
    )
    if c["unmonitored_pairs"] or c["not_yet_tagged_pairs"]:
        lines.append(
            "no answer possible: %d incident-wearer pairs with the tag silent through the "
            "window, %d before the tag's first record"
            % (c["unmonitored_pairs"], c["not_yet_tagged_pairs"])
        )
    lines.append(
        "assumes: nobody moves faster than %.0f km/h (%s)"
        % (policy.params.top_speed * 3.6, policy.params.assume)
    )
    return "\n".join(lines)
