"""Blocks as the store keeps them: the row of a stored block and the wire items in it,
shared by host/store/compact.py (the valid records) and outflow.py (what leaves the store)."""

from emtag.host.store.base import StoredRecord

FIX_COLS = "seq, t, t_ms, lat_e7, lon_e7, acc_cm"
PROVEN_COLS = "dev, t, seq, type, t_ms, lat_e7, lon_e7, acc_cm, alert, zone"
_ID_SHIFT = 32
FEED_SPAN = 128  # feed ids a block spans (records.cddl: at most 61 records)


def split_items(wire):
    """The wire items (CBOR data items) of a stored block, by their headers alone."""
    wire = bytes(wire)
    out, i = [], 0
    while i < len(wire):
        j = _skip(wire, i, 0)
        out.append(wire[i:j])
        i = j
    return out


def _skip(b, i, depth):
    if depth > 16 or i >= len(b):
        raise ValueError("stored block is not a CBOR sequence")
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        val = ai
    elif ai <= 27:
        n = 1 << (ai - 24)
        val = int.from_bytes(b[i : i + n], "big")
        i += n
    else:
        raise ValueError("stored block is not a CBOR sequence")
    if major in (2, 3):
        i += val
    elif major == 4:
        for _ in range(val):
            i = _skip(b, i, depth + 1)
    elif major == 5:
        for _ in range(2 * val):
            i = _skip(b, i, depth + 1)
    elif major == 6:
        i = _skip(b, i, depth + 1)
    if i > len(b):
        raise ValueError("stored block ends inside an item")
    return i


def fix_id(dev, seq):
    return -((dev << _ID_SHIFT) | seq)


def _one_item(wire):
    try:
        return _skip(bytes(wire), 0, 0) == len(wire)
    except (ValueError, IndexError):
        return False


def runs(rows):
    """Valid rows (dicts) as runs of consecutive seqs per device and bridge time, each
    ending at a row that seals itself (sealed_by None or its own seq). A row whose bytes are
    not one CBOR item is a run of its own (so the bytes come back as they went in)."""
    out, cur = [], []
    for r in sorted(rows, key=lambda r: (r["device"], r["seq"])):
        if cur:
            p = cur[-1]
            sealed = p.get("sealed_by") is None or p["sealed_by"] <= p["seq"]
            sealed = sealed or not _one_item(p["cose"]) or not _one_item(r["cose"])
            if (
                sealed
                or r["device"] != p["device"]
                or r["seq"] != p["seq"] + 1
                or r["received"] != p["received"]
            ):
                out.append(cur)
                cur = []
        cur.append(r)
    if cur:
        out.append(cur)
    return out


def stored_record(r):
    return StoredRecord(
        r["seq"], r["type"], r.get("t"), r.get("t_ms"), r.get("lat_e7"), r.get("lon_e7"),
        r.get("acc_cm"), r.get("alert"), r.get("zone"), bytes(r["cose"]),
    )  # fmt: skip


class Block:
    """A stored block row."""

    __slots__ = ("dev", "last", "first", "t_lo", "t_hi", "fixes", "received", "wire")

    def __init__(self, row):
        self.dev, self.last, self.first, self.t_lo, self.t_hi, self.fixes = row[:6]
        self.received = row[6]
        self.wire = bytes(row[7]) if len(row) > 7 and row[7] is not None else None

    def items(self):
        """Its records' wire items (a block of one is its bytes, whatever they are)."""
        return [self.wire] if self.first == self.last else split_items(self.wire)

    def item(self, seq):
        return self.items()[seq - self.first]


_BLOCK_COLS = "dev, last_seq, first_seq, t_lo, t_hi, fixes, received"
