"""Append-only record log on the tag's littlefs flash: the store half of store-and-forward.

Layout, in the directory /log:

    <first seq, 8 hex digits>   segment files, each a run of entries for consecutive seqs
                                (the file name is the first one's):
                                    fix:    n (1, 1..127) | fix body (n) | crc16 (2)
                                    other:  0x80 | len >> 8, len & 0xFF | record | crc16 (2)
                                the CRC-16 (protocol/fixcodec.py, big-endian) covers the
                                record's wire item (for a fix: its CBOR byte-string head and
                                body), the same value a checkpoint lists as its tag
    acked                       acknowledged by the bridge up to: seq (4 LE) | crc32 (4 LE);
                                written when a segment can go, and every ACK_EVERY records

A fix costs its body and 3 bytes; what read_from returns is the wire item either way.

Durability. `append` returns once the segment file is closed: littlefs commits on close,
atomically, so a power cut leaves either the file as it was or with the new entry. The
acknowledged mark is written to acked.tmp and renamed over acked (atomic in littlefs).
Reading checks every entry's CRC and stops a segment at the first bad one, so no corrupt
record is ever returned. Opening the log recovers from whatever a power cut left: an empty
newest segment is removed, a newest segment with a bad tail is rewritten without it (via a
temporary file and rename), and fully acknowledged segments left behind by an interrupted
reclaim are deleted.

Space. Segments hold up to `segment_bytes`; a segment is deleted as soon as every record in
it is acknowledged (acknowledged data is reclaimed first, always), except the newest, whose
last record continues the hash chain after a reboot. `used` counts the bytes of the
segments still held, against a budget of `max_bytes` (default DEFAULT_MAX_BYTES, at most
3/4 of the filesystem where it can tell its size). Thinning policy, when only unsent data
remains and it grows:

    used < 7/8 budget           every record is logged
    7/8 .. 15/16 budget         `full` (the tag raises storage_full); routine fixes thinned:
                                admit_routine() admits one in THIN_KEEP (1 per 15 min at
                                the normal 1 per min)
    >= 15/16 budget             no routine fixes; the last 1/16 is kept for alerts,
                                checkpoints and restart records, which are never refused
                                (past the budget they use the filesystem's own slack)
    `full` clears when acknowledgements bring `used` under 3/4 of the budget.

Nothing already logged is ever dropped before the bridge acknowledges it: sequence numbers
and the hash chain stay gap-free, thinning happens before a fix gets its sequence number.
"""

import binascii

from emtag.protocol.fixcodec import crc16

SEGMENT_BYTES = 16384
MAX_RECORD = 2048
# 30 days at one fix a minute is 43,200 compact fixes of 12-16 bytes with their entry and
# share of checkpoints, about 0.8 MB: under the 7/8 thinning threshold of the 1.5 MB budget
# a 2 MB flash gives (tests/device/test_recordlog.py, emtag bench records).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
THIN_KEEP = 15
ACK_EVERY = 64  # write the acknowledged mark at least this often (records)
MARKS = 8  # read positions remembered (uplink window / batch, and then some)
_CHUNK = 512  # bytes read from a segment at a time


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def _fix_head(n):
    return bytes([0x40 | n]) if n < 24 else bytes([0x58, n])


def _capacity(fs):
    """Bytes of the filesystem, or None where the vfs cannot tell (littlefs-python)."""
    statvfs = getattr(fs, "statvfs", None)
    if statvfs is None:
        return None
    try:
        st = statvfs("/")
    except OSError:
        return None
    return st[0] * st[2]


