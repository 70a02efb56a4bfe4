"""host/verify.py on hand-made cases, with the reasons it gives; and the tag's private key
never leaving the tag."""

import hashlib
import os
import re

import cbor2
from evidence_streams import make_stream, signer

from emtag.firmware import cose, evidence
from emtag.host import verify as V
from emtag.protocol import records as R


def kinds(report):
    return {v.index: v.kind for v in report.verdicts if v.kind != V.VALID}


def test_the_device_id_is_the_keys():
    sg = signer(1)
    assert V.device_id_of(sg.public_key()) == sg.key_id()
    assert V.device_id_of(sg.public_key()) == hashlib.sha256(sg.public_key()).digest()[:8]


def test_a_valid_stream_says_what_proves_each_record():
    sg, items = make_stream(1, 7, 4, alerts=(1,))  # f1 f2 A3 f4 cp5 f6 f7 f8 f9 cp10
    r = V.verify(items, sg.public_key(), first_seq=1, last_seq=len(items))
    assert r.ok, r.summary()
    by_seq = {v.seq: v for v in r.verdicts}
    assert by_seq[1].sealed_by == 5 and by_seq[1].reason == "sealed by the checkpoint seq 5"
    assert by_seq[3].sealed_by == 5  # an alert: its own signature, and its block's
    assert by_seq[5].reason == "signature verifies"
    assert by_seq[6].sealed_by == 10 and by_seq[9].sealed_by == 10
    assert by_seq[6].record[R.K_SEQ] == 6 and R.K_LAT in by_seq[6].record
    assert r.summary() == "%d valid" % len(items)


def test_an_unsealed_tail_is_not_proven():
    sg, items = make_stream(1, 6, 4, seal_end=False)
    r = V.verify(items, sg.public_key())
    assert not r.ok
    tail = [v for v in r.verdicts if v.kind != V.VALID]
    assert [v.kind for v in tail] == [V.UNSEALED] * len(tail) and tail[0].seq == 6


def test_an_alert_stripped_of_its_signature_is_modified_and_breaks_its_block():
    sg, items = make_stream(1, 6, 100, alerts=(2,))  # f1 f2 f3 A4 f5 f6 cp7
    i = next(i for i, w in enumerate(items) if w[0] == 0xD2)
    stripped = list(items)
    stripped[i] = cbor2.loads(items[i]).value[2]  # the bare payload
    r = V.verify(stripped, sg.public_key(), first_seq=1)
    got = kinds(r)
    assert got.pop(i) == V.MODIFIED and "not a record" in r.verdicts[i].reason
    # one signature covers the block: the rest of it (its checkpoint too) is not proven
    assert set(got.values()) == {V.UNVERIFIABLE} and len(got) == len(items) - 1


def test_a_changed_kid_is_modified_even_though_the_signature_holds():
    sg, items = make_stream(1, 3, 100, alerts=(1,))
    i = next(i for i, w in enumerate(items) if w[0] == 0xD2)
    t = cbor2.loads(items[i])
    body = list(t.value)
    body[1] = {4: b"\x00" * 8}
    bad = list(items)
    bad[i] = cbor2.dumps(cbor2.CBORTag(18, body), canonical=True)
    r = V.verify(bad, sg.public_key(), first_seq=1)
    assert kinds(r)[i] == V.MODIFIED and "header altered" in r.verdicts[i].reason


def test_a_signed_record_that_takes_a_sealed_seq_is_flagged():
    """Only the key holder can do this (a firmware fault, a lost log, a stolen key)."""
    sg = signer(1)
    _, items = make_stream(1, 3, 100, alerts=(1,))  # f1 f2 A3 f4 cp5
    rec = R.alert_record(2, None, "battery_low", 1772442000, 0)
    forked = cose.sign1(sg, cbor2.dumps(rec, canonical=True), kid=sg.key_id())
    r = V.verify(items + [forked], sg.public_key(), first_seq=1)
    assert kinds(r) == {len(items): V.MODIFIED}
    assert "not the record the tag sealed as seq 2" in r.verdicts[-1].reason


