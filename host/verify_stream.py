"""Verify a record stream of any size in bounded memory: host/verify.py, a segment at a time.

    for report in verify_stream(iter_items(fp), key, first_seq=.., last_seq=..):
        ...   # a verify.Report per segment, indices and gaps counted from the stream's start

verify() looks at a whole stream at once (it must, to tell a reordered record from a
spliced one); its memory grows with the stream (~3 KB a record). Here the stream is cut
into segments of about WINDOW items, each ending just after a signed record (so nothing
unsealed spans a cut), and each segment is verified by verify() anchored at the newest
valid record before it, exactly as the bridge verifies an upload continuing its store.
Records at or below the anchor are compared with the digests of the last HELD records, so
a duplicate or a conflict across a cut is found as it would be inside one.

Across a cut the verdicts are the same whenever the stream is valid, and a stream that is
not valid still fails; only the wording can differ for anomalies that span a cut (a record
moved further than HELD seqs is reported spliced rather than reordered). A tag seals at
least every 15 records, so a segment that reaches MAX_SEGMENT items without a signed record
is cut there: its unsealed tail is not proven by anything within that bound.

iter_items(fp) splits a file of concatenated wire items without reading it whole.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import cbor2

from emtag.host import verify

WINDOW = 1024  # items per segment (about 6 MB of verify()'s working memory)
MAX_SEGMENT = 4 * WINDOW
HELD = 4 * WINDOW  # digests of recent valid records kept for duplicates across cuts
_CHUNK = 1 << 16
_LOOKAHEAD = 2 * verify.MAX_ITEM + 64  # a well-formed item always fits in this


class ItemReader:
    """Iterates over the wire items of a CBOR sequence read from fp in chunks. At bytes that
    start no CBOR item it yields them (at most MAX_ITEM + 1, so they verify as modified) as
    one last item and stops; `unread` then counts the bytes it did not look at."""

    def __init__(self, fp: BinaryIO):
        self.fp = fp
        self.unread = 0
        self.bad_at: int | None = None  # stream offset of the bytes that start no item
        self._eof = False

    def __iter__(self) -> Iterator[bytes]:
        buf = b""
        base = 0  # stream offset of buf[0]
        while True:
            if not self._eof and len(buf) < _LOOKAHEAD:
                more = self.fp.read(_CHUNK)
                if not more:
                    self._eof = True
                buf += more
            if not buf:
                return
            bio = io.BytesIO(buf)
            dec = cbor2.CBORDecoder(bio, read_size=1, max_depth=8)
            pos = 0
            while len(buf) - pos >= _LOOKAHEAD or (self._eof and pos < len(buf)):
                try:
                    dec.decode()
                except Exception:  # cbor2 raises many types on malformed input
                    rest = buf[pos : pos + verify.MAX_ITEM + 1]
                    self.bad_at = base + pos
                    self.unread = len(buf) - pos - len(rest) + self._remaining()
                    yield rest
                    return
                end = bio.tell()
                yield buf[pos:end]
                pos = end
            buf, base = buf[pos:], base + pos

    def _remaining(self) -> int:
        n = 0
        while chunk := self.fp.read(_CHUNK):
            n += len(chunk)
        return n


def iter_items(fp: BinaryIO) -> ItemReader:
    return ItemReader(fp)


def verify_stream(
    items: Iterable[bytes],
    public_key,
    *,
    first_seq: int | None = None,
    last_seq: int | None = None,
    window: int = WINDOW,
) -> Iterator[verify.Report]:
    """verify.verify() over a stream of any length, in segments (module docstring). Yields
    one Report per segment; verdict indices and gap positions count from the stream's start.
    The stream is ok when every report is ok and at least one record was read."""
    key = public_key
    if not hasattr(key, "public_numbers"):
        from emtag.host import cose as host_cose

        key = host_cose.load_public_key(public_key)
    held: OrderedDict[int, bytes] = OrderedDict()
    anchor: tuple[int, bytes] | None = None
    start = 0  # stream index of the segment's first item
    seg: list[bytes] = []
    first = True

    def run(segment: list[bytes], final: bool) -> verify.Report:
        nonlocal anchor, start, first
        report = verify.verify(
            segment,
            key,
            first_seq=first_seq if first else None,
            last_seq=last_seq if final else None,
            anchor=anchor,
            held=held.get,
            check_order=True,
        )
        first = False
        for v in report.verdicts:
            v.index += start
            if v.kind == verify.VALID and v.seq is not None:
                held[v.seq] = v.digest
                held.move_to_end(v.seq)
                if anchor is None or v.seq > anchor[0]:
                    anchor = (v.seq, v.digest)
        while len(held) > HELD:
            held.popitem(last=False)
        for g in report.gaps:
            g.before += start
        start += len(segment)
        return report

    for wire in items:
        seg.append(wire)
        n = len(seg)
        if (n >= window and wire[:1] == b"\xd2") or n >= MAX_SEGMENT:
            yield run(seg, final=False)
            seg = []
    if seg or first or (last_seq is not None and (anchor is None or anchor[0] < last_seq)):
        yield run(seg, final=True)
