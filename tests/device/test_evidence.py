import hashlib

from ramfs import new_fs

from emtag.firmware import cose, evidence
from emtag.firmware.recordlog import RecordLog
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, fixcodec, records

# the RAM flash in one test lives on the test heap, not the firmware's: give it room
MICROPYTHON_HEAPSIZE = "1M"

SIGNER = SoftwareSigner(0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721)
T0 = 1772442000


class Fix:
    def __init__(self, i):
        self.t, self.t_ms = T0 + 60 * i, 250
        self.lat, self.lon, self.acc_cm, self.fix = 534631000 + 7 * i, -22913000 - i, 500, 3
        self.sats, self.hdop, self.speed_mmps, self.course_cdeg, self.alt_cm = 9, 110, 0, None, 4200


class Sink:
    """The record log's two appends, keeping the wire items as the log reads them back."""

    def __init__(self):
        self.items = []

    def append(self, seq, wire):
        assert seq == len(self.items) + 1
        self.items.append(bytes(wire))

    def append_fix(self, seq, entry):
        n = entry[0]
        assert fixcodec.crc16(records.fix_header(n) + bytes(entry[1 : 1 + n])) == (
            entry[n + 1] << 8 | entry[n + 2]
        )
        self.append(seq, records.fix_header(n) + bytes(entry[1 : 1 + n]))


def add_fix(chain, i, now, log):
    chain.add_fix(Fix(i), now, log)


def add_alert(chain, i, now, log, kind="exclusion_breach"):
    f = Fix(i)
    rec = records.alert_record(chain.next_seq(), None, kind, f.t, f.t_ms, f, "home")
    return chain.add(rec, now, log)


def check_block(items, cp_index):
    """The checkpoint at items[cp_index] proves the records of its block: returns its map."""
    wire = items[cp_index]
    rec = cbor.loads(evidence.payload_of(wire))
    n = rec[records.K_COUNT]
    block = items[cp_index - n : cp_index]
    h = hashlib.sha256()
    for w in block:  # a fix as n | body | zeros to 65 bytes (records.hashed_fix)
        h.update(w if evidence.is_signed(w) else records.hashed_fix(evidence.fix_body(w)))
    aad = records.block_aad(SIGNER.key_id(), rec[records.K_SEQ] - n, h.digest())
    assert cose.verify1(SIGNER.public_key(), wire, aad) == evidence.payload_of(wire)
    hdr = cbor.loads(wire).value[1]
    assert hdr[4] == SIGNER.key_id()
    tags = hdr[records.H_TAGS]
    assert [tags[2 * k] << 8 | tags[2 * k + 1] for k in range(n)] == [
        fixcodec.crc16(w) for w in block
    ]
    return rec


def test_fixes_are_short_byte_strings_and_alerts_are_signed_at_once():
    chain, sink = evidence.Chain(SIGNER), Sink()
    add_fix(chain, 1, 1000, sink)
    add_fix(chain, 2, 2000, sink)
    w1, w2 = sink.items
    assert not evidence.is_signed(w1) and not evidence.is_signed(w2)
    assert w1[0] & 0xE0 == 0x40 and len(w1) < 30  # a CBOR byte string: a key fix
    assert len(w2) <= 8  # what changed since the fix before: a few bytes
    assert chain.unsealed() == 2 and chain.sealed_seq == 0
    w3 = add_alert(chain, 3, 3000, sink)
    assert evidence.is_signed(w3) and sink.items[-1] == w3
    assert cose.verify1(SIGNER.public_key(), w3) == evidence.payload_of(w3)
    assert cbor.loads(evidence.payload_of(w3))[records.K_ALERT] == "exclusion_breach"
    # the alert is in the open block: sealed at once while the uplink delivers, else by count
    assert chain.unsealed() == 3 and chain.seal_due(3000, True)
    assert not chain.seal_due(3000, False)