def test_records_in_the_old_format_do_not_verify():
    """Before compact evidence a fix was a CBOR map holding its seq and the previous
    record's hash; such a stream proves nothing under the block format."""
    sg = signer(1)
    old = [cbor2.dumps({0: 1, 1: seq, 2: 1772442000 + seq, 3: 0, 4: bytes(32), 10: 1, 11: 2})
           for seq in (1, 2)]  # fmt: skip
    r = V.verify(old, sg.public_key(), first_seq=1)
    assert [v.kind for v in r.verdicts] == [V.MODIFIED, V.MODIFIED]


def test_a_stream_continues_after_the_anchor():
    sg, items = make_stream(1, 8, 4)  # f1..f4 cp5 f6..f9 cp10
    r = V.verify(items[5:], sg.public_key(), anchor=(5, None))
    assert r.ok and [v.seq for v in r.verdicts] == list(range(6, 11))
    r = V.verify(items[6:], sg.public_key(), anchor=(5, None))  # seq 6 missing
    assert [(g.first, g.last) for g in r.gaps] == [(6, 6)]
    assert {v.kind for v in r.verdicts} == {V.UNVERIFIABLE}


def test_split_stream_keeps_an_unreadable_tail_as_one_item():
    _, items = make_stream(1, 3, 100)
    data = b"".join(items) + b"\xff\xff"
    try:
        V.split_stream(data)
    except ValueError as e:
        assert "byte %d" % len(b"".join(items)) in str(e)
    else:
        raise AssertionError("accepted a bad tail")
    parts = V.split_stream(data, keep_rest=True)
    assert parts[:-1] == items and parts[-1] == b"\xff\xff"


def test_verify_never_raises_on_garbage():
    import random

    sg, items = make_stream(1, 5, 3)
    rng = random.Random(9)
    for _ in range(300):
        junk = [rng.randbytes(rng.randrange(0, 120)) for _ in range(rng.randrange(1, 5))]
        mixed = list(items)
        for j in junk:
            mixed.insert(rng.randrange(len(mixed) + 1), j)
        r = V.verify(mixed, sg.public_key(), first_seq=1)
        assert not r.ok or not any(junk)


def test_no_code_path_reads_the_private_key_outside_the_signer():
    """The key is generated on the tag, stored only in its key file, never serialised
    anywhere else: only firmware/signer.py touches the scalar."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder in ("firmware", "protocol", "host", "simulator"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    text = f.read()
                if path.endswith(os.path.join("firmware", "signer.py")):
                    continue
                if re.search(r"\._d\b", text) or "_HEADER + self" in text:
                    offenders.append(path)
    assert offenders == []


def test_a_simulated_tag_never_sends_its_private_key(tmp_path):
    """End to end on CPython: the scalar in the tag's key file appears in nothing the tag
    sent (the store holds every upload as received) nor in its event log."""
    from emtag.firmware.signer import SoftwareSigner
    from emtag.simulator import littlefs_host, runner, scenario
    from emtag.simulator.world import World

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sc = scenario.load(os.path.join(here, "examples", "exclusion-breach.toml"))
    sc.duration_s = 420
    world = World(sc, str(tmp_path))
    try:
        runner.run(world, "cpython")
        fs = littlefs_host.mount(littlefs_host.FlashBlockDevice(world.flash))
        d = SoftwareSigner.load(fs, "device.key")._d.to_bytes(32, "big")
        uploaded = [bytes(r[-1]) for r in world.store.records(world.store.db.execute(
            "SELECT device FROM devices").fetchone()[0])]  # fmt: skip
    finally:
        world.close()
    assert uploaded and all(d not in w for w in uploaded)
    assert d not in (tmp_path / "store.sqlite").read_bytes()
    assert d.hex() not in (tmp_path / "events.jsonl").read_text()
    assert any(w[0] == 0xD2 for w in uploaded) and any(w[0] != 0xD2 for w in uploaded)
    assert evidence.SEAL_RECORDS <= 60
