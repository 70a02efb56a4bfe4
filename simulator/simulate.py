"""One simulated run, start to finish, and what it showed: summary figures and checks."""

import datetime

from emtag.host import verify
from emtag.protocol import records
from emtag.simulator import hwsummary, report, runner
from emtag.simulator.progress import progress_bar  # noqa: F401  (the command line uses it)
from emtag.simulator.world import World


def simulate(sc, out_dir, interpreter=None, heapsize=None, timeline=None, progress=None):
    world = World(sc, out_dir, timeline)
    world.hw.progress = progress  # callable(fraction, now_ms): simulator/progress.py
    try:
        kw = {"heapsize": heapsize} if heapsize else {}
        wall = runner.run(world, interpreter, **kw)
        world.events.add(world.now, "sim", "end")  # no wall time here: runs must be byte-identical
        result = _results(world, sc, wall, interpreter or runner.default_interpreter())
        result["checks"] += hwsummary.metric_checks(sc, result)  # [[expect]] metric = ...
        result["report"] = report.write(world, result, out_dir)  # report.html
    finally:
        world.close()
    return result


def _t(ev):
    return datetime.datetime.fromisoformat(ev["t"].replace("Z", "+00:00")).timestamp()


def _results(world, sc, wall, interpreter):
    evs = world.events.events
    tag_alerts = [e for e in evs if e["source"] == "tag" and e["type"] == "alert"]
    stored_alerts = [e for e in evs if e["source"] == "bridge" and e["type"] == "alert"]
    shutdown = next((e for e in evs if e["source"] == "tag" and e["type"] == "shutdown"), {})
    boot = next((e for e in evs if e["source"] == "tag" and e["type"] == "boot"), {})
    device = boot.get("device")
    verified = failed = 0
    if device:
        # every stored valid record, re-checked from scratch as one evidence stream
        stored = [row[-1] for row in world.store.records(device)]
        report = verify.verify(stored, world.store.device(device), first_seq=1)
        verified = report.counts[verify.VALID]
        failed = len(stored) - verified + sum(g.last - g.first + 1 for g in report.gaps)
    rejected = len(world.store.rejected(device)) if device else 0
    missing, unsent, upto = _delivery(evs, world.store.records(device) if device else [])
    return {
        "scenario": sc.name,
        "interpreter": interpreter,
        "sim_s": sc.duration_s,
        "wall_s": wall,
        "device": device,
        "fix_records": sum(1 for e in evs if e["source"] == "tag" and e["type"] == "fix"),
        "stored_verified": verified,
        "stored_failed": failed,
        "rejected": rejected,
        "records_missing": missing,
        "records_unsent": unsent,
        "stored_upto": upto,
        "catch_up_s": _catch_up(evs),
        "boots": sum(1 for e in evs if e["source"] == "tag" and e["type"] == "boot"),
        "tag_alerts": tag_alerts,
        "stored_alerts": stored_alerts,
        "heap_peak": shutdown.get("heap_peak"),
        "heap_live_peak": shutdown.get("heap_live_peak"),
        "checks": _checks(sc, evs, stored_alerts),
        "hardware": world.hw.summary(),  # GNSS, power, battery, flash (simulator/hardware.py)
    }


def _told(evs):
    """The records the tag said it logged, as (time, seq, type, lat, lon): a fix (seq and
    position), a checkpoint (seq), and the restart record each boot begins with
    (next_seq - 1)."""
    out = []
    for e in evs:
        if e["source"] != "tag":
            continue
        kind = e["type"]
        if kind == "fix":
            out.append((e["t"], e["seq"], records.FIX, e["lat"], e["lon"]))
        elif kind == "checkpoint":
            out.append((e["t"], e["seq"], records.CHECKPOINT, None, None))
        elif kind == "boot":
            out.append((e["t"], e["next_seq"] - 1, records.RESTART, None, None))
    return out


def _delivery(evs, stored):
    """Did every record the tag said it logged reach the store as that record?

    A record the tag reported was on its flash (the log appends before the event), so no
    power cut may lose it: its seq must come back from the store, valid, with the same type
    and position. A record torn away by a cut was never reported (nor sent), and its seq is
    reused by the next boot. Returns (records missing or different, among those up to the
    newest stored; records the tag held beyond the newest stored at the end; the newest
    stored seq)."""
    told = _told(evs)
    have = {row[0]: (row[1], row[3], row[4]) for row in stored}
    upto = max(have, default=0)
    missing = sum(1 for _, seq, *rec in told if seq <= upto and have.get(seq) != tuple(rec))
    last = max([seq for _, seq, *_ in told], default=0)
    for e in evs:
        if e["source"] == "tag" and e["type"] == "shutdown":
            last = max(last, e.get("records", 0))
    return missing, max(0, last - upto), upto


def _catch_up(evs):
    """Seconds from the link's last return until the store held every record the tag had
    logged before it (None: no outage ended, or the store never caught up)."""
    ups = [e for e in evs if e["source"] == "sim" and e["type"] == "link_up"]
    if not ups:
        return None
    up = ups[-1]["t"]  # ISO 8601 UTC in one format: the strings sort as the times do
    before = max([seq for t, seq, *_ in _told(evs) if t < up], default=0)
    for e in evs:
        if (
            e["source"] == "bridge"
            and e["type"] == "records_stored"
            and e["t"] >= up
            and e["upto"] >= before
        ):
            return round(_t(e) - _t(ups[-1]), 3)
    return None


def _checks(sc, evs, stored_alerts):
    checks = []
    for exp in sc.expect:
        if "metric" in exp:
            continue  # a run figure: simulator/hwsummary.py
        kind, zone = exp["alert"], exp.get("zone")
        hits = [
            a for a in stored_alerts if a["alert"] == kind and (zone is None or a["zone"] == zone)
        ]
        what = kind + (" in " + zone if zone else "")
        count = exp.get("count")
        if count == 0:
            checks.append({"ok": not hits, "text": "no %s (%d seen)" % (what, len(hits))})
            continue
        if count is not None:
            checks.append(
                {"ok": len(hits) == count, "text": "%s stored %d time%s (expected %d)"
                 % (what, len(hits), "" if len(hits) == 1 else "s", count)}
            )
        if not hits:
            checks.append({"ok": False, "text": "%s reached the store: none did" % what})
            continue
        ref = exp.get("after", "truth_enter")  # or a timeline event, e.g. strap_cut
        enter = next(
            (
                e
                for e in evs
                if e["type"] == ref and (ref != "truth_enter" or e.get("zone") == zone)
            ),
            None,
        )
        within = exp.get("within_s")
        if within is None or enter is None:
            checks.append({"ok": within is None, "text": "%s reached the store" % what})
            continue
        hits = [a for a in hits if _t(a) >= _t(enter)] or hits
        latency = _t(hits[0]) - _t(enter)
        since = "the wearer entered" if ref == "truth_enter" else ref
        checks.append(
            {
                "ok": 0 <= latency <= within,
                "text": "%s stored %.1f s after %s (limit %s s)" % (what, latency, since, within),
            }
        )
        stamped = exp.get("stamped_within_s")
        if stamped is not None and hits[0].get("event_t") is not None:
            lag = hits[0]["event_t"] - int(_t(enter))
            checks.append(
                {
                    "ok": -1 <= lag <= stamped,
                    "text": "%s time-stamped %d s after %s (limit %s s)"
                    % (what, lag, since, stamped),
                }
            )
    return checks
