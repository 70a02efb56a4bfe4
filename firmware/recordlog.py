"""Append-only record log on the tag's littlefs flash (walking-skeleton version).

Records live in segment files /log/<first seq, 8 hex digits>, each entry
    seq (4 LE) | length (2 LE) | record bytes | crc32 (4 LE) of what precedes it
An entry is durable once its file is closed (littlefs commits on close). A torn or corrupt
tail is ignored when reading. The highest acknowledged sequence number is kept in
/log/acked; segments whose every record is acknowledged are deleted.
"""

import binascii

SEGMENT_RECORDS = 256
MAX_RECORD = 2048
_HDR = 6


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


class RecordLog:
    def __init__(self, fs, root="log"):
        self.fs = fs
        self.root = root
        try:
            fs.mkdir(root)
        except OSError:
            pass  # exists
        self.segments = self._list_segments()
        self.acked = self._read_acked()
        self.last_seq = 0
        self.last_record = None
        if self.segments:
            for seq, data in self._entries(self.segments[-1]):
                self.last_seq, self.last_record = seq, data
        self.last_seq = max(self.last_seq, self.acked)

    def _path(self, first):
        return "%s/%08x" % (self.root, first)

    def _list_segments(self):
        firsts = []
        for entry in self.fs.ilistdir(self.root):
            name = entry[0]
            if len(name) == 8:
                try:
                    firsts.append(int(name, 16))
                except ValueError:
                    pass
        firsts.sort()
        return firsts

    def _read_acked(self):
        try:
            with self.fs.open(self.root + "/acked", "rb") as f:
                b = f.read(4)
            return int.from_bytes(b, "little") if len(b) == 4 else 0
        except OSError:
            return 0

    def _entries(self, first):
        """(seq, record) for every intact entry of a segment, stopping at a torn tail."""
        try:
            f = self.fs.open(self._path(first), "rb")
        except OSError:
            return
        try:
            while True:
                hdr = f.read(_HDR)
                if len(hdr) < _HDR:
                    return
                n = hdr[4] | (hdr[5] << 8)
                if n > MAX_RECORD:
                    return
                body = f.read(n + 4)
                if len(body) < n + 4:
                    return
                if _crc(hdr + body[:n]) != int.from_bytes(body[n:], "little"):
                    return
                yield int.from_bytes(hdr[:4], "little"), body[:n]
        finally:
            f.close()

    def append(self, seq, record):
        """Store one record; durable when this returns."""
        if seq != self.last_seq + 1:
            raise ValueError("sequence gap: %d after %d" % (seq, self.last_seq))
        if len(record) > MAX_RECORD:
            raise ValueError("record too long")
        if not self.segments or seq - self.segments[-1] >= SEGMENT_RECORDS:
            self.segments.append(seq)
        entry = bytearray(seq.to_bytes(4, "little"))
        entry.extend(len(record).to_bytes(2, "little"))
        entry.extend(record)
        entry.extend(_crc(entry).to_bytes(4, "little"))
        with self.fs.open(self._path(self.segments[-1]), "ab") as f:
            f.write(entry)
        self.last_seq, self.last_record = seq, record

    def read_from(self, seq, limit):
        """Up to `limit` (seq, record) pairs starting at `seq`, oldest first."""
        out = []
        for i, first in enumerate(self.segments):
            nxt = self.segments[i + 1] if i + 1 < len(self.segments) else None
            if nxt is not None and nxt <= seq:
                continue
            for s, rec in self._entries(first):
                if s >= seq:
                    out.append((s, rec))
                    if len(out) >= limit:
                        return out
        return out

    def ack(self, seq):
        """Everything up to seq is safely stored on the host: remember it, reclaim space."""
        if seq <= self.acked:
            return
        seq = min(seq, self.last_seq)
        tmp = self.root + "/acked.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(seq.to_bytes(4, "little"))
        self.fs.rename(tmp, self.root + "/acked")
        self.acked = seq
        # a segment is reclaimable when the next one starts at or before acked + 1
        while len(self.segments) > 1 and self.segments[1] <= seq + 1:
            self.fs.remove(self._path(self.segments.pop(0)))

    def pending(self):
        return self.last_seq - self.acked
