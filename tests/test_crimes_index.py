"""The trail index (host/store/trail_index.py) and the match that reads only the tiles that can
change the answer (centre/crimes_tiles.py): built in pieces it equals built at once, every
segment lies in a tile whose box holds it, and on random trails and incidents the pruned
match gives the answer the exact match over the whole window gives."""

import math
import random

import pytest
from crime_trails import at, insert, walk

from emtag.centre import crimes_match as M
from emtag.centre import crimes_policy, crimes_tiles
from emtag.centre.crimes_incidents import Incident
from emtag.host.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = random.Random(16)
    st = Store(str(tmp_path_factory.mktemp("idx") / "store.sqlite"))
    trails = {}
    for k in range(6):
        device = "%016x" % (k + 1)
        trails[device] = walk(rng, 400)
        half = len(trails[device]) // 2
        insert(st, device, trails[device][:half])
        if k % 2:
            st.trail_index_refresh()  # some devices indexed in two steps
        insert(st, device, trails[device][half:], half + 1)
    st.trail_index_refresh()
    yield st, trails
    st.close()


def tiles(st):
    return st.db.execute(
        "SELECT device, bucket, t_lo, t_hi, n, max_gap_s, max_acc_cm, lat_lo, lat_hi, lon_lo, "
        "lon_hi FROM trail_tiles ORDER BY device, bucket"
    ).fetchall()


def test_an_index_built_in_steps_equals_one_built_at_once(store, tmp_path):
    st, trails = store
    fresh = Store(str(tmp_path / "fresh.sqlite"))
    for device, points in trails.items():
        insert(fresh, device, points)
    fresh.trail_index_refresh()
    assert tiles(fresh) == tiles(st)
    assert fresh.trail_extents() == st.trail_extents()
    fresh.close()


def test_every_segment_lies_in_one_tile_that_holds_it(store):
    st, trails = store
    by_device = {}
    for row in tiles(st):
        by_device.setdefault(row[0], []).append(row)
    for device in trails:
        rows = st.trail(device, 0, 2**40)
        for (_, ta, _, la, loa, acca), (_, tb, _, lb, lob, accb) in zip(
            rows, rows[1:], strict=False
        ):
            holders = [
                r
                for r in by_device[device]
                if r[2] <= ta
                and tb <= r[3]
                and r[5] >= tb - ta
                and r[6] >= max(acca, accb)
                and r[7] <= min(la, lb)
                and max(la, lb) <= r[8]
                and r[9] <= min(loa, lob)
                and max(loa, lob) <= r[10]
            ]
            assert holders, (device, ta, tb)


@pytest.mark.parametrize("assume", ["driving", "walking"])
def test_reading_only_the_tiles_that_matter_gives_the_exact_answer(store, assume):
    st, trails = store
    p = crimes_policy.Policy({"speeds": {"assume": assume}}).params
    rng = random.Random(assume)
    extents = st.trail_extents()
    seen = {}
    for k in range(150):
        device = rng.choice(sorted(trails))
        t, x, y, _ = rng.choice(trails[device])
        d = rng.choice((0, 20, 80, 300, 1200, 4000))
        th = rng.uniform(0, 2 * math.pi)
        lat, lon = at(x + d * math.cos(th), y + d * math.sin(th))
        span = rng.choice((300, 1800, 4 * 3600))
        u = rng.choice((5, 25, 100))
        inc = Incident(k, "i%d" % k, "burglary", lat, lon, u, t - rng.uniform(0, span), t + span)
        w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
        rows = sorted(st.trail_tiles_near(lat, lon, u + p.report_within_m, w0, w1))
        screened = crimes_tiles.screen(inc, rows, p)
        for dev in trails:
            first, last = extents[dev]
            if first > w1 or last < w0:
                continue  # not yet tagged / silent: counted, not judged
            exact = M.judge(inc, st.trail(dev, w0, w1), p, first, last)
            pruned = None
            if dev in screened or first > w0 or last < w1:
                pruned = crimes_tiles.judge_tiles(
                    inc,
                    screened.get(dev, []),
                    lambda a, b, d=dev: st.trail(d, a, b),
                    p,
                    first,
                    last,
                )
            if exact is None:
                assert pruned is None, (k, dev)
                continue
            assert pruned is not None, (k, dev, exact)
            assert (pruned.answer, pruned.mode) == (exact.answer, exact.mode), (k, dev)
            if exact.answer == M.PLACED:
                assert pruned.rests_on == exact.rests_on
            if exact.answer == M.COULD_NOT:
                assert pruned.margin_m == pytest.approx(exact.margin_m)
            seen[exact.answer] = seen.get(exact.answer, 0) + 1
    # every kind of answer was compared (at driving speed few are out of reach)
    assert len(seen) == (3 if assume == "walking" else 2), seen


