import hashlib

from ramfs import new_fs

from emtag.firmware import cose, evidence
from emtag.firmware.recordlog import RecordLog
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, records

# the RAM flash in one test lives on the test heap, not the firmware's: give it room
MICROPYTHON_HEAPSIZE = "1M"

SIGNER = SoftwareSigner(0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721)
T0 = 1772442000


class Fix:
    def __init__(self, i):
        self.t, self.t_ms = T0 + 60 * i, 250
        self.lat, self.lon, self.acc_cm, self.fix = 534631000 + i, -22913000 - i, 500, 3
        self.sats, self.hdop, self.speed_mmps, self.course_cdeg, self.alt_cm = 9, 110, 0, None, 4200


class Sink:
    def __init__(self):
        self.items = []

    def __call__(self, seq, wire):
        assert seq == len(self.items) + 1
        self.items.append(wire)


def add_fix(chain, i, now, sink):
    return chain.add(records.fix_record(chain.next_seq(), chain.head, Fix(i)), now, sink)


def add_alert(chain, i, now, sink, kind="exclusion_breach"):
    f = Fix(i)
    rec = records.alert_record(chain.next_seq(), chain.head, kind, f.t, f.t_ms, f, "home")
    return chain.add(rec, now, sink)


def check_chain(items, device_id):
    """Every item links to the one before; signed ones verify. Returns the payloads."""
    prev = records.genesis(device_id)
    out = []
    for n, wire in enumerate(items):
        if evidence.is_signed(wire):
            payload = cose.verify1(SIGNER.public_key(), wire)
            kid = cbor.loads(wire).value[1][4]
            assert kid == device_id
        else:
            payload = wire
        rec = cbor.loads(payload)
        assert rec[records.K_SEQ] == n + 1
        assert rec[records.K_PREV] == prev
        prev = hashlib.sha256(payload).digest()
        out.append(rec)
    return out


def test_genesis_is_bound_to_the_device():
    g = records.genesis(SIGNER.key_id())
    assert len(g) == 32
    assert g == hashlib.sha256(cbor.dumps(["emtag genesis v1", SIGNER.key_id()])).digest()
    assert g != records.genesis(b"\x00" * 8)
    chain = evidence.Chain(SIGNER)
    assert chain.head == g and chain.next_seq() == 1 and chain.unsealed() == 0


def test_fixes_are_plain_records_and_alerts_are_signed_at_once():
    chain, sink = evidence.Chain(SIGNER), Sink()
    w1 = add_fix(chain, 1, 1000, sink)
    w2 = add_fix(chain, 2, 2000, sink)
    assert not evidence.is_signed(w1)
    assert cbor.loads(w1)[records.K_TYPE] == records.FIX
    assert chain.unsealed() == 2 and chain.sealed_seq == 0
    w3 = add_alert(chain, 3, 3000, sink)
    assert evidence.is_signed(w3)
    assert chain.unsealed() == 0 and chain.sealed_seq == 3
    assert not chain.seal_due(10**9)  # the alert sealed everything
    recs = check_chain(sink.items, SIGNER.key_id())
    assert recs[2][records.K_ALERT] == "exclusion_breach"
    assert evidence.payload_of(w3) == cbor.dumps(recs[2])
    assert [len(w) for w in (w1, w2)] == [len(cbor.dumps(r)) for r in recs[:2]]


def test_a_checkpoint_is_due_after_max_records():
    chain, sink = evidence.Chain(SIGNER, max_records=5, max_ms=10**9), Sink()
    for i in range(4):
        add_fix(chain, i, i, sink)
        assert not chain.seal_due(i)
    add_fix(chain, 4, 4, sink)
    assert chain.seal_due(4)
    w = chain.checkpoint(4, T0 + 4, 4, sink)
    assert w is not None and evidence.is_signed(w)
    cp = check_chain(sink.items, SIGNER.key_id())[-1]
    assert cp[records.K_TYPE] == records.CHECKPOINT
    assert cp[records.K_SEQ] == 6
    assert (cp[records.K_FIRST], cp[records.K_LAST]) == (1, 5)
    assert cp[records.K_DEVICE] == SIGNER.key_id()
    assert cp[records.K_PREV] == hashlib.sha256(sink.items[4]).digest()  # the chain head
    assert (cp[records.K_TIME], cp[records.K_TIME_MS]) == (T0 + 4, 4)
    assert not chain.seal_due(5) and chain.checkpoint(5, T0, 0, sink) is None


