from ramfs import new_fs

from emtag.firmware import recordlog
from emtag.firmware.recordlog import RecordLog

# the RAM flash lives on the test heap, not the firmware's: give it room
MICROPYTHON_HEAPSIZE = "1M"


def _rec(i):
    return b"record-%d-" % i + bytes([i % 256]) * (i % 50)


def _fill(log, upto, make=_rec):
    for i in range(log.last_seq + 1, upto + 1):
        log.append(i, make(i))


def test_append_read_and_reopen():
    fs, remount = new_fs()
    log = RecordLog(fs)
    assert log.last_seq == 0 and log.acked == 0 and log.last_record is None
    _fill(log, 10)
    got = log.read_from(4, 3)
    assert got == [(4, _rec(4)), (5, _rec(5)), (6, _rec(6))]
    again = RecordLog(remount())
    assert again.last_seq == 10
    assert again.last_record == _rec(10)
    assert again.read_from(1, 100) == [(i, _rec(i)) for i in range(1, 11)]


def test_sequence_must_continue():
    fs, _ = new_fs()
    log = RecordLog(fs)
    log.append(1, b"a")
    for bad in (1, 3):
        try:
            log.append(bad, b"b")
        except ValueError:
            continue
        raise AssertionError("accepted seq %d after 1" % bad)


def test_segments_roll_over_and_reads_cross_them():
    fs, remount = new_fs()
    log = RecordLog(fs, segment_bytes=300)
    _fill(log, 60)
    assert len(log.segments) > 5
    assert all(size <= 300 for size in log.sizes)
    assert log.used == sum(log.sizes)
    # sequential reads (the uplink's pattern, served from a cursor) and random ones agree
    seq, got = 1, []
    while True:
        batch = log.read_from(seq, 7)
        if not batch:
            break
        got.extend(batch)
        seq = batch[-1][0] + 1
    assert got == [(i, _rec(i)) for i in range(1, 61)]
    for start in (60, 33, 1, 17, 59):
        assert log.read_from(start, 3) == [(i, _rec(i)) for i in range(start, min(start + 3, 61))]
    assert log.read_from(61, 3) == []
    assert RecordLog(remount(), segment_bytes=300).read_from(1, 100) == got


def test_ack_persists_and_reclaims_segments():
    fs, remount = new_fs(block_count=512)
    log = RecordLog(fs, segment_bytes=400)
    n = 200
    _fill(log, n, lambda i: b"x%d" % i)
    before = len(log.segments)
    used = log.used
    log.ack(150)
    assert log.segments[0] <= 151 and len(log.segments) < before  # acknowledged data reclaimed
    assert log.used < used
    again = RecordLog(remount(), segment_bytes=400)
    assert again.acked == 150
    assert again.pending() == n - 150
    assert again.read_from(again.acked + 1, 1) == [(151, b"x151")]
    # acknowledging everything keeps the newest segment: its last record continues the chain
    again.ack(1000)
    assert again.acked == n and len(again.segments) == 1
    third = RecordLog(remount(), segment_bytes=400)
    assert third.last_seq == n and third.last_record == b"x%d" % n and third.pending() == 0
    third.append(n + 1, b"next")
    assert third.read_from(n + 1, 5) == [(n + 1, b"next")]


def test_acknowledgements_are_written_lazily_but_never_after_a_reclaim():
    fs, remount = new_fs()
    log = RecordLog(fs, segment_bytes=100000)  # one segment: nothing to reclaim
    _fill(log, recordlog.ACK_EVERY + 20)
    log.ack(10)
    assert log.acked == 10 and log.pending() == recordlog.ACK_EVERY + 10
    assert RecordLog(remount()).acked == 0  # not written yet: a reboot resends 1..10
    log.ack(recordlog.ACK_EVERY + 5)
    assert log.acked_durable == recordlog.ACK_EVERY + 5
    assert RecordLog(remount()).acked == recordlog.ACK_EVERY + 5
    # a segment that can be reclaimed is reclaimed only after the mark is on flash
    fs, remount = new_fs()
    log = RecordLog(fs, segment_bytes=200)
    _fill(log, 30)
    log.ack(log.segments[1] - 1)
    assert log.acked_durable == log.acked and RecordLog(remount()).acked == log.acked