@pytest.mark.parametrize("assume", ["driving", "walking"])
def test_the_tile_search_keeps_every_tile_the_screen_keeps(store, assume):
    """trail_tiles_near(..., within) leaves out, in SQL, tiles screen() would drop anyway:
    on random incidents the screen of what it keeps is the screen of every tile."""
    st, trails = store
    p = crimes_policy.Policy({"speeds": {"assume": assume}}).params
    rng = random.Random("within-" + assume)
    kept = everything = 0
    for k in range(200):
        t, x, y, _ = rng.choice(trails[rng.choice(sorted(trails))])
        d, th = rng.choice((0, 300, 1000, 1500, 2500, 4000)), rng.uniform(0, 2 * math.pi)
        lat, lon = at(x + d * math.cos(th), y + d * math.sin(th))
        u = rng.choice((5, 25, 100))
        span = rng.choice((300, 1800, 4 * 3600))
        inc = Incident(k, "i%d" % k, "burglary", lat, lon, u, t - rng.uniform(0, span), t + span)
        w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
        within = (u + p.excl_extra_m, max(p.excl_scale, p.place_scale) / 100, p.top_speed / 2)
        radius = u + p.report_within_m
        rows = sorted(st.trail_tiles_near(lat, lon, radius, w0, w1))
        some = sorted(st.trail_tiles_near(lat, lon, radius, w0, w1, within))
        assert set(some) <= set(rows)
        assert crimes_tiles.screen(inc, some, p) == crimes_tiles.screen(inc, rows, p), k
        kept, everything = kept + len(some), everything + len(rows)
    assert kept < 0.95 * everything  # it does leave tiles out


def test_a_block_committed_late_by_another_bridge_is_still_indexed(pg_server):
    """Two bridges on one PostgreSQL store: the first takes its block's arrival number,
    the second stores and commits a later one, the index is refreshed, and only then does
    the first commit. Its block must be indexed at the next refresh (the queue is written
    with the blocks, not read by arrival number)."""
    from emtag.host.store import open_store
    from emtag.host.store.base import StoredRecord

    def block(seq0, t0):
        fixes = [StoredRecord(seq0 + i, 1, t0 + 60 * i, 0, 534631000, -22453000, 500, None,
                              None, b"\x4a" + bytes(10)) for i in range(5)]  # fmt: skip
        return fixes + [StoredRecord(seq0 + 5, 4, t0 + 240, 0, None, None, None, None, None,
                                     b"\x58\x6c" + bytes(108))]  # fmt: skip

    url = pg_server.new_database()
    slow, fast = open_store(url), open_store(url)
    try:
        with slow.group():
            slow.add_blocks("a" * 16, [block(1, 1772442000)], "2026-03-02T09:10:00.000Z")
            fast.add_blocks("b" * 16, [block(1, 1772442000)], "2026-03-02T09:10:01.000Z")
            fast.trail_index_refresh()
            assert set(fast.trail_extents()) == {"b" * 16}
        fast.trail_index_refresh()
        assert set(fast.trail_extents()) == {"a" * 16, "b" * 16}
        assert fast.trail_index_refresh() == 0  # nothing queued twice
    finally:
        slow.close()
        fast.close()


def test_two_refreshes_at_once_on_postgresql_both_finish_with_the_same_tiles(pg_server):
    """Two centre requests refreshing the index together (one waits for the other: both
    rebuilding a device's buckets at once would collide on its unique tile keys)."""
    import threading

    from emtag.host.store import open_store

    url = pg_server.new_database()
    rng = random.Random(5)
    with open_store(url) as st:
        for k in range(8):
            insert(st, "%016x" % (k + 1), walk(rng, 300))
    stores = [open_store(url), open_store(url)]
    errors, go = [], threading.Barrier(2)

    def refresh(s):
        try:
            go.wait()
            s.trail_index_refresh()
        except Exception as e:  # noqa: BLE001 - the test reports any failure
            errors.append(e)

    threads = [threading.Thread(target=refresh, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        assert len(stores[0].trail_extents()) == 8
        (n,) = stores[0]._x("SELECT COUNT(*) FROM trail_todo").fetchone()
        assert n == 0
    finally:
        for s in stores:
            s.close()
