"""Victim proximity (bilateral monitoring): a victim's phone reports its position to the
centre (never to the tag); the centre raises `victim_proximity` when the wearer may be within
the victim's distance, and `victim_proximity_clear` when they are surely apart again.

Two positions are compared only when taken within max_skew_s of each other. Either person
may have moved meanwhile, so the slack is both accuracy radii plus speed_mps times the skew:

    closest = max(0, d - slack)     the nearest they can have been
    farthest = d + slack

The alert is raised when closest <= distance (they may be within it: the victim's safety
comes first) and cleared when closest > distance + clear_margin (surely apart, with a
margin against flapping). A position vaguer than max_accuracy_m is not used (counted).

Order of arrival does not matter: a wearer's position is compared with the victim's
positions nearest in time on either side, and a victim's position with the wearer's, so a
tag's backlog arriving after the phone's reports (or the other way round) finds the same
pairs. An episode (raise ... clear) moves only forward in time: a pair older than the last
change of state changes nothing. Each alert names the records it rests on (the wearer's
record seq, the victim position's id) and the figures, never the victim's coordinates.
"""

import json
import threading
import time
from typing import NamedTuple

from emtag.host import geo

RAISE = "victim_proximity"
CLEAR = "victim_proximity_clear"
VICTIM_CACHE_S = 5.0


class Position(NamedTuple):
    t: int
    lat_e7: int
    lon_e7: int
    acc_cm: int | None
    ref: int  # the wearer's record seq, or the victim position's id


class Assessment(NamedTuple):
    distance_m: float  # between the two reported points
    closest_m: float
    farthest_m: float
    skew_s: int
    near: bool  # closest <= limit: the wearer may be within the victim's distance
    apart: bool  # closest > limit + margin: surely apart


def assess(wearer, victim, limit_m, settings):
    """Compare two positions; None when they cannot be compared (too far apart in time,
    or one too vague)."""
    skew = abs(wearer.t - victim.t)
    if skew > settings.max_skew_s:
        return None
    acc_w = (wearer.acc_cm or 0) / 100
    acc_v = (victim.acc_cm or 0) / 100
    if max(acc_w, acc_v) > settings.max_accuracy_m:
        return None
    d = geo.distance_m(wearer.lat_e7, wearer.lon_e7, victim.lat_e7, victim.lon_e7)
    slack = acc_w + acc_v + settings.speed_mps * skew
    closest = max(0.0, d - slack)
    return Assessment(
        d, closest, d + slack, skew, closest <= limit_m, closest > limit_m + settings.clear_margin_m
    )


class Proximity:
    """Checks positions as they reach the centre and raises the centre's alerts (in the
    store, as centre alerts); returns them so the caller can tell the pages."""

    def __init__(self, settings, now_iso):
        self.settings = settings
        self.now_iso = now_iso
        self._victims = ([], 0.0)
        self._lock = threading.Lock()  # one decision at a time per centre
        self.unusable = 0  # pairs not compared: too vague

    def victims_of(self, store, device):
        cached, at = self._victims
        if time.monotonic() - at > VICTIM_CACHE_S:
            cached = store.victims()
            self._victims = (cached, time.monotonic())
        return [v for v in cached if device in v.devices]

    def forget_victims(self):
        self._victims = ([], 0.0)

    def on_wearer(self, store, device, pos):
        raised = []
        for victim in self.victims_of(store, device):
            for after in (False, True):
                vp = store.victim_position(victim.name, pos.t, after=after)
                if vp is not None:
                    v = Position(vp.t, vp.lat_e7, vp.lon_e7, vp.acc_cm, vp.id)
                    raised += self._decide(store, device, victim, pos, v)
        return raised

    def on_victim(self, store, victim, vpos):
        raised = []
        for device in victim.devices:
            for fix in (store.fix_before(device, vpos.t), store.fix_after(device, vpos.t)):
                if fix is not None:
                    w = Position(fix.t, fix.lat_e7, fix.lon_e7, fix.acc_cm, fix.seq)
                    raised += self._decide(store, device, victim, w, vpos)
        return raised

    def _decide(self, store, device, victim, w, v):
        limit = victim.distance_m or self.settings.distance_m
        a = assess(w, v, limit, self.settings)
        if a is None:
            if w.acc_cm and w.acc_cm / 100 > self.settings.max_accuracy_m:
                self.unusable += 1
            return []
        with self._lock:
            last = self._last(store, device, victim.name)
            t = max(w.t, v.t)
            is_open = last is not None and last.kind == RAISE
            if last is not None and t <= last.t:
                return []  # older than the last change: the episode only moves forward
            if a.near and not is_open:
                kind = RAISE
            elif a.apart and is_open:
                kind = CLEAR
            else:
                return []
            detail = {
                "victim": victim.name,
                "limit_m": limit,
                "distance_m": round(a.distance_m, 1),
                "closest_m": round(a.closest_m, 1),
                "farthest_m": round(a.farthest_m, 1),
                "skew_s": a.skew_s,
                "wearer_seq": w.ref,
                "wearer_t": w.t,
                "wearer_acc_m": (w.acc_cm or 0) / 100,
                "victim_position": v.ref,
                "victim_t": v.t,
                "victim_acc_m": (v.acc_cm or 0) / 100,
            }
            text = json.dumps(detail, sort_keys=True)
            aid = store.add_centre_alert(
                device, kind, t, w.lat_e7, w.lon_e7, w.acc_cm, text, self.now_iso()
            )
        return [{"kind": "alert", "source": "centre", "device": device, "id": aid, "alert": kind}]

    def _last(self, store, device, victim_name):
        for a in store.centre_alerts(device=device):
            if a.kind in (RAISE, CLEAR) and json.loads(a.detail).get("victim") == victim_name:
                return a
        return None