def test_a_checkpoint_signs_its_block_after_max_records():
    chain, sink = evidence.Chain(SIGNER, max_records=5, max_ms=10**9), Sink()
    for i in range(4):
        add_fix(chain, i, i, sink)
        assert not chain.seal_due(i, False)
    add_fix(chain, 4, 4, sink)
    assert chain.seal_due(4, False)
    w = chain.checkpoint(4, T0 + 4, sink)
    assert w is not None and evidence.is_signed(w) and sink.items[-1] == w
    cp = check_block(sink.items, 5)
    assert cp == {records.K_TYPE: 4, records.K_SEQ: 6, records.K_TIME: T0 + 4, records.K_COUNT: 5}
    assert not chain.seal_due(5) and chain.checkpoint(5, T0, sink) is None
    # the next block starts with a key fix: it decodes without the one before
    add_fix(chain, 5, 5, sink)
    assert evidence.fix_body(sink.items[-1])[0] & fixcodec.KEY
    assert not evidence.fix_body(sink.items[1])[0] & fixcodec.KEY


def test_the_time_rule_seals_only_while_the_uplink_delivers():
    chain, sink = evidence.Chain(SIGNER), Sink()
    assert chain.deadline is None
    add_fix(chain, 0, 1000, sink)
    assert chain.deadline == 1000 + evidence.SEAL_MS
    add_fix(chain, 1, 61000, sink)
    assert chain.deadline == 1000 + evidence.SEAL_MS  # counted from the oldest
    assert not chain.seal_due(1000 + evidence.SEAL_MS - 1, True)
    assert chain.seal_due(1000 + evidence.SEAL_MS, True)
    assert not chain.seal_due(10**9, False)  # link down: only the count seals
    chain.checkpoint(1000 + evidence.SEAL_MS, T0, sink)
    assert chain.deadline is None
    assert check_block(sink.items, 2)[records.K_COUNT] == 2
    # an alert joins the open block; the link's return seals it at once
    add_fix(chain, 2, 700000, sink)
    add_alert(chain, 3, 700001, sink, "strap_tamper")
    add_fix(chain, 4, 700002, sink)
    chain.checkpoint(700003, T0, sink)
    assert check_block(sink.items, 6)[records.K_COUNT] == 3
    add_fix(chain, 5, 800000, sink)
    assert not chain.seal_due(800001, True)
    chain.link_back()
    assert chain.seal_due(800001, True)


def test_add_refuses_a_record_that_is_not_next():
    chain, sink = evidence.Chain(SIGNER), Sink()
    add_fix(chain, 0, 0, sink)
    for seq, kind in ((1, "no_fix"), (3, "no_fix")):
        try:
            chain.add(records.alert_record(seq, None, kind, T0, 0), 0, sink)
        except ValueError:
            continue
        raise AssertionError("accepted seq %d" % seq)
    try:
        chain.add(records.checkpoint_record(2, T0, 1), 0, sink)
    except ValueError:
        pass
    else:
        raise AssertionError("accepted a checkpoint map")
    assert len(sink.items) == 1 and chain.seq == 1


def test_a_failed_store_leaves_the_chain_where_it_was():
    chain, sink = evidence.Chain(SIGNER), Sink()
    add_fix(chain, 0, 0, sink)
    deadline = chain.deadline

    class Full:
        def append(self, seq, wire):
            raise OSError(28)  # ENOSPC

        def append_fix(self, seq, entry):
            raise OSError(28)

    for fail in (lambda: add_fix(chain, 1, 5, Full()), lambda: add_alert(chain, 1, 5, Full())):
        try:
            fail()
        except OSError:
            pass
        assert (chain.seq, chain.unsealed(), chain.deadline) == (1, 1, deadline)
    add_fix(chain, 1, 5, sink)  # the same fix goes in once there is room
    chain.checkpoint(6, T0, sink)
    check_block(sink.items, 2)


