from ramfs import new_fs

from emtag.firmware.recordlog import SEGMENT_RECORDS, RecordLog

# the RAM flash lives on the test heap, not the firmware's: give it room
MICROPYTHON_HEAPSIZE = "1M"


def _rec(i):
    return b"record-%d-" % i + bytes([i % 256]) * (i % 50)


def test_append_read_and_reopen():
    fs, remount = new_fs()
    log = RecordLog(fs)
    assert log.last_seq == 0 and log.acked == 0 and log.last_record is None
    for i in range(1, 11):
        log.append(i, _rec(i))
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


def test_ack_persists_and_reclaims_segments():
    fs, remount = new_fs(block_count=512)
    log = RecordLog(fs)
    n = SEGMENT_RECORDS * 2 + 10
    for i in range(1, n + 1):
        log.append(i, b"x%d" % i)
    assert len(log.segments) == 3
    log.ack(SEGMENT_RECORDS + 5)
    assert log.segments[0] == SEGMENT_RECORDS + 1  # the first segment was reclaimed
    again = RecordLog(remount())
    assert again.acked == SEGMENT_RECORDS + 5
    assert again.pending() == n - (SEGMENT_RECORDS + 5)
    assert again.read_from(again.acked + 1, 1) == [
        (SEGMENT_RECORDS + 6, b"x%d" % (SEGMENT_RECORDS + 6))
    ]


def test_torn_tail_is_ignored():
    fs, remount = new_fs()
    log = RecordLog(fs)
    for i in range(1, 4):
        log.append(i, _rec(i))
    with fs.open(log._path(log.segments[-1]), "ab") as f:
        f.write(b"\x04\x00\x00\x00\x20\x00torn")  # a header promising more than is there
    again = RecordLog(remount())
    assert again.last_seq == 3
    assert again.read_from(1, 10) == [(i, _rec(i)) for i in range(1, 4)]