def test_resending_reads_from_a_remembered_position():
    fs, _ = new_fs()
    log = RecordLog(fs, segment_bytes=4000)
    _fill(log, 100)
    assert log.read_from(1, 8)[-1][0] == 8
    assert log.read_from(9, 8)[-1][0] == 16
    assert log.read_from(17, 8)[-1][0] == 24
    # acknowledged up to 8, then no answer: the uplink reads again from 9
    assert log.read_from(9, 8) == [(i, _rec(i)) for i in range(9, 17)]
    assert log.read_from(50, 2) == [(50, _rec(50)), (51, _rec(51))]
    assert log.read_from(17, 3) == [(i, _rec(i)) for i in range(17, 20)]


def test_torn_tail_is_dropped_and_logging_continues_readably():
    fs, remount = new_fs()
    log = RecordLog(fs)
    _fill(log, 3)
    with fs.open(log._path(log.segments[-1]), "ab") as f:
        f.write(b"\x04\x00\x00\x00\x20\x00torn")  # a header promising more than is there
    again = RecordLog(remount())
    assert again.last_seq == 3
    assert again.read_from(1, 10) == [(i, _rec(i)) for i in range(1, 4)]
    # entries appended after recovery must not hide behind the old torn bytes
    _fill(again, 6)
    assert RecordLog(remount()).read_from(1, 10) == [(i, _rec(i)) for i in range(1, 7)]


def test_corrupt_entry_is_never_returned():
    fs, remount = new_fs()
    log = RecordLog(fs)
    _fill(log, 5)
    path = log._path(log.segments[-1])
    with fs.open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) - 6] ^= 0x01  # a bit flip inside record 5
    with fs.open(path, "wb") as f:
        f.write(data)
    again = RecordLog(remount())
    assert again.read_from(1, 10) == [(i, _rec(i)) for i in range(1, 5)]
    assert again.last_seq == 4


def test_empty_newest_segment_left_by_a_power_cut_is_removed():
    fs, remount = new_fs()
    log = RecordLog(fs, segment_bytes=200)
    _fill(log, 10)
    with fs.open(log._path(11), "wb"):
        pass  # created, never written
    again = RecordLog(remount(), segment_bytes=200)
    assert again.last_seq == 10 and again.last_record == _rec(10)
    assert 11 not in again.segments
    _fill(again, 12)
    assert RecordLog(remount()).read_from(9, 10) == [(i, _rec(i)) for i in (9, 10, 11, 12)]


def test_interrupted_reclaim_and_lost_ack_file_recover():
    fs, remount = new_fs()
    log = RecordLog(fs, segment_bytes=200)
    _fill(log, 40)
    # the ack was written but the power went before the segments were deleted
    b = (30).to_bytes(4, "little")
    with fs.open("log/acked", "wb") as f:
        f.write(b + recordlog._crc(b).to_bytes(4, "little"))
    again = RecordLog(remount(), segment_bytes=200)
    assert again.acked == 30
    assert again.segments[0] <= 31 and again.segments[1] > 31
    # a damaged ack file: what is gone had been acknowledged, so acked follows the segments
    with fs.open("log/acked", "wb") as f:
        f.write(b"\x01\x02")
    third = RecordLog(remount(), segment_bytes=200)
    assert third.acked == third.segments[0] - 1
    assert third.read_from(31, 100)[-1] == (40, _rec(40))


