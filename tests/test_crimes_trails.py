"""Crime mapping's batched trail reads (host/store/trail_index.py trails()) against the
one-piece read (trail()) and against the definition worked out here from the rows stored,
on both backends: hand-made trails with records sharing a second, records without a
position or a time in between, windows holding no record, a device the store does not
know, and more pieces than one query takes."""

import pytest

T = 1772442000  # 2026-03-02T09:00:00Z
A, B, UNKNOWN = "a1" * 8, "b2" * 8, "c3" * 8

# (seq, type, t offset or None, acc_cm or None, positioned)
TRAIL_A = [
    (1, 1, 100, 500, True),
    (2, 1, 100, 700, True),  # the same second as seq 1
    (3, 1, 160, None, True),  # no accuracy radius
    (4, 1, 220, 500, True),
    (5, 1, 220, 500, True),
    (6, 1, 220, 900, True),  # three in one second
    (7, 4, 250, None, False),  # a checkpoint: no position
    (8, 2, 280, 1500, True),  # an alert with a position
    (9, 2, 300, None, False),  # an alert without one
    (10, 2, None, 800, True),  # an alert with a position but no time (stored as t = 0)
    (11, 1, 400, 500, True),
    (12, 1, 400, 500, True),
    (13, 1, 460, 500, True),
]
TRAIL_B = [(1, 1, 130, 500, True), (2, 1, 190, 500, True), (3, 4, 190, None, False)]


def rows_of(device, trail, lat0):
    out = []
    for seq, kind, dt, acc, positioned in trail:
        out.append(
            {
                "device": device, "seq": seq, "type": kind,
                "t": None if dt is None else T + dt, "t_ms": 10 * seq,
                "lat_e7": lat0 + 1000 * seq if positioned else None,
                "lon_e7": -22453000 - 1000 * seq if positioned else None,
                "acc_cm": acc, "status": "valid", "received": "2026-03-02T10:00:00.000Z",
                "cose": b"x",
            }
        )  # fmt: skip
    return out


def expected(stored, device, t0, t1):
    """A piece by its definition: the positioned records (a time after 0) of the device
    with t0 <= t <= t1, the last before t0 and the first after t1, ordered by (t, seq)."""
    recs = sorted(
        (r["t"], r["seq"], r)
        for r in stored
        if r["device"] == device and r["type"] in (1, 2) and r["lat_e7"] is not None
        and r["t"] is not None and r["t"] > 0
    )  # fmt: skip
    before = [x for x in recs if x[0] < t0][-1:]
    after = [x for x in recs if x[0] > t1][:1]
    inside = [x for x in recs if t0 <= x[0] <= t1]
    return [
        (r["seq"], r["t"], r["t_ms"], r["lat_e7"], r["lon_e7"], r["acc_cm"])
        for _, _, r in before + inside + after
    ]


PIECES = [
    (A, T + 161, T + 219),  # nothing inside: the one before and the first of three after
    (A, T + 220, T + 220),  # only the three sharing a second, and one on each side
    (A, T + 221, T + 399),  # the last of three before, an alert inside, the first of two after
    (A, T + 100, T + 100),  # two in the window's only second
    (A, T + 101, T + 101),  # the later of the two before, nothing inside
    (A, T, T + 99),  # nothing before
    (A, T + 461, T + 900),  # nothing after
    (A, T + 460, T + 460),
    (A, 0, T + 50),  # from the epoch: the record without a time is not a trail record
    (A, -5, 0),
    (A, 0, 2**40),  # everything
    (B, T + 150, T + 200),  # ends on a checkpoint sharing a fix's second
    (B, T + 131, T + 189),
    (UNKNOWN, T, T + 1000),  # a device the store does not know
]


@pytest.fixture
def stored(st):
    rows = rows_of(A, TRAIL_A, 534808000) + rows_of(B, TRAIL_B, 534000000)
    st.add_records(rows)
    return st, rows


def test_a_piece_read_alone_is_the_piece_by_its_definition(stored):
    st, rows = stored
    for piece in PIECES:
        assert st.trail(*piece) == expected(rows, *piece), piece


def test_pieces_read_together_equal_each_read_alone(stored):
    st, rows = stored
    got = st.trails(PIECES)
    assert set(got) == set(PIECES)
    for piece in PIECES:
        assert got[piece] == expected(rows, *piece), piece
    assert got[(UNKNOWN, T, T + 1000)] == []
    assert [r[0] for r in got[(A, T + 161, T + 219)]] == [3, 4]
    assert [r[0] for r in got[(A, T + 221, T + 399)]] == [6, 8, 11]


def test_more_pieces_than_one_query_takes(stored, monkeypatch):
    st, rows = stored
    monkeypatch.setattr(type(st), "TRAILS_PER_QUERY", 3)
    pieces = PIECES + [(A, T + k, T + k + 37) for k in range(0, 480, 11)] + PIECES[:4]
    got = st.trails(pieces)
    for piece in pieces:
        assert got[piece] == expected(rows, *piece), piece


def test_a_reversed_piece_reads_as_trail_reads_it(stored):
    st, _ = stored
    piece = (A, T + 300, T + 200)
    assert st.trails([piece])[piece] == st.trail(*piece)
    assert st.trails([]) == {}
