"""Property tests: random tampering of each kind applied to real evidence streams (made by
the firmware's evidence module and SoftwareSigner) is detected by host/verify.py, with the
right kind at the right position, and nothing else is blamed.

Collateral is allowed only where it is cryptographically forced: records before a
modified or deleted one, back to the previous signed record, can no longer be proven
(`unverifiable`, or `unsealed` when no later signature exists), and are never called
tampered. Every stream is checked as an evidence bundle would be: it declares seqs 1..N.
"""

import functools

import cbor2
from evidence_streams import make_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emtag.host import verify as V
from emtag.protocol import records as R

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLLATERAL = (V.UNVERIFIABLE, V.UNSEALED)


@functools.lru_cache(maxsize=None)
def stream(tag, n_fixes, every, alerts, seed):
    sg, items = make_stream(tag, n_fixes, every, alerts, seed=seed)
    return sg.public_key(), tuple(items)


@st.composite
def streams(draw, tag=1):
    n = draw(st.integers(2, 40))
    every = draw(st.integers(2, 15))
    alerts = tuple(sorted(draw(st.sets(st.integers(0, n - 1), max_size=3))))
    seed = draw(st.integers(0, 2))
    return stream(tag, n, every, alerts, seed)


def check(items, pub, n_declared):
    return V.verify(items, pub, first_seq=1, last_seq=n_declared)


def seq_of(wire):
    return cbor2.loads(V.payload_of(wire))[R.K_SEQ]


def is_seal(wire):
    return wire[0] == 0xD2


def assert_blames_only(report, expected, original=None, tampered_seq=None):
    """expected: {index: kind}. Every other item is valid, except collateral before the
    tampered seq and after the last signed record that precedes it."""
    got = {v.index: v.kind for v in report.verdicts if v.kind != V.VALID}
    for i, kind in expected.items():
        assert got.get(i) == kind, (i, kind, report.verdicts[i])
    for i, kind in got.items():
        if i in expected:
            continue
        assert kind in COLLATERAL, (i, report.verdicts[i])
        assert tampered_seq is not None, report.verdicts[i]
        s = report.verdicts[i].seq
        assert s < tampered_seq, report.verdicts[i]
        # no intact signed record between it and the tampered one
        assert not any(is_seal(w) and s <= seq_of(w) < tampered_seq for w in original), s


def test_untouched_streams_verify():
    for every in (2, 5, 60):
        pub, items = stream(1, 25, every, (3, 17), 0)
        r = check(items, pub, len(items))
        assert r.ok, r.summary()
        assert all(v.sealed_by is not None and v.sealed_by >= v.seq for v in r.verdicts)


@SETTINGS
@given(streams(), st.data())
def test_a_modified_byte_is_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 1))
    pos = data.draw(st.integers(0, len(items[i]) - 1))
    flip = data.draw(st.integers(1, 255))
    bad = bytearray(items[i])
    bad[pos] ^= flip
    tampered = list(items)
    tampered[i] = bytes(bad)
    r = check(tampered, pub, len(items))
    assert not r.gaps, r.gaps
    assert_blames_only(r, {i: V.MODIFIED}, items, i + 1)


FIELDS = (R.K_SEQ, R.K_TIME, R.K_TIME_MS, R.K_PREV, R.K_LAT, R.K_LON, R.K_ACC, R.K_TYPE)


def _changed(value, draw):
    if isinstance(value, bytes):
        return draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != value))
    return draw(st.integers(0, 2**31).filter(lambda v: v != value))


@SETTINGS
@given(streams(), st.data())
def test_a_modified_field_is_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 1))
    wire = items[i]
    if is_seal(wire):
        tag = cbor2.loads(wire)
        rec = cbor2.loads(tag.value[2])
    else:
        rec = cbor2.loads(wire)
    key = data.draw(st.sampled_from([k for k in FIELDS if k in rec]))
    rec[key] = _changed(rec[key], data.draw)
    payload = cbor2.dumps(rec, canonical=True)
    if is_seal(wire):  # the tag's signature, kept, over the original payload
        body = list(tag.value)
        body[2] = payload
        payload = cbor2.dumps(cbor2.CBORTag(18, body), canonical=True)
    tampered = list(items)
    tampered[i] = payload
    r = check(tampered, pub, len(items))
    assert not r.gaps, r.gaps
    assert_blames_only(r, {i: V.MODIFIED}, items, i + 1)


@SETTINGS
@given(streams(), st.data())
def test_deleted_records_are_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 1))
    j = data.draw(st.integers(i + 1, min(len(items), i + 8)))
    tampered = list(items[:i]) + list(items[j:])
    r = check(tampered, pub, len(items))
    assert [(g.first, g.last, g.before) for g in r.gaps] == [(i + 1, j, i)]
    assert r.gaps[0].kind == V.DELETED
    assert_blames_only(r, {}, items, i + 1)


