"""The tag's fix encoder (protocol/fixcodec.py) against the host's own decoder and encoder
(host/fixcodec.py), written apart: hypothesis makes fix sequences (fields coming and going,
any deltas), the tag encodes a block, the host decodes the same values and encodes the same
bytes; and any bytes the host decodes are in their one encoding."""

from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.host import fixcodec as host
from emtag.protocol import fixcodec as tag
from emtag.protocol import records as R

FIELDS = {"acc_cm": R.K_ACC, "sats": R.K_SATS, "hdop": R.K_HDOP, "speed_mmps": R.K_SPEED,
          "course_cdeg": R.K_COURSE, "alt_cm": R.K_ALT}  # fmt: skip


class Fix:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def maybe(s):
    return st.one_of(st.none(), s)


fixes = st.builds(
    lambda t, t_ms, lat, lon, fix, acc, sats, hdop, speed, course, alt: Fix(
        t=t, t_ms=t_ms, lat=lat, lon=lon, fix=fix, acc_cm=acc, sats=sats, hdop=hdop,
        speed_mmps=speed, course_cdeg=course, alt_cm=alt,
    ),  # fmt: skip
    st.integers(1_700_000_000, 1_800_000_000), st.integers(0, 999),
    st.integers(-900000000, 900000000), st.integers(-1800000000, 1800000000),
    maybe(st.sampled_from([2, 3])), maybe(st.integers(0, 10**7)), maybe(st.integers(0, 40)),
    maybe(st.integers(0, 9999)), maybe(st.integers(0, 10**6)), maybe(st.integers(0, 35999)),
    maybe(st.integers(-(10**7), 10**7)),
)  # fmt: skip


def encode(seq):
    enc, buf, out = tag.FixEncoder(), bytearray(tag.MAX_BODY), []
    for f in seq:
        n = enc.encode(f, buf)
        out.append(bytes(buf[:n]))
        enc.commit(f)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(fixes, min_size=1, max_size=12))
def test_the_host_reads_what_the_tag_writes_and_writes_it_back(seq):
    bodies = encode(seq)
    assert all(1 <= len(b) <= tag.MAX_BODY for b in bodies)
    recs = host.decode_block(bodies)
    for f, rec in zip(seq, recs, strict=True):
        assert (rec[R.K_TIME], rec[R.K_TIME_MS], rec[R.K_LAT], rec[R.K_LON]) == (
            f.t, f.t_ms, f.lat, f.lon)  # fmt: skip
        assert rec.get(R.K_FIXTYPE) == f.fix
        for attr, key in FIELDS.items():
            assert rec.get(key) == getattr(f, attr), attr
    assert host.encode_block(recs) == bodies
    # the tag reads its own block back after a reboot (Chain.resume), to the same state
    again = tag.FixEncoder()
    again.resume(bodies)
    first = tag.FixEncoder()
    for f in seq:
        first.encode(f, bytearray(tag.MAX_BODY))
        first.commit(f)
    assert again.state == first.state and again.count == first.count


@settings(max_examples=500, deadline=None)
@given(st.lists(fixes, min_size=1, max_size=4), st.data())
def test_bytes_that_decode_are_in_their_one_encoding(seq, data):
    """Changed bytes either fail to decode or decode to values whose encoding they are."""
    bodies = encode(seq)
    i = data.draw(st.integers(0, len(bodies) - 1))
    body = bytearray(bodies[i])
    for _ in range(data.draw(st.integers(1, 3))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        body.insert(data.draw(st.integers(0, len(body))), data.draw(st.integers(0, 255)))
    changed = bodies[:i] + [bytes(body)] + bodies[i + 1 :]
    try:
        recs = host.decode_block(changed)
    except host.FixFormatError:
        return
    assert host.encode_block(recs) == changed
