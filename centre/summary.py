"""An Overview (analytics.py) as plain data: JSON for `emtag trail --json` and for the
weekly report's page (which draws only these figures), and a short text for the terminal."""

import datetime

from emtag.centre import heatmap


def iso(t):
    if t is None:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes(s):
    return round(s / 60.0, 1)


def _fix(f):
    if f is None:
        return None
    return {"seq": f.seq, "t": iso(f.t), "lat": f.lat_e7 / 1e7, "lon": f.lon_e7 / 1e7,
            "acc_m": None if f.acc_cm is None else f.acc_cm / 100}  # fmt: skip


def to_json(ov, with_fixes=False):
    doc = {
        "device": ov.device,
        "from": iso(ov.t_from),
        "to": iso(ov.t_to),
        "tz": ov.tz,
        "fixes": len(ov.fixes),
        "stays": [
            {"from": iso(s.t_start), "to": iso(s.t_end), "minutes": minutes(s.t_end - s.t_start),
             "lat": round(s.lat, 7), "lon": round(s.lon, 7), "fixes": s.n,
             "radius_m": round(s.radius_m, 1), "seqs": [s.first_seq, s.last_seq],
             "place": ov.stay_place[i]}
            for i, s in enumerate(ov.stays)
        ],
        "places": [
            {"id": p.id, "label": p.label, "role": p.role, "lat": round(p.lat, 7),
             "lon": round(p.lon, 7), "visits": p.visits, "days": p.days,
             "hours": round(p.dwell_s / 3600, 1)}
            for p in ov.places
        ],
        "curfew": [
            {"zone": n.zone, "night": n.date.isoformat(), "from": iso(n.t_start),
             "to": iso(n.t_end), "breach_minutes_alerts": minutes(n.alert_breach_s),
             "outside_minutes_fixes": minutes(n.outside_s), "unsure_minutes": minutes(n.unsure_s),
             "unknown_minutes": minutes(n.unknown_s), "alerts": list(n.alerts),
             "compliant": n.compliant, "verdict": n.verdict}
            for n in ov.nights
        ],
        "away_from_home": [
            {"night": a.date.isoformat(), "from": iso(a.t_start), "to": iso(a.t_end),
             "away_minutes": minutes(a.away_s), "unsure_minutes": minutes(a.unsure_s),
             "unknown_minutes": minutes(a.unknown_s)}
            for a in ov.away
        ],
        "alerts": [
            {"seq": a.seq, "t": iso(a.t), "alert": a.alert, "zone": a.zone,
             "lat": None if a.lat_e7 is None else a.lat_e7 / 1e7,
             "lon": None if a.lon_e7 is None else a.lon_e7 / 1e7,
             "acc_m": None if a.acc_cm is None else a.acc_cm / 100, "status": a.status}
            for a in ov.alerts
        ],
        "zone_approaches": [
            {"day": d.isoformat(), "zone": z, "closest_m": round(dist, 1), "fix": _fix(f)}
            for d, z, dist, f in ov.approaches
        ],
        "gaps": [
            {"from": iso(g.t_from), "to": iso(g.t_to), "minutes": minutes(g.t_to - g.t_from),
             "reason": g.reason, "detail": g.detail, "seqs": list(g.seqs)}
            for g in ov.gaps
        ],
        "timeline": [
            {"from": iso(s.t_start), "to": iso(s.t_end), "kind": s.kind, "label": s.label}
            for s in ov.timeline
        ],
        "heatmap": {
            "resolution": heatmap.RESOLUTION,
            "period": heatmap.features(ov.heat_week),
            "days": {d.isoformat(): heatmap.features(c) for d, c in ov.heat_days.items()},
        },
    }  # fmt: skip
    if with_fixes:
        doc["trail"] = [[f.lat_e7 / 1e7, f.lon_e7 / 1e7, (f.acc_cm or 0) / 100, f.t, f.seq]
                        for f in ov.fixes]  # fmt: skip
    return doc


def to_text(ov):
    d = to_json(ov)
    lines = ["device %s, %s .. %s: %d fixes, %d stay points" % (
        d["device"], d["from"], d["to"], d["fixes"], len(d["stays"]))]  # fmt: skip
    lines.append("frequent places:")
    for p in d["places"][:10]:
        lines.append("  %-16s %3d visits on %d days, %6.1f h  (%.5f, %.5f) %s" % (
            p["label"], p["visits"], p["days"], p["hours"], p["lat"], p["lon"], p["role"],
        ))  # fmt: skip
    if d["curfew"]:
        lines.append("curfew nights (minutes in breach: by the tag's alerts / by the fixes):")
        for n in d["curfew"]:
            lines.append("  %s %-18s %6.1f / %6.1f  unsure %5.1f  unknown %5.1f  %s" % (
                n["night"], n["zone"], n["breach_minutes_alerts"], n["outside_minutes_fixes"],
                n["unsure_minutes"], n["unknown_minutes"],
                n["verdict"]))  # fmt: skip
    for a in d["away_from_home"]:
        lines.append("away from home night of %s: %.1f min" % (a["night"], a["away_minutes"]))
    lines.append("alerts: %d" % len(d["alerts"]))
    for a in d["alerts"]:
        if a["alert"] not in ("charging_started", "charging_stopped"):
            lines.append("  %s  %-18s %s  seq %d" % (a["t"], a["alert"], a["zone"] or "", a["seq"]))
    lines.append("data gaps: %d" % len(d["gaps"]))
    for g in d["gaps"]:
        lines.append("  %s .. %s  %6.1f min  %s: %s" % (
            g["from"], g["to"], g["minutes"], g["reason"], g["detail"]))  # fmt: skip
    return "\n".join(lines)
