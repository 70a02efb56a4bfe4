"""The host's C-COBS framing (host/frames.py) against the tag's (protocol/frame.py): the same
frames out, the same messages and error counts in, in any chunking."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.host import frames
from emtag.protocol import frame


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=frame.MAX_FRAME - 1))
def test_frames_decode_on_both_sides(msg):
    assert frame.Deframer().feed(frames.encode(msg)) == [msg]
    assert frames.Deframer().feed(frame.encode(msg)) == [msg]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=600).map(frame.encode),  # good frames
            st.binary(max_size=300),  # garbage, zeros included
            st.integers(4000, 5000).map(lambda n: b"\x01" * n + b"\x00"),  # overlong
        ),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_any_stream_in_any_chunking_matches_the_tags_deframer(pieces, rnd):
    data = b"".join(pieces)
    want = frame.Deframer()
    expected = want.feed(data)
    host = frames.Deframer()
    got, i = [], 0
    while i < len(data):
        n = rnd.randint(1, 700)
        got += host.feed(data[i : i + n])
        i += n
    assert [bytes(x) for x in got] == [bytes(x) for x in expected]
    assert (host.frames, host.errors) == (want.frames, want.errors)


def test_an_endless_frame_is_never_buffered():
    d = frames.Deframer()
    for _ in range(1000):
        assert d.feed(random.randbytes(4096).replace(b"\x00", b"\x01")) == []
    assert len(d._partial) <= frames._CAP
    good = frame.encode(b"after")
    assert d.feed(b"\x00" + good) == [b"after"] and d.errors == 1
