"""Where was the wearer at a given time (to check a victim's account, an officer's question)?

Answers with the position at T and its uncertainty: the accuracy radius of the fixes
around T grown by the time to them at the speed the wearer could have moved at (--speed,
default walking, or faster where the fixes show it), the fixes before and after, the gap
between them, and the records the answer rests on, with the `emtag export` command that
writes the evidence bundle backing it. More than --max-gap from any fix there is no
position: it says "no data" and why (no fix, tag off, link down) where the records tell.
Exit status 0 with a position, 1 for no data, 2 for a usage error."""

from emtag.cli.storeargs import (
    add_store_argument,
    device_of,
    iso,
    open_reading,
    parse_instant,
)
from emtag.host.errors import CommandError

HELP = "where was the wearer at time T, with its uncertainty and the records behind it"


def add_arguments(p):
    add_store_argument(p)
    p.add_argument("--device", required=True, metavar="ID", help="device id or unique prefix")
    p.add_argument("--at", required=True, metavar="T", help="ISO 8601 (UTC if no offset) or Unix s")
    p.add_argument(
        "--speed", type=float, default=1.5, metavar="M/S",
        help="the fastest the wearer is assumed to move between fixes (default %(default)s, "
        "walking; faster where the fixes themselves show it)",
    )  # fmt: skip
    p.add_argument(
        "--max-gap", type=int, default=3600, metavar="S",
        help="no position further than this from any fix (default %(default)s s)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object")


def run(args):
    from emtag.centre.where import where

    t = parse_instant(args.at, "--at")
    if not 0 < args.speed <= 100:
        raise CommandError("--speed %s: between 0 and 100 m/s" % args.speed)
    if not 0 < args.max_gap <= 7 * 86400:
        raise CommandError("--max-gap %s: between 1 s and a week" % args.max_gap)
    store = open_reading(args.store)
    try:
        device = device_of(store, args.device)
        a = where(store, device, t, args.speed, args.max_gap)
    finally:
        store.close()
    doc = to_json(a, args.store)
    if args.json:
        import json

        print(json.dumps(doc, indent=2))
    else:
        print(text(doc))
    return 0 if a.found else 1


def _fix(f, t):
    if f is None:
        return None
    return {
        "seq": f.seq,
        "t": iso(f.t, f.t_ms),
        "lat": f.lat_e7 / 1e7,
        "lon": f.lon_e7 / 1e7,
        "acc_m": None if f.acc_cm is None else f.acc_cm / 100,
        "dt_s": round(abs(f.t + (f.t_ms or 0) / 1000 - t), 3),
    }


def to_json(a, store_target):
    doc = {
        "device": a.device,
        "at": iso(a.t),
        "found": a.found,
        "method": a.method,
        "position": None,
        "before": _fix(a.before, a.t),
        "after": _fix(a.after, a.t),
        "gap_s": a.gap_s,
        "speed_assumed_mps": round(a.speed_mps, 3),
        "speed_implied_mps": None if a.implied_mps is None else round(a.implied_mps, 3),
        "reason": None,
        "records": {"seqs": list(a.seqs), "sealed_by": list(a.sealed_by)},
    }
    if a.found:
        doc["position"] = {
            "lat": a.lat_e7 / 1e7,
            "lon": a.lon_e7 / 1e7,
            "radius_m": round(a.radius_m, 1),
        }
    if a.reason is not None:
        doc["reason"] = {"kind": a.reason.reason, "detail": a.reason.detail}
    lo, hi = a.window
    doc["evidence"] = "emtag export --store %s --device %s --from %s --to %s -o where-%s.zip" % (
        store_target,
        a.device,
        iso(lo),
        iso(hi),
        iso(a.t).replace(":", ""),
    )
    return doc


def text(doc):
    lines = ["device    %s" % doc["device"], "at        %s" % doc["at"]]
    p = doc["position"]
    if p:
        how = {
            "fix": "a fix at that time",
            "interpolated": "between the fixes before and after",
            "last fix": "from the last fix before it; none after it yet",
            "next fix": "from the first fix after it; none before it",
        }[doc["method"]]
        lines.append(
            "position  %.6f, %.6f  within %.0f m (%s; assumes at most %.1f m/s)"
            % (p["lat"], p["lon"], p["radius_m"], how, doc["speed_assumed_mps"])
        )
    else:
        lines.append("position  no data")
    if doc["reason"]:
        lines.append("reason    %s: %s" % (doc["reason"]["kind"], doc["reason"]["detail"]))
    for name in ("before", "after"):
        f = doc[name]
        if f is None:
            lines.append("%-9s none" % name)
            continue
        acc = "?" if f["acc_m"] is None else "%.1f m" % f["acc_m"]
        lines.append(
            "%-9s seq %d at %s  %.6f, %.6f  accuracy %s  (%s s %s)"
            % (name, f["seq"], f["t"], f["lat"], f["lon"], acc, f["dt_s"], name)
        )
    if doc["gap_s"] is not None:
        implied = doc["speed_implied_mps"]
        lines.append(
            "gap       %d s between them%s"
            % (doc["gap_s"], "" if implied is None else " (moving %.2f m/s on average)" % implied)
        )
    r = doc["records"]
    lines.append(
        "records   seq %s%s"
        % (
            ", ".join(map(str, r["seqs"])) or "none",
            " (sealed by seq %s)" % ", ".join(map(str, r["sealed_by"])) if r["sealed_by"] else "",
        )
    )
    lines.append("evidence  " + doc["evidence"])
    return "\n".join(lines)
