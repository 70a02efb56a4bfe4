"""Power cuts in a scenario's timeline (simulator/timeline.py `power_cut`): the tag loses
power, a flash write is torn, the firmware boots again from what its flash kept, on the
MicroPython unix port and in-process on CPython. The store is checked here from
store.sqlite and events.jsonl directly, not through the run's own summary."""

import json
import os
import random
import sqlite3
import sys

import pytest

from emtag.cli import main as cli
from emtag.host import unixport, verify
from emtag.protocol import records
from emtag.simulator import flash, scenario, simulate, timeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
WALK = os.path.join(EXAMPLES, "routes", "walk-past-victim-home.geojson")
HOME = os.path.join(EXAMPLES, "routes", "at-home.geojson")
ZONES = os.path.join(EXAMPLES, "zones", "victim-home.geojson")

# the exclusion-breach walk (the wearer is inside the zone from 466 s to 799 s) with a cut
# while the tag sleeps, one in the third flash write of the boot after it (the power
# flickers), and cuts in the first, second and thirtieth write after their times
WALK_CUTS = """
[[event]]
at_s = 100
type = "power_cut"
at_write = false

[[event]]
at_s = 102
type = "power_cut"
at_write = 3
off_s = 20

[[event]]
at_s = 250
type = "power_cut"

[[event]]
at_s = 400
type = "power_cut"
at_write = 2
off_s = 3

[[event]]
at_s = 600
type = "power_cut"
at_write = 30

[[expect]]
alert = "exclusion_breach"
zone = "victim-home"
within_s = 60
"""


def write_scenario(path, route, body, duration_s=1080, seed=7, zones=ZONES):
    head = 'name = "power cuts"\nseed = %d\nstart = "2026-03-02T09:00:00Z"\n' % seed
    head += 'duration_s = %d\nroute = "%s"\n' % (duration_s, route)
    if zones:
        head += 'zones = "%s"\n' % zones
    path.write_text(head + body)
    return scenario.load(str(path))


def events(out):
    return [json.loads(line) for line in open(os.path.join(out, "events.jsonl"))]


def stored(out):
    db = sqlite3.connect(os.path.join(out, "store.sqlite"))
    try:
        rows = db.execute(
            "SELECT id, seq, type, lat_e7, lon_e7, status, cose FROM records ORDER BY id"
        ).fetchall()
        (key,) = db.execute("SELECT public_key FROM devices").fetchone()
    finally:
        db.close()
    return rows, key


def check_run(out, n_cuts, cut_booting=0):
    """What a run with power cuts must show, from its events and its store alone
    (cut_booting: cuts that land while the firmware boots, before its boot event)."""
    evs = events(out)
    cuts = [e for e in evs if e["type"] == "power_cut"]
    restores = [e for e in evs if e["type"] == "power_restore"]
    boots = [e for e in evs if e["source"] == "tag" and e["type"] == "boot"]
    assert len(cuts) == n_cuts and len(restores) == n_cuts
    assert len(boots) == n_cuts + 1 - cut_booting  # the firmware came back after every cut
    booting = 0
    for cut, back in zip(cuts, restores, strict=True):
        # power returns after off_s, and the firmware boots at once (or is cut doing so)
        assert _ms(back) - _ms(cut) == cut["off_s"] * 1000
        after = evs[evs.index(back) + 1]
        if after["type"] == "power_cut":
            booting += 1
            assert after["t"] == back["t"] and after["op"]
        else:
            assert (after["source"], after["type"], after["t"]) == ("tag", "boot", back["t"])
        if "op" in cut:  # torn: part of the write landed, never all of it
            assert 0 <= cut["landed"] < cut["of"]
    assert booting == cut_booting
    # nothing the tag reported logging was lost: each boot goes on after every record
    # reported before its cut
    told_before = 0
    for e in evs:
        if e["source"] == "tag" and e["type"] in ("fix", "checkpoint"):
            told_before = max(told_before, e["seq"])
        elif e["source"] == "tag" and e["type"] == "boot" and told_before:
            assert e["next_seq"] - 1 > told_before
    rows, key = stored(out)
    valid = [r for r in rows if r[5] == "valid"]
    assert [r for r in rows if r[5] not in ("valid", "early")] == []  # nothing rejected
    seqs = [r[1] for r in valid]
    assert seqs == list(range(1, len(seqs) + 1))  # stored once each, in order, no gap
    report = verify.verify([r[6] for r in valid], key, first_seq=1)
    assert report.counts[verify.VALID] == len(valid) and not report.gaps
    by_seq = {r[1]: r for r in valid}
    fixes = [e for e in evs if e["source"] == "tag" and e["type"] == "fix"]
    for e in fixes:
        if e["seq"] in by_seq:  # the same record, not another one under its number
            r = by_seq[e["seq"]]
            assert (r[2], r[3], r[4]) == (records.FIX, e["lat"], e["lon"])
    assert max(e["seq"] for e in fixes) - seqs[-1] <= 16  # all but the unsealed tail
    # each boot's signed restart record is in the chain where the boot said it would be
    for b in boots:
        if b["next_seq"] - 1 <= seqs[-1]:
            assert by_seq[b["next_seq"] - 1][2] == records.RESTART
    return evs