def test_a_checkpoint_is_due_when_the_oldest_unsealed_record_is_max_ms_old():
    chain, sink = evidence.Chain(SIGNER), Sink()
    assert chain.deadline is None
    add_fix(chain, 0, 1000, sink)
    assert chain.deadline == 1000 + evidence.CHECKPOINT_MS
    add_fix(chain, 1, 61000, sink)
    assert chain.deadline == 1000 + evidence.CHECKPOINT_MS  # counted from the oldest
    assert not chain.seal_due(1000 + evidence.CHECKPOINT_MS - 1)
    assert chain.seal_due(1000 + evidence.CHECKPOINT_MS)
    chain.checkpoint(1000 + evidence.CHECKPOINT_MS, T0, 0, sink)
    assert chain.deadline is None
    cp = check_chain(sink.items, SIGNER.key_id())[-1]
    assert (cp[records.K_FIRST], cp[records.K_LAST]) == (1, 2)
    # the range of the next checkpoint starts after the last signed record, alert or not
    add_fix(chain, 2, 700000, sink)
    add_alert(chain, 3, 700001, sink, "strap_tamper")
    add_fix(chain, 4, 700002, sink)
    chain.checkpoint(700003, T0, 0, sink)
    cp = check_chain(sink.items, SIGNER.key_id())[-1]
    assert (cp[records.K_FIRST], cp[records.K_LAST]) == (6, 6)


def test_add_refuses_a_record_that_does_not_continue_the_chain():
    chain, sink = evidence.Chain(SIGNER), Sink()
    add_fix(chain, 0, 0, sink)
    for seq, prev in ((1, chain.head), (3, chain.head), (2, records.genesis(SIGNER.key_id()))):
        try:
            chain.add(records.fix_record(seq, prev, Fix(1)), 0, sink)
        except ValueError:
            continue
        raise AssertionError("accepted seq %d" % seq)
    assert len(sink.items) == 1 and chain.seq == 1


def test_a_failed_store_leaves_the_chain_where_it_was():
    chain, sink = evidence.Chain(SIGNER), Sink()
    add_fix(chain, 0, 0, sink)
    head, deadline = chain.head, chain.deadline

    def full(seq, wire):
        raise OSError(28)  # ENOSPC

    try:
        add_fix(chain, 1, 5, full)
    except OSError:
        pass
    assert (chain.seq, chain.head, chain.deadline) == (1, head, deadline)
    add_fix(chain, 1, 5, sink)  # the same record goes in once there is room
    check_chain(sink.items, SIGNER.key_id())


def test_resume_continues_the_chain_and_seals_what_a_reboot_left_open():
    chain, sink = evidence.Chain(SIGNER, max_records=60), Sink()
    for i in range(3):
        add_fix(chain, i, i, sink)
    add_alert(chain, 3, 3, sink)
    add_fix(chain, 4, 4, sink)
    add_fix(chain, 5, 5, sink)
    entries = [(n + 1, w) for n, w in enumerate(sink.items)]

    again = evidence.Chain(SIGNER)
    again.resume(entries)
    assert (again.seq, again.head, again.sealed_seq) == (chain.seq, chain.head, 4)
    assert again.seal_due(0)  # at once, whatever the clock
    again.checkpoint(0, T0, 0, sink)
    cp = check_chain(sink.items, SIGNER.key_id())[-1]
    assert (cp[records.K_FIRST], cp[records.K_LAST]) == (5, 6)

    sealed = evidence.Chain(SIGNER)
    sealed.resume([(n + 1, w) for n, w in enumerate(sink.items)])
    assert sealed.sealed_seq == sealed.seq == 7 and not sealed.seal_due(10**12)

    # shown only the unsealed tail, it claims no more than it knows
    tail = evidence.Chain(SIGNER)
    tail.resume(entries[4:])
    assert tail.sealed_seq == 4 and tail.seal_due(0)

    empty = evidence.Chain(SIGNER)
    empty.resume([])
    assert empty.seq == 0 and empty.head == records.genesis(SIGNER.key_id())


def test_the_log_holds_exactly_the_wire_items_and_resumes_after_reboot():
    fs, remount = new_fs()
    log = RecordLog(fs)
    chain = evidence.Chain(SIGNER, max_records=4)
    for i in range(10):
        add_fix(chain, i, i * 60000, log.append)
        if chain.seal_due(i * 60000):
            chain.checkpoint(i * 60000, T0 + i * 60, 0, log.append)
    items = [w for _, w in log.read_from(1, 100)]
    recs = check_chain(items, SIGNER.key_id())
    kinds = [r[records.K_TYPE] for r in recs]
    assert kinds.count(records.CHECKPOINT) == 2 and kinds[-1] == records.FIX
    log2 = RecordLog(remount())
    back = evidence.Chain(SIGNER, max_records=4)
    back.resume(log2.read_from(max(1, log2.last_seq - evidence.CHECKPOINT_RECORDS), 61))
    assert (back.seq, back.head, back.sealed_seq) == (chain.seq, chain.head, chain.sealed_seq)
    assert back.seal_due(0)
    back.checkpoint(0, T0, 0, log2.append)
    check_chain([w for _, w in log2.read_from(1, 100)], SIGNER.key_id())


def test_the_private_key_is_in_no_record():
    chain, sink = evidence.Chain(SIGNER, max_records=2), Sink()
    for i in range(4):
        add_fix(chain, i, i, sink)
        add_alert(chain, i, i, sink, "battery_low")
    d = SIGNER._d.to_bytes(32, "big")
    for w in sink.items:
        assert d not in w
