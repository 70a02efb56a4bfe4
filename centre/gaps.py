"""Why there is no position: the records a tag sent during a stretch without fixes say
whether it was on (checkpoints, a no-fix or shielding alert), restarted (a power cut or
reset: a restart record after the gap), or had sent nothing yet (link down or tag off)."""

from typing import NamedTuple

from emtag.protocol import records as R

NO_FIX_ALERTS = ("no_fix", "shielding_suspected", "jamming_suspected")


class Gap(NamedTuple):
    t_from: int  # the last position before the gap (or the window start)
    t_to: int | None  # the first position after it (None: none yet)
    reason: str  # "no fix", "tag off", "link down", "unknown"
    detail: str  # what the records say, for a person
    seqs: tuple  # the records the reason rests on


def explain(store, device, t_from, t_to, at=None):
    """The reason for no position between t_from and t_to (t_to None: none since; `at`,
    the time asked about, past everything the tag has sent means the link or the tag)."""
    newest = store.newest_record(device)
    if t_to is None and newest is not None and at is not None and (newest.t or 0) < at:
        return Gap(
            t_from, None, "link down",
            "nothing received from the tag after its record of %s (received %s): link down "
            "or tag off" % (_hm(newest.t), newest.received), (newest.seq,),
        )  # fmt: skip
    if t_from == 0 and t_to is not None:
        return Gap(0, t_to, "no data", "before the tag's first position (%s)" % _hm(t_to), ())
    end = t_to if t_to is not None else (1 << 62)
    recs = store.records_between(device, t_from + 1, end - 1 if t_to else end)
    restarts = [r for r in recs if r.type == R.RESTART]
    nofix = [r for r in recs if r.type == R.ALERT and r.alert in NO_FIX_ALERTS]
    alive = [r for r in recs if r.type in (R.CHECKPOINT, R.ALERT)]
    if restarts:
        r = restarts[0]
        return Gap(
            t_from, t_to, "tag off",
            "the tag restarted at %s (power cut or reset); it logged nothing before that"
            % _hm(r.t), tuple(x.seq for x in restarts),
        )  # fmt: skip
    if nofix:
        kinds = sorted({r.alert for r in nofix})
        return Gap(
            t_from, t_to, "no fix",
            "the tag was on and reported %s" % ", ".join(kinds), tuple(r.seq for r in nofix),
        )  # fmt: skip
    if alive:
        return Gap(
            t_from, t_to, "no fix",
            "the tag was on (%d signed record%s in the gap) but logged no position"
            % (len(alive), "" if len(alive) == 1 else "s"),
            tuple(r.seq for r in alive[:20]),
        )  # fmt: skip
    if newest is None:
        return Gap(t_from, t_to, "no data", "the store holds no record of this tag", ())
    return Gap(
        t_from, t_to, "unknown",
        "the tag logged nothing in between and did not restart (receiver off to save power?)",
        (),
    )  # fmt: skip


def _hm(t):
    import datetime

    if t is None:
        return "?"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