def _ms(ev):
    return round(simulate._t(ev) * 1000)


# the timeline


def test_power_cut_settings_and_their_defaults():
    start, end = 0, 3600000
    (e,) = timeline.parse_events([{"at_s": 10, "type": "power_cut"}], start, end)
    assert e.params == {"off_ms": 5000, "at_write": 1}
    evs = timeline.parse_events(
        [
            {"at_s": 10, "type": "power_cut", "at_write": False, "off_s": 0.5},
            {"at_s": 20, "type": "power_cut", "at_write": 7, "repeat_s": 600, "count": 3},
        ],
        start,
        end,
    )
    assert [(e.t_ms, e.params["at_write"], e.params["off_ms"]) for e in evs] == [
        (10000, 0, 500),
        (20000, 7, 5000),
        (620000, 7, 5000),
        (1220000, 7, 5000),
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"off_s": 0}, "off_s must be a number of seconds, above 0"),
        ({"off_s": -5}, "off_s must be a number of seconds, above 0"),
        ({"off_s": "5"}, "(got '5')"),
        ({"off_s": True}, "off_s must be a number"),
        ({"off_s": 90000}, "at most 86400"),
        ({"at_write": "yes"}, "at_write must be true, false or the number of the flash write"),
        ({"at_write": 0}, "(got 0)"),
        ({"at_write": 1.5}, "at_write must be true, false"),
        ({"duration_s": 30}, "takes no duration_s: off_s sets how long the power stays off"),
        ({"torn": True}, "event power_cut: unknown keys torn"),
    ],
)
def test_bad_power_cut_settings_are_clear_errors(extra, message):
    with pytest.raises(timeline.TimelineError) as e:
        timeline.parse_events([dict({"at_s": 10, "type": "power_cut"}, **extra)], 0, 3600000)
    assert message in str(e.value)