def test_resume_continues_the_open_block_after_a_reboot():
    chain, sink = evidence.Chain(SIGNER, max_records=60), Sink()
    for i in range(3):
        add_fix(chain, i, i, sink)
    add_alert(chain, 3, 3, sink)
    add_fix(chain, 4, 4, sink)
    entries = [(n + 1, w) for n, w in enumerate(sink.items)]
    add_fix(chain, 5, 5, sink)  # what the tag would have logged without the reboot
    straight = sink.items[-1]

    again = evidence.Chain(SIGNER)
    again.resume(entries)
    assert (again.seq, again.sealed_seq, again.first) == (5, 0, 1)
    assert again.seal_due(0, True)  # what a reboot left open goes out once the link is up
    sink.items = sink.items[:5]
    add_fix(again, 5, 5, sink)
    assert sink.items[-1] == straight  # the block goes on: a delta from the fix before
    again.checkpoint(6, T0, sink)
    assert check_block(sink.items, 6)[records.K_COUNT] == 6

    sealed = evidence.Chain(SIGNER)
    sealed.resume([(n + 1, w) for n, w in enumerate(sink.items)])
    assert sealed.sealed_seq == sealed.seq == 7 and not sealed.seal_due(10**12, True)

    # shown only what follows the acknowledged seq (which always ends a block)
    tail = evidence.Chain(SIGNER)
    tail.resume([(n + 1, w) for n, w in enumerate(sink.items)][6:], sealed_upto=6)
    assert (tail.sealed_seq, tail.first, tail.seq) == (7, 8, 7)

    empty = evidence.Chain(SIGNER)
    empty.resume([])
    assert empty.seq == 0 and empty.next_seq() == 1


def test_the_log_holds_exactly_the_wire_items_and_resumes_after_reboot():
    fs, remount = new_fs()
    log = RecordLog(fs)
    chain = evidence.Chain(SIGNER, max_records=4)
    for i in range(10):
        add_fix(chain, i, i * 60000, log)
        if chain.seal_due(i * 60000, False):
            chain.checkpoint(i * 60000, T0 + i * 60, log)
    items = [w for _, w in log.read_from(1, 100)]
    signed = [k for k, w in enumerate(items) if evidence.is_signed(w)]
    assert len(signed) == 2 and not evidence.is_signed(items[-1])
    for k in signed:
        check_block(items, k)
    # a fix costs its body and 3 bytes on flash
    body = sum(len(w) - (1 if w[0] < 0x58 else 2) for w in items if not evidence.is_signed(w))
    other = sum(len(w) for w in items if evidence.is_signed(w))
    assert log.used == body + 3 * (len(items) - 2) + other + 4 * 2
    log2 = RecordLog(remount())
    back = evidence.Chain(SIGNER, max_records=4)
    back.resume(log2.read_from(max(1, log2.last_seq - back.max_records), 61), log2.acked)
    assert (back.seq, back.sealed_seq, back.first) == (chain.seq, chain.sealed_seq, chain.first)
    assert back.seal_due(0, True)
    back.checkpoint(0, T0, log2)
    items = [w for _, w in log2.read_from(1, 100)]
    check_block(items, len(items) - 1)


def test_the_per_fix_path_allocates_nothing():
    """Encoding, hashing and the CRC of a fix run under MicroPython's heap lock (an
    allocation would raise) once the chain has seen a fix of that length; the littlefs
    write behind append_fix is the log's own."""
    try:
        import micropython
    except ImportError:
        micropython = None

    class Flash:
        def append_fix(self, seq, entry):
            pass

    chain, flash = evidence.Chain(SIGNER), Flash()
    fixes = [Fix(i) for i in range(20)]
    # the block's key fix and a first delta: the views of their lengths are made once
    chain.add_fix(fixes[0], 0, flash)
    chain.add_fix(fixes[1], 1000, flash)
    for i in range(2, 20):
        if micropython is not None:
            micropython.heap_lock()
        try:
            chain.add_fix(fixes[i], 1000 * i, flash)
        finally:
            if micropython is not None:
                micropython.heap_unlock()
    assert chain.seq == 20 and chain.unsealed() == 20


def test_the_private_key_is_in_no_record():
    chain, sink = evidence.Chain(SIGNER, max_records=2), Sink()
    for i in range(4):
        add_fix(chain, i, i, sink)
        add_alert(chain, i, i, sink, "battery_low")
        chain.checkpoint(i, T0, sink)
    d = SIGNER._d.to_bytes(32, "big")
    for w in sink.items:
        assert d not in w