class _Reader:
    """Entries of one segment from a byte offset, read in chunks."""

    def __init__(self, f):
        self.f = f
        self.buf = b""
        self.pos = 0

    def take(self, n):
        """n bytes, or fewer at the end of the file."""
        while len(self.buf) - self.pos < n:
            more = self.f.read(max(_CHUNK, n))
            if not more:
                break
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        out = self.buf[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def entry(self):
        """(wire item, entry length) of the next intact entry, or None (end, torn, bad)."""
        h = self.take(1)
        if not h:
            return None
        h = h[0]
        if h & 0x80:
            lo = self.take(1)
            if not lo:
                return None
            n = ((h & 0x7F) << 8) | lo[0]
            if n == 0 or n > MAX_RECORD:
                return None
            body = self.take(n + 2)
            if len(body) < n + 2:
                return None
            item, size = body[:n], n + 4
        else:
            if h == 0:
                return None
            body = self.take(h + 2)
            if len(body) < h + 2:
                return None
            item, size = _fix_head(h) + body[:h], h + 3
        if crc16(item) != (body[-2] << 8 | body[-1]):
            return None
        return item, size


class RecordLog:
    def __init__(self, fs, root="log", max_bytes=None, segment_bytes=SEGMENT_BYTES):
        self.fs = fs
        self.root = root
        if max_bytes is None:
            max_bytes = DEFAULT_MAX_BYTES
            cap = _capacity(fs)
            if cap is not None:
                max_bytes = min(max_bytes, cap * 3 // 4)
        self.max_bytes = max_bytes
        # the newest segment is never reclaimed: keep segments small against the budget
        self.segment_bytes = min(segment_bytes, max(256, max_bytes // 16))
        self.thin_at = max_bytes * 7 // 8
        self.stop_at = max_bytes * 15 // 16
        self.clear_at = max_bytes * 3 // 4
        self.thinned = 0  # routine fixes not logged since boot (admit_routine said no)
        self._skip = 0
        self.full = False
        # (next seq, segment first seq, byte offset) where recent reads ended: the uplink
        # reads on from there, or again from a batch boundary when it resends
        self._marks: list = []
        try:
            fs.mkdir(root)
        except OSError:
            pass  # exists
        self.segments: list = []  # first seq of each segment, ascending
        self.sizes: list = []  # bytes in each segment
        self._list_segments()
        self.acked = self._read_acked()
        self.last_seq = 0
        self.last_record = None
        self._recover_tail()
        if self.segments:
            # a lost or damaged acked file: whatever was reclaimed had been acknowledged
            self.acked = max(self.acked, self.segments[0] - 1)
        self.last_seq = max(self.last_seq, self.acked)
        self.acked_durable = self.acked  # what a reboot would find in /log/acked
        self._reclaim()
        self._update_full()

    # layout
    def _path(self, first):
        return "%s/%08x" % (self.root, first)

    def _list_segments(self):
        found = []
        for entry in self.fs.ilistdir(self.root):
            name = entry[0]
            if name.endswith(".tmp"):
                self._remove(self.root + "/" + name)  # a rename that never happened
                continue
            if len(name) != 8:
                continue
            try:
                first = int(name, 16)
            except ValueError:
                continue
            size = entry[3] if len(entry) > 3 else self._size(first)
            found.append((first, size))
        found.sort()
        self.segments = [f for f, _ in found]
        self.sizes = [s for _, s in found]

    def _size(self, first):
        return self.fs.stat(self._path(first))[6]

    def _remove(self, path):
        try:
            self.fs.remove(path)
        except OSError:
            pass

    @property
    def used(self):
        return sum(self.sizes)

    def _read_acked(self):
        try:
            with self.fs.open(self.root + "/acked", "rb") as f:
                b = f.read(8)
        except OSError:
            return 0
        if len(b) != 8 or _crc(b[:4]) != int.from_bytes(b[4:], "little"):
            return 0
        return int.from_bytes(b[:4], "little")

    def _scan(self, first, offset, at, seq, limit, out, max_bytes=None):
        """Append (seq, wire item) to `out` for intact entries of a segment from byte
        `offset` (the entry of seq `at`) with seq >= `seq`, until `out` holds `limit` (or
        max_bytes of items, at least one); stops at the first torn or corrupt entry.
        Returns (offset after the last entry read, its seq + 1, last (seq, item) or None)."""
        last = None
        try:
            f = self.fs.open(self._path(first), "rb")
        except OSError:
            return offset, at, last
        size = sum(len(w) for _, w in out)
        try:
            if offset:
                f.seek(offset)
            r = _Reader(f)
            while len(out) < limit:
                got = r.entry()
                if got is None:
                    break
                item, n = got
                if at >= seq and out and max_bytes is not None and size + len(item) > max_bytes:
                    break
                offset += n
                last = (at, item)
                if at >= seq:
                    out.append(last)
                    size += len(item)
                at += 1
        finally:
            f.close()
        return offset, at, last

    def _recover_tail(self):
        """Find the last record, repairing what a power cut may have left at the tail."""
        while self.segments:
            first, size = self.segments[-1], self.sizes[-1]
            good, _, last = self._scan(first, 0, first, 1 << 32, 1, [])
            if last is None:
                # created by an append that never completed (or wholly unreadable)
                self._remove(self._path(first))
                self.segments.pop()
                self.sizes.pop()
                continue
            if good < size:
                self._truncate(first, good)
            self.last_seq, self.last_record = last
            return

    def _truncate(self, first, good):
        """Rewrite a segment keeping only its first `good` bytes (atomic: tmp + rename)."""
        path = self._path(first)
        tmp = path + ".tmp"
        with self.fs.open(path, "rb") as src:
            with self.fs.open(tmp, "wb") as dst:
                left = good
                while left:
                    chunk = src.read(min(left, 512))
                    if not chunk:
                        break
                    dst.write(chunk)
                    left -= len(chunk)
        self.fs.rename(tmp, path)
        self.sizes[-1] = good

    def _update_full(self):
        used = self.used
        if used >= self.thin_at:
            self.full = True
        elif used < self.clear_at:
            self.full = False

    # writing
    def admit_routine(self):
        """Whether a routine fix may be logged now (the thinning policy, module docstring).
        Ask before giving the fix a sequence number; alerts, checkpoints and restart records
        are never asked about: they are always logged."""
        used = self.used
        if used < self.thin_at:
            self._skip = 0
            return True
        if used < self.stop_at:
            self._skip = (self._skip + 1) % THIN_KEEP
            if self._skip == 1 or THIN_KEEP == 1:
                return True
        self.thinned += 1
        return False

    def append(self, seq, record):
        """Store one record (a signed item, or any bytes); durable when this returns."""
        n = len(record)
        if n > MAX_RECORD or n == 0:
            raise ValueError("record of %d bytes" % n)
        crc = crc16(record)
        entry = bytearray(n + 4)
        entry[0] = 0x80 | (n >> 8)
        entry[1] = n & 0xFF
        entry[2 : 2 + n] = record
        entry[n + 2] = crc >> 8
        entry[n + 3] = crc & 0xFF
        self._write(seq, entry)
        self.last_record = bytes(record)

    def append_fix(self, seq, entry):
        """Store a fix entry laid out by the caller (firmware/evidence.py) at the start of
        `entry`, a buffer that may be longer: n | body (n) | crc (2)."""
        n = entry[0]
        if not 1 <= n <= 127 or len(entry) < n + 3:
            raise ValueError("fix entry of %d bytes" % n)
        self._write(seq, entry, n + 3)
        self.last_record = None  # read it back if needed (last_item)

    def _write(self, seq, entry, size=None):
        if seq != self.last_seq + 1:
            raise ValueError("sequence gap: %d after %d" % (seq, self.last_seq))
        if size is None:
            size = len(entry)
        if not self.segments or self.sizes[-1] + size > self.segment_bytes:
            self.segments.append(seq)
            self.sizes.append(0)
        with self.fs.open(self._path(self.segments[-1]), "ab") as f:
            f.write(entry, size)  # a stream writes the first `size` bytes: no copy
        self.sizes[-1] += size
        self.last_seq = seq
        self._update_full()

    def ack(self, seq):
        """Everything up to seq is safely stored on the host: remember it, reclaim space.
        The mark is written to flash when a segment can be reclaimed, and at least every
        ACK_EVERY records: a power cut may lose the last few acknowledgements (those records
        are sent again; the bridge takes duplicates), never what was reclaimed."""
        seq = min(seq, self.last_seq)
        if seq <= self.acked:
            return
        self.acked = seq
        segs = self.segments
        if seq - self.acked_durable >= ACK_EVERY or (len(segs) > 1 and segs[1] <= seq + 1):
            tmp = self.root + "/acked.tmp"
            b = seq.to_bytes(4, "little")
            with self.fs.open(tmp, "wb") as f:
                f.write(b + _crc(b).to_bytes(4, "little"))
            self.fs.rename(tmp, self.root + "/acked")
            self.acked_durable = seq
            self._reclaim()
            self._update_full()

    def _reclaim(self):
        # a segment is all acknowledged (durably) when the next one starts at or before
        # acked + 1; the newest is kept: its last record continues the chain after a reboot
        while len(self.segments) > 1 and self.segments[1] <= self.acked_durable + 1:
            first = self.segments.pop(0)
            self.sizes.pop(0)
            self._remove(self._path(first))

    # reading
    def read_from(self, seq, limit, max_bytes=None):
        """Up to `limit` (seq, wire item) pairs starting at `seq`, oldest first, and no more
        than max_bytes of items (but at least one)."""
        out: list = []
        segs = self.segments
        if not segs or seq > self.last_seq:
            return out
        i, offset, at = -1, 0, 0
        for mark in self._marks:
            if mark[0] == seq and mark[1] in segs:
                i, offset, at = segs.index(mark[1]), mark[2], seq
                break
        if i < 0:
            i = 0
            while i + 1 < len(segs) and segs[i + 1] <= seq:
                i += 1
            at = segs[i]
        while True:
            first = segs[i]
            offset, at, _ = self._scan(first, offset, at, seq, limit, out, max_bytes)
            if len(out) >= limit or i + 1 >= len(segs) or at < segs[i + 1]:
                break  # full, the end, or out of bytes (or a damaged segment: stop there)
            i += 1
            offset, at = 0, segs[i]
        if out:
            marks = self._marks
            marks.append((out[-1][0] + 1, first, offset))
            if len(marks) > MARKS:
                marks.pop(0)
        return out

    def pending(self):
        return self.last_seq - self.acked