def test_thinning_policy_keeps_alerts_and_raises_full():
    fs, remount = new_fs()
    budget = 8000
    log = RecordLog(fs, max_bytes=budget, segment_bytes=500)
    fix = bytes(90)  # 100-byte entries
    logged = offered = 0
    while log.used < budget:
        offered += 1
        if log.admit_routine():
            logged += 1
            log.append(log.last_seq + 1, fix)
        if log.used < budget * 7 // 8:
            assert not log.full
        if offered > 2000:
            break
    # everything under 7/8, one in THIN_KEEP in the band, nothing past 15/16
    assert log.full
    assert log.used < budget * 15 // 16 + 100
    assert offered > 1000 and log.thinned == offered - logged
    assert not log.admit_routine()
    # alerts and checkpoints are never refused, even past the budget
    for _ in range(15):
        log.append(log.last_seq + 1, b"alert" * 20)
    assert log.used > budget
    assert log.read_from(log.last_seq, 1)[0][1] == b"alert" * 20
    # acknowledged data is reclaimed, and storage_full clears under 3/4 of the budget
    log.ack(log.last_seq - 20)
    assert log.used < budget * 3 // 4 and not log.full
    assert log.admit_routine()
    # the state survives a reboot
    again = RecordLog(remount(), max_bytes=budget, segment_bytes=500)
    assert again.used == log.used and not again.full


def test_thinning_band_admits_one_routine_fix_in_thin_keep():
    fs, _ = new_fs()
    log = RecordLog(fs, max_bytes=100000, segment_bytes=4000)
    log.sizes, log.segments = [log.thin_at], [1]  # pretend: in the thinning band
    got = [log.admit_routine() for _ in range(recordlog.THIN_KEEP * 3)]
    assert got.count(True) == 3 and got[0]
    log.sizes = [log.stop_at]
    assert not log.admit_routine()


class _Signer:
    """Signatures are 64 bytes whoever makes them: counting bytes needs no P-256."""

    def key_id(self):
        return b"\x01" * 8

    def sign(self, data):
        return b"\x02" * 64


class _Fix:
    """A wearer at rest, pessimistically: every field changes at every fix (position
    jitter of metres, accuracy, satellites, HDOP, speed, course, altitude)."""

    def __init__(self, i, rng):
        self.t, self.t_ms, self.fix = 1772442000 + 60 * i, 0, 3
        self.lat = 534631000 + rng(-400, 400)
        self.lon = -22913000 + rng(-600, 600)
        self.acc_cm, self.sats, self.hdop = rng(300, 2500), rng(5, 12), rng(70, 250)
        self.speed_mmps, self.course_cdeg, self.alt_cm = rng(0, 400), rng(0, 35999), rng(3000, 3400)


def _rng(seed):
    state = [seed]

    def draw(lo, hi):  # a small LCG: the same numbers on both interpreters
        state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return lo + state[0] % (hi - lo + 1)

    return draw


def test_thirty_days_of_fixes_a_minute_fit_a_2_mb_flash_before_thinning():
    """The log's bytes per fix (its entry and its share of the checkpoints that seal it
    while the link is down) over two days, times 30 days, with room for an alert a day,
    stay under where thinning starts on a 2 MB flash (the W25Q16JV)."""
    from emtag.firmware import evidence

    class Count:
        used = 0

        def append(self, seq, wire):
            self.used += len(wire) + 4  # what RecordLog.append writes

        def append_fix(self, seq, entry):
            self.used += entry[0] + 3

    chain, log, rng = evidence.Chain(_Signer()), Count(), _rng(7)
    days = 2
    for i in range(days * 1440):
        chain.add_fix(_Fix(i, rng), 60000 * i, log)
        if chain.seal_due(60000 * i, False):  # link down: only the count seals
            chain.checkpoint(60000 * i, 1772442000 + 60 * i, log)
    per_day = log.used / days
    alerts = 30 * 2 * 200  # two signed alerts a day, ~200 bytes each
    budget = min(recordlog.DEFAULT_MAX_BYTES, 2 * 1024 * 1024 * 3 // 4)
    assert 30 * per_day + alerts < budget * 7 // 8, per_day / 1440
    assert per_day / 1440 <= 24  # the target: 24 bytes a fix on flash


def test_budget_is_capped_by_the_filesystem():
    fs, _ = new_fs()
    log = RecordLog(fs)
    if hasattr(fs, "statvfs"):
        st = fs.statvfs("/")
        assert log.max_bytes <= st[0] * st[2] * 3 // 4
    else:
        assert log.max_bytes == recordlog.DEFAULT_MAX_BYTES