def test_a_bad_power_cut_in_a_scenario_file_stops_the_command(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nstart = "2026-03-02T09:00:00Z"\nduration_s = 60\nroute = "%s"\n'
        '[[event]]\nat_s = 5\ntype = "power_cut"\noff_s = "long"\n' % HOME
    )
    assert cli.main(["sim", str(bad), "--interpreter", "cpython"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "power_cut: off_s must be a number" in err


# the flash


@pytest.mark.parametrize("seed", range(20))
def test_a_torn_program_lands_a_prefix_and_part_of_one_byte(seed):
    rng = random.Random(seed)
    fl = flash.Flash(256, 4)
    old = bytes(rng.getrandbits(8) | 0x0F for _ in range(256))  # an unerased block
    fl.data[256:512] = old
    data = bytes(rng.getrandbits(8) for _ in range(100))
    landed = fl.tear_program(1, 40, data, random.Random(seed))
    assert 0 <= landed < len(data) and fl.programs == 1
    new = fl.data[256:512]
    for i in range(256):
        j = i - 40
        if 0 <= j < landed:  # programmed: NOR can only clear bits
            assert new[i] == old[i] & data[j]
        elif j == landed:  # half programmed: some of the bits it would clear, no others
            assert new[i] & ~old[i] == 0 and new[i] & (old[i] & data[j]) == old[i] & data[j]
        else:
            assert new[i] == old[i]


@pytest.mark.parametrize("seed", range(10))
def test_a_torn_erase_erases_a_prefix_of_the_block_and_wears_it(seed):
    fl = flash.Flash(256, 4)
    fl.data[:] = bytes(range(256)) * 4
    landed = fl.tear_erase(2, random.Random(seed))
    assert 0 <= landed < 256 and fl.erases == [0, 0, 1, 0]
    assert fl.data[512 : 512 + landed] == b"\xff" * landed
    assert fl.data[512 + landed : 768] == bytes(range(256))[landed:]
    assert fl.data[:512] == bytes(range(256)) * 2 and fl.data[768:] == bytes(range(256))


# whole runs


def interpreters():
    out = ["cpython"]
    if unixport.binary() is not None:
        out.append("micropython")
    return out


@pytest.mark.parametrize("interpreter", interpreters())
def test_power_cuts_mid_write_leave_a_verified_store_and_a_rebooted_tag(tmp_path, interpreter):
    sc = write_scenario(tmp_path / "walk.toml", WALK, WALK_CUTS)
    r = simulate.simulate(sc, str(tmp_path / "a"), interpreter)
    simulate.simulate(sc, str(tmp_path / "b"), interpreter)
    assert r["checks"] and all(c["ok"] for c in r["checks"]), r["checks"]
    evs = check_run(str(tmp_path / "a"), 5, cut_booting=1)
    cuts = [e for e in evs if e["type"] == "power_cut"]
    assert ["op" in c for c in cuts] == [False, True, True, True, True]  # asleep, torn...
    assert cuts[3]["op"] == "program"  # the second write after an erase
    # the exclusion breach after the cuts was caught and stored
    enter = next(e for e in evs if e["type"] == "truth_enter")
    breach = next(
        e
        for e in evs
        if e["source"] == "bridge" and e["type"] == "alert" and e["alert"] == "exclusion_breach"
    )
    assert cuts[3]["t"] < enter["t"] < breach["t"]
    # the GNSS module lost its backup domain with the power: a cold start at every boot
    assert r["hardware"]["gnss_starts"]["cold"] == r["boots"] == 5
    # the same seed, byte for byte
    a, b = ((tmp_path / d / "events.jsonl").read_bytes() for d in "ab")
    assert a == b


@pytest.mark.parametrize("interpreter", interpreters())
def test_a_breach_open_across_a_cut_is_neither_repeated_nor_left_open(tmp_path, interpreter):
    # the wearer is inside the zone from 466 s to 799 s; the tag breaks down at 600 s
    cut = '[[event]]\nat_s = 600\ntype = "power_cut"\nat_write = false\n'
    sc = write_scenario(tmp_path / "walk.toml", WALK, cut)
    r = simulate.simulate(sc, str(tmp_path / "out"), interpreter)
    assert r["boots"] == 2
    stored_alerts = [(a["alert"], a["zone"]) for a in r["stored_alerts"]]
    assert stored_alerts == [
        ("zone_approach", "victim-home"),
        ("exclusion_breach", "victim-home"),
        ("exclusion_clear", "victim-home"),
    ]
    leave = next(e for e in events(str(tmp_path / "out")) if e["type"] == "truth_leave")
    assert simulate._t(r["stored_alerts"][-1]) - simulate._t(leave) < 60


@pytest.mark.parametrize("interpreter", interpreters())
def test_an_alert_waiting_out_an_outage_still_goes_first_after_a_cut(tmp_path, interpreter):
    # at home, no link from 60 s to 5400 s; the strap is cut at 1800 s, the power at 3000 s
    body = """
[tag]
armed = true

[[link.outage]]
start_s = 60
end_s = 5400

[[event]]
at_s = 1800
type = "strap_cut"

[[event]]
at_s = 3000
type = "power_cut"
at_write = false
"""
    sc = write_scenario(tmp_path / "home.toml", HOME, body, duration_s=6000, zones=None)
    out = str(tmp_path / "out")
    r = simulate.simulate(sc, out, interpreter)
    assert r["boots"] == 2
    evs = events(out)
    # the strap stayed open through the restart: reported once, not again at boot
    (alert,) = [e for e in evs if e["source"] == "tag" and e.get("alert") == "strap_tamper"]
    bridge = [e for e in evs if e["source"] == "bridge" and e["t"] >= "2026-03-02T10:30"]
    early = [e for e in bridge if e["type"] == "alert_early"]
    assert [e["event_t"] for e in early] == [alert["event_t"]]
    # ahead of the backlog: before the batch that brings the alert's seq in order
    in_order = next(
        e for e in bridge if e["type"] == "records_stored" and e["upto"] >= early[0]["seq"]
    )
    assert bridge.index(early[0]) < bridge.index(in_order)


def test_another_seed_tears_other_bytes(tmp_path):
    outs = []
    for seed in (7, 8):
        sc = write_scenario(tmp_path / ("s%d.toml" % seed), WALK, WALK_CUTS, 300, seed)
        simulate.simulate(sc, str(tmp_path / str(seed)), "cpython")
        outs.append([e for e in events(str(tmp_path / str(seed))) if e["type"] == "power_cut"])
    assert len(outs[0]) == len(outs[1]) == 3
    assert [c.get("landed") for c in outs[0]] != [c.get("landed") for c in outs[1]]


def test_cpython_boots_with_fresh_firmware_modules(tmp_path, monkeypatch):
    """No RAM survives a cut in-process either: the modules are imported afresh, and the
    host's own copies are back in place afterwards."""
    from emtag.firmware import tag

    version = tag.FIRMWARE_VERSION
    monkeypatch.setattr(tag, "FIRMWARE_VERSION", "patched-in-ram")
    body = '[[event]]\nat_s = 100\ntype = "power_cut"\n'
    sc = write_scenario(tmp_path / "s.toml", WALK, body, 300)
    simulate.simulate(sc, str(tmp_path / "out"), "cpython")
    boots = [e for e in events(str(tmp_path / "out")) if e["type"] == "boot"]
    assert [b["firmware"] for b in boots] == ["patched-in-ram", version]
    assert sys.modules["emtag.firmware.tag"] is tag
    assert sys.modules["emtag.firmware"].tag is tag


def test_the_tag_draws_nothing_while_off_and_a_run_may_end_in_the_dark(tmp_path):
    body = (
        '[[event]]\nat_s = 1800\ntype = "power_cut"\nat_write = false\noff_s = 3600\n'
        '[[event]]\nat_s = 6600\ntype = "power_cut"\nat_write = false\noff_s = 3600\n'
    )
    sc = write_scenario(tmp_path / "s.toml", HOME, body, 7200, zones=None)
    r = simulate.simulate(sc, str(tmp_path / "out"), "cpython")
    evs = events(str(tmp_path / "out"))
    kinds = [e["type"] for e in evs if e["type"] in ("power_cut", "power_restore", "boot")]
    assert kinds == ["boot", "power_cut", "power_restore", "boot", "power_cut"]
    assert evs[-1]["type"] == "end" and not [e for e in evs if e["type"] == "shutdown"]
    battery = [e for e in evs if e["type"] == "battery"]
    dark = [e for e in battery if "09:45" <= e["t"][11:16] <= "10:30"]  # whole samples off
    assert len(dark) == 4 and all(e["ma"] == 0 for e in dark)
    lit = [e for e in battery if e["t"][11:16] == "09:15"]
    assert lit and all(e["ma"] > 0.05 for e in lit)
    assert dark[0]["pct"] == dark[-1]["pct"]
    assert r["boots"] == 2 and r["hardware"]["power_cuts"] == 2


def test_a_flash_that_loses_data_at_a_cut_is_caught(tmp_path, monkeypatch):
    """The checks can fail: a flash that forgets every write since the last boot when the
    power goes (as a write cache that is never flushed would) loses records the tag had
    reported, and the run says so."""
    from emtag.simulator import world as world_mod

    cut = world_mod.World._power_cut
    restore = world_mod.World.power_restore

    def snapshot_at_boot(self):
        ok = restore(self)
        self.kept = bytes(self.flash.data)
        return ok

    def forget(self, params=None, **torn):
        if hasattr(self, "kept"):
            self.flash.data[:] = self.kept
        cut(self, params, **torn)

    monkeypatch.setattr(world_mod.World, "_power_cut", forget)
    monkeypatch.setattr(world_mod.World, "power_restore", snapshot_at_boot)
    sc = scenario.load(os.path.join(EXAMPLES, "power-cuts.toml"))
    sc.duration_s = 4000
    sc.expect = [e for e in sc.expect if e.get("metric") in ("records_missing", "rejected")]
    r = simulate.simulate(sc, str(tmp_path), "cpython")
    assert not all(c["ok"] for c in r["checks"]), r["checks"]
    assert r["records_missing"] > 0 or r["rejected"] > 0
