"""Real evidence streams for host-side tests, made by the firmware's own evidence module and
SoftwareSigner: fixes, alerts and checkpoints exactly as a tag logs and uploads them."""

import random

from emtag.firmware import evidence
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import records
from emtag.tools.benchstreams import T0, RandomFix


class FakeFix(RandomFix):
    def __init__(self, i, rng=None):
        super().__init__(i, rng or random.Random(i), spread=5000)


_signers = {}


def signer(seed):
    if seed not in _signers:
        _signers[seed] = SoftwareSigner.generate(random.Random(seed).randbytes)
    return _signers[seed]


class Sink:
    """The record log's two appends, keeping the wire items (what the log reads back)."""

    def __init__(self):
        self.items = []

    def append(self, seq, wire):
        assert seq == len(self.items) + 1
        self.items.append(bytes(wire))

    def append_fix(self, seq, entry):
        n = entry[0]
        self.append(seq, records.fix_header(n) + bytes(entry[1 : 1 + n]))


def make_stream(tag_seed=1, n_fixes=30, every=8, alerts=(), seal_end=True, seed=0, max_ms=None):
    """Wire items of one tag: n_fixes fixes, a checkpoint whenever `every` records are
    in the open block, an alert after the fixes numbered in `alerts`, and (seal_end) a
    final checkpoint as the tag makes before an upload. Returns (signer, [wire, ...])."""
    sg = signer(tag_seed)
    chain = evidence.Chain(sg, max_records=every, max_ms=max_ms or evidence.SEAL_MS)
    sink = Sink()
    rng = random.Random(seed * 1000 + tag_seed)  # two tags are never in one place at once
    now = 0
    for i in range(n_fixes):
        now += 15000
        fix = FakeFix(i, rng)
        chain.add_fix(fix, now, sink)
        if i in alerts:
            kind = records.ALERTS[i % len(records.ALERTS)]
            rec = records.alert_record(
                chain.next_seq(), None, kind, fix.t, fix.t_ms, fix, "zone-%d" % i
            )
            chain.add(rec, now, sink)
        if chain.seal_due(now, delivering=False):
            chain.checkpoint(now, T0 + now // 1000, sink)
    if seal_end:
        chain.checkpoint(now, T0 + now // 1000, sink)
    return sg, sink.items
