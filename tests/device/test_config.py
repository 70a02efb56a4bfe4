# The tag's settings (firmware/config.py): bounds, all-or-nothing updates, the file.
import ramfs

from emtag.firmware import config


def test_defaults_are_within_their_own_bounds():
    c = config.Config()
    for name, (default, _lo, _hi) in config.FIELDS.items():
        assert c.get(name) == default
        assert config.check(name, default) == default
    assert c.changed() == {}


def test_every_bound_is_enforced():
    for name, (default, lo, hi) in config.FIELDS.items():
        if lo is None:
            continue
        assert config.check(name, lo) == lo and config.check(name, hi) == hi
        for bad in (lo - 1, hi + 1, str(default), True, None, 1.5):
            try:
                config.check(name, bad)
            except config.ConfigError as e:
                assert name in str(e)
            else:
                raise AssertionError("%s accepted %r" % (name, bad))


def test_tz_must_be_a_posix_rule():
    assert config.check("tz", "CET-1CEST,M3.5.0,M10.5.0/3") == "CET-1CEST,M3.5.0,M10.5.0/3"
    for bad in ("", "Europe/London", "GMT0BST,M3.5.0", 5, "X" * 80):
        try:
            config.check("tz", bad)
        except config.ConfigError:
            pass
        else:
            raise AssertionError("tz accepted %r" % (bad,))


def test_unknown_settings_are_refused():
    try:
        config.check("debug_shell", 1)
    except config.ConfigError as e:
        assert "unknown setting" in str(e)
    else:
        raise AssertionError


def test_update_is_all_or_nothing():
    c = config.Config()
    for bad in (
        {"fix_interval_s": 30, "battery_low_pct": 99},  # one out of range
        {"fix_interval_s": 30, "nonsense": 1},  # one unknown
        {"fix_interval_s": 10, "fast_fix_interval_s": 15},  # fast slower than slow
        {"battery_low_pct": 10, "battery_critical_pct": 10},  # critical not below low
        {},
        None,
    ):
        try:
            c.update(bad)
        except config.ConfigError:
            pass
        else:
            raise AssertionError("accepted %r" % (bad,))
        assert c.changed() == {}
    c.update({"fix_interval_s": 30, "tz": "UTC0"})
    assert c.changed() == {"fix_interval_s": 30, "tz": "UTC0"}


def test_file_round_trip_and_damage():
    fs, remount = ramfs.new_fs(24)
    assert config.Config.load(fs).changed() == {}  # no file: defaults
    c = config.Config({"report_interval_s": 600})
    c.save(fs)
    assert config.Config.load(remount()).get("report_interval_s") == 600
    with fs.open("config.cbor", "rb") as f:
        assert f.read() == b"\xa1\x71report_interval_s\x19\x02\x58"  # only what differs
    for damaged in (b"\xff", b"\x81\x01", b"\xa1\x63foo\x01", b"\xa1\x6etz_inter\x00"):
        with fs.open("config.cbor", "wb") as f:
            f.write(damaged)
        try:
            config.Config.load(fs)
        except config.ConfigError:
            pass
        else:
            raise AssertionError("loaded %r" % damaged)