@SETTINGS
@given(streams(), st.data())
def test_a_truncated_stream_is_found(s, data):
    pub, items = s
    k = data.draw(st.integers(1, len(items) - 1))
    r = check(list(items[:k]), pub, len(items))
    assert [(g.first, g.last, g.before) for g in r.gaps] == [(k + 1, len(items), k)]
    assert_blames_only(r, {}, items, k + 1)
    # without the declared range, a cut right after a signed record is indistinguishable
    # from a shorter stream; anywhere else the unsealed tail shows
    r = V.verify(items[:k], pub)
    assert r.ok == is_seal(items[k - 1])


@SETTINGS
@given(streams(), st.data())
def test_swapped_records_are_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 2))
    j = data.draw(st.integers(i + 1, len(items) - 1))
    tampered = list(items)
    tampered[i], tampered[j] = tampered[j], tampered[i]
    r = check(tampered, pub, len(items))
    assert not r.gaps
    blamed = {v.index: v.kind for v in r.verdicts if v.kind != V.VALID}
    assert blamed and set(blamed) <= {i, j} and set(blamed.values()) == {V.REORDERED}, blamed
    if j - i >= 2:
        assert set(blamed) == {i, j}


@SETTINGS
@given(streams(), st.data())
def test_a_moved_record_is_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 1))
    j = data.draw(st.integers(0, len(items) - 1).filter(lambda x: abs(x - i) >= 2))
    tampered = list(items)
    tampered.insert(j, tampered.pop(i))
    r = check(tampered, pub, len(items))
    assert not r.gaps
    assert_blames_only(r, {j: V.REORDERED})


@SETTINGS
@given(streams(), st.data())
def test_a_duplicated_record_is_found(s, data):
    pub, items = s
    i = data.draw(st.integers(0, len(items) - 1))
    j = data.draw(st.integers(0, len(items)))
    tampered = list(items)
    tampered.insert(j, items[i])
    r = check(tampered, pub, len(items))
    assert not r.gaps
    blamed = {v.index: v.kind for v in r.verdicts if v.kind != V.VALID}
    assert list(blamed.values()) == [V.DUPLICATE], blamed
    (at,) = blamed
    assert tampered[at] == items[i]
    if j not in (i, i + 1):  # a copy away from the original is the one out of place
        assert at == j


@SETTINGS
@given(streams(), streams(tag=2), st.data())
def test_records_spliced_from_another_tag_are_found(s, other, data):
    pub, items = s
    _, foreign = other
    a = data.draw(st.integers(0, len(foreign) - 1))
    b = data.draw(st.integers(a + 1, min(len(foreign), a + 6)))
    p = data.draw(st.integers(0, len(items) - 1))  # before the final checkpoint
    tampered = list(items[:p]) + list(foreign[a:b]) + list(items[p:])
    r = check(tampered, pub, len(items))
    assert not r.gaps
    assert_blames_only(r, {k: V.SPLICED for k in range(p, p + b - a)})


@SETTINGS
@given(streams(), streams(tag=2), st.data())
def test_a_record_replaced_by_another_tags_is_found(s, other, data):
    pub, items = s
    _, foreign = other
    i = data.draw(st.integers(0, len(items) - 1))
    k = data.draw(st.integers(0, len(foreign) - 1))
    tampered = list(items)
    tampered[i] = foreign[k]
    r = check(tampered, pub, len(items))
    assert not r.ok
    v = r.verdicts[i]
    if any(is_seal(w) for w in items[i + 1 :]):  # a signature vouches for what was there
        assert v.kind in (V.MODIFIED, V.SPLICED), v
    else:
        assert v.kind != V.VALID


TAMPERS = ("flip", "delete", "swap", "dup", "splice", "truncate")


@SETTINGS
@given(streams(), streams(tag=2), st.lists(st.sampled_from(TAMPERS), min_size=1, max_size=4))
def test_any_mix_of_tampering_is_never_valid(s, other, tampers):
    pub, items = s
    _, foreign = other
    t = list(items)
    for n, kind in enumerate(tampers):
        i = (7 * n + 3) % len(t)
        if kind == "flip":
            b = bytearray(t[i])
            b[(5 * n) % len(b)] ^= 0x40
            t[i] = bytes(b)
        elif kind == "delete":
            del t[i]
        elif kind == "swap" and len(t) > 1:
            j = (i + 1 + n) % len(t)
            if j != i and seq_of_safe(t[i]) != seq_of_safe(t[j]):
                t[i], t[j] = t[j], t[i]
            else:
                del t[i]
        elif kind == "dup":
            t.insert((i + 2) % (len(t) + 1), t[i])
        elif kind == "splice":
            t.insert(i, foreign[n % len(foreign)])
        elif kind == "truncate" and len(t) > 1:
            del t[len(t) // 2 :]
        if not t:
            t = [foreign[0]]
    if t == list(items):
        return
    assert not check(t, pub, len(items)).ok


def seq_of_safe(wire):
    try:
        return seq_of(wire)
    except Exception:
        return None


@SETTINGS
@given(streams(tag=2))
def test_another_tags_whole_stream_proves_nothing(other):
    pub, _ = stream(1, 5, 3, (), 0)
    _, foreign = other
    r = check(list(foreign), pub, len(foreign))
    assert not any(v.kind == V.VALID for v in r.verdicts)
    assert {v.kind for v in r.verdicts} <= {V.SPLICED, V.UNVERIFIABLE}
