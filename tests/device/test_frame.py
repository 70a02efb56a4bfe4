from emtag.protocol import frame


def _reference_cobs(data):
    # Straight from the definition: split on zeros, each chunk of at most 254 bytes is
    # prefixed by its length + 1; a full 254-byte chunk carries no implied zero.
    out = b""
    chunks = data.split(b"\x00")
    for ci, chunk in enumerate(chunks):
        while len(chunk) >= 254:
            out += bytes([255]) + chunk[:254]
            chunk = chunk[254:]
            if not chunk and ci == len(chunks) - 1:
                return out + b"\x01"
        out += bytes([len(chunk) + 1]) + chunk
    return out


def test_cobs_known_vectors():
    # Examples from Cheshire & Baker, "Consistent Overhead Byte Stuffing" (and Wikipedia)
    assert frame.cobs_encode(b"\x00") == b"\x01\x01"
    assert frame.cobs_encode(b"\x00\x00") == b"\x01\x01\x01"
    assert frame.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert frame.cobs_encode(b"\x11\x22\x33\x44") == b"\x05\x11\x22\x33\x44"
    assert frame.cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"
    data = bytes(range(1, 255))
    assert frame.cobs_encode(data) == b"\xff" + data + b"\x01"


def test_cobs_roundtrip_against_reference():
    for n in (0, 1, 2, 253, 254, 255, 508, 509, 600):
        for pattern in (b"\x00", b"\x01", b"\x00\x07", b"\x05\x05\x00"):
            data = (pattern * (n // len(pattern) + 1))[:n]
            enc = frame.cobs_encode(data)
            assert 0 not in enc
            assert enc == _reference_cobs(data), (n, pattern)
            assert frame.cobs_decode(enc) == data


def test_cobs_rejects_malformed():
    for bad in (b"\x05\x11", b"\x03\x00\x01", b"\x00"):
        try:
            frame.cobs_decode(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_frames_survive_garbage_and_chunking():
    msgs = [b"hello", b"", b"\x00\x00\x00", bytes(range(256)) * 3]
    stream = b"\xff\xfe garbage" + b"\x00"
    for m in msgs:
        stream += frame.encode(m)
    d = frame.Deframer()
    got = []
    for i in range(0, len(stream), 7):
        got.extend(d.feed(stream[i : i + 7]))
    assert [bytes(m) for m in got] == msgs
    assert d.errors == 1 and d.frames == len(msgs)


def test_corrupted_frame_is_dropped_and_next_one_received():
    good = frame.encode(b"second")
    bad = bytearray(frame.encode(b"first"))
    bad[3] ^= 0x40
    d = frame.Deframer()
    got = d.feed(bytes(bad) + good)
    assert got == [b"second"]
    assert d.errors == 1


def test_wrong_version_rejected():
    body = bytearray([frame.VERSION + 1]) + b"msg"
    import binascii

    body += (binascii.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")
    d = frame.Deframer()
    assert d.feed(frame.cobs_encode(bytes(body)) + b"\x00") == []
    assert d.errors == 1


def test_overlong_frame_dropped_without_growth():
    d = frame.Deframer(max_frame=64)
    assert d.feed(b"\x01" * 1000 + b"\x00") == []
    assert d.errors == 1
    assert len(d._buf) < 100
    assert d.feed(frame.encode(b"ok")) == [b"ok"]
    try:
        frame.encode(b"x" * frame.MAX_FRAME)
    except ValueError:
        return
    raise AssertionError("oversized message encoded")
