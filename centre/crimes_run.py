"""One crime-mapping request: incidents in, answers out, for the eligible wearers only.

    result = crimes_run.match(store, data, policy, now)

For each incident the policy allows, the trail index (host/store/trail_index.py) names the
eligible wearers whose trail could reach the scene at the policy's speeds or comes within
report_within_m of it during the window; each of their trails over the window is then
judged (centre/crimes_match.py). The fixes of wearers who are not eligible are never read.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from emtag.centre import crimes_eligibility, crimes_incidents, crimes_tiles
from emtag.centre import crimes_match as M


@dataclass
class Row:
    incident: crimes_incidents.Incident
    device: str
    answer: M.Answer
    bundle: str = ""  # file name in --bundles DIR (and its verification)


@dataclass
class Result:
    rows: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    file_problem: str | None = None
    incidents_read: int = 0
    matched: int = 0  # incidents matched against the eligible wearers
    eligible: int = 0
    not_eligible: dict = field(default_factory=dict)  # reason -> wearers
    per_incident: list = field(default_factory=list)  # what each incident looked at
    seconds: float = 0.0

    def counts(self):
        answers = {M.PLACED: 0, M.COULD: 0, M.COULD_NOT: 0}
        modes = {}
        for r in self.rows:
            answers[r.answer.answer] += 1
            if r.answer.answer == M.COULD:
                modes[r.answer.mode] = modes.get(r.answer.mode, 0) + 1
        reasons = {}
        for f in self.refusals:
            reasons[f.kind] = reasons.get(f.kind, 0) + 1
        return {
            "incidents_read": self.incidents_read,
            "incidents_matched": self.matched,
            "incidents_refused": len(self.refusals),
            "refused_by_reason": reasons,
            "wearers_eligible": self.eligible,
            "wearers_not_eligible": sum(self.not_eligible.values()),
            "wearers_not_eligible_by_reason": self.not_eligible,
            "answers": answers,
            "could_have_been_there_by_mode": modes,
            "unmonitored_pairs": sum(c["unmonitored"] for c in self.per_incident),
            "not_yet_tagged_pairs": sum(c["not_yet_tagged"] for c in self.per_incident),
        }


def _iso(t):
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def match(store, data, policy, now=None, progress=None):
    """Match the incidents file's bytes against the store under the policy. progress(i, n)
    after each incident."""
    started = time.monotonic()
    now = time.time() if now is None else now
    res = Result()
    incidents, refusals, problem = crimes_incidents.read(data, policy.timezone)
    res.file_problem = problem
    res.refusals = list(refusals)
    res.incidents_read = len(incidents) + len(refusals)
    ok = []
    cutoff = max((r.cutoff_t for r in store.retention_runs()), default=None)
    for inc in incidents:
        why = policy.check_type(inc.crime_type)
        if why is None and cutoff is not None and inc.t_from < cutoff:
            why = (
                "before_retention_cutoff",
                ("the store no longer holds records from before %s (retention)" % _iso(cutoff)),
            )
        if why is None and inc.t_to - inc.t_from > policy.max_window_s:
            why = (
                "window_too_long",
                "a window of %.1f h is longer than the policy's %.1f h"
                % ((inc.t_to - inc.t_from) / 3600, policy.max_window_s / 3600),
            )
        if why:
            res.refusals.append(crimes_incidents.Refusal(inc.line, inc.id, *why, inc.crime_type))
        else:
            ok.append(inc)
    res.refusals.sort(key=lambda f: f.line)
    store.trail_index_refresh()
    wearers, res.not_eligible = crimes_eligibility.eligible(
        store, store.known_devices(), now, policy.flag_max_age_s
    )
    res.eligible = len(wearers)
    ext = store.trail_extents()
    have = sorted(d for d in wearers if d in ext)
    extents = (
        have,
        np.array([ext[d][0] for d in have], dtype=np.int64),
        np.array([ext[d][1] for d in have], dtype=np.int64),
        {d: ext[d] for d in have},
    )
    p = policy.params
    for i, inc in enumerate(ok):
        counts = _match_one(store, inc, wearers, extents, p, res.rows)
        res.per_incident.append(dict(counts, id=inc.id, line=inc.line))
        res.matched += 1
        if progress:
            progress(i + 1, len(ok))
    res.seconds = time.monotonic() - started
    return res


def _match_one(store, inc, wearers, extents, p, out):
    """Judge one incident against the eligible wearers; counts of what was looked at.
    extents: (devices, first t, last t) arrays of the eligible wearers' trails, and
    {device: (first t, last t)}."""
    w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
    u = inc.uncertainty_m
    # only the tiles screen() could keep: within report_within_m of the scene, or close
    # enough to place the wearer or for a gap in them to reach it at the top speed
    within = (u + p.excl_extra_m, max(p.excl_scale, p.place_scale) / 100, p.top_speed / 2)
    rows = [
        r
        for r in store.trail_tiles_near(inc.lat, inc.lon, u + p.report_within_m, w0, w1, within)
        if r[0] in wearers
    ]
    rows.sort()  # by device, then time: the same order on every backend
    tiles = crimes_tiles.screen(inc, rows, p)
    devices, first, last, ends = extents
    not_yet = first > w1  # no record before the window ends
    silent = (last < w0) & ~not_yet  # silent since before the window began
    partial = ((first > w0) | (last < w1)) & ~not_yet & ~silent  # monitored for part of it
    for i in partial.nonzero()[0].tolist():
        tiles[devices[i]] = []  # judged over the whole window
    counts = {
        "candidates": len(tiles),
        "unmonitored": int(silent.sum()),
        "not_yet_tagged": int(not_yet.sum()) + len(wearers) - len(devices),
    }
    jobs = {
        device: crimes_tiles.judging(inc, dev_tiles, p, *ends[device])
        for device, dev_tiles in sorted(tiles.items())
    }
    answers, _ = crimes_tiles.judge_all(jobs, store.trails)
    for device in jobs:
        if answers[device] is not None:
            out.append(Row(inc, device, answers[device]))
    return counts
