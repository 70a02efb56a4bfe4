"""The tag's POSIX TZ rules against the system's tz database (zoneinfo) as the oracle.

Every TZif file ends with the POSIX rule that applies after its last listed transition; the
tag's Rule must give the same UTC offset as zoneinfo for instants after that, including
the seconds either side of every change.
"""

import datetime
import os
import random
import zoneinfo

import pytest

from emtag.firmware import tz

ROOT = "/usr/share/zoneinfo"
FROM = int(datetime.datetime(2088, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
UNTIL = int(datetime.datetime(2200, 1, 1, tzinfo=datetime.timezone.utc).timestamp())


def footers():
    if not os.path.isdir(ROOT):
        return []
    out = []
    for name in sorted(zoneinfo.available_timezones()):
        try:
            with open(os.path.join(ROOT, name), "rb") as f:
                data = f.read()
        except OSError:
            continue
        if data.startswith(b"TZif") and data[4:5] >= b"2":
            footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
            if footer:
                out.append((name, footer))
    return out


ALL = footers()


def offset(name, t):
    return int(
        datetime.datetime.fromtimestamp(t, zoneinfo.ZoneInfo(name)).utcoffset().total_seconds()
    )


@pytest.mark.skipif(not ALL, reason="no tz database in " + ROOT)
def test_every_tzdata_rule_parses_and_agrees_with_zoneinfo():
    rng = random.Random(1)
    checked = 0
    for name, rule_text in ALL:
        rule = tz.Rule(rule_text)
        for _ in range(40):
            t = rng.randrange(FROM, UNTIL)
            assert rule.offset(t) == offset(name, t), (name, rule_text, t)
            checked += 1
        if rule.start is not None:
            for year in (2090, 2123, 2199):
                for edge in rule.transitions(year):
                    for t in (edge - 1, edge):
                        assert rule.offset(t) == offset(name, t), (name, rule_text, t)
    assert checked > 10000


@pytest.mark.parametrize(
    "name", ["Europe/London", "Australia/Sydney", "America/Santiago", "Pacific/Auckland"]
)
def test_named_rules_across_their_changes(name):
    rule = dict(ALL).get(name)
    if rule is None:
        pytest.skip("no tz database")
    r = tz.Rule(rule)
    for year in range(2090, 2100):
        s, e = r.transitions(year)
        assert offset(name, s - 1) == r.std_east and offset(name, s) == r.dst_east
        assert offset(name, e - 1) == r.dst_east and offset(name, e) == r.std_east
