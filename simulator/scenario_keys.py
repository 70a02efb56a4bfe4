"""The keys a scenario file may hold, table by table, and the names its values may take:
a misspelled key (`latncy_ms`) or alert (`exclusion_breech`) is refused at load, by name,
with the table it is in and the nearest valid name, instead of being ignored (a silent
default) or failing the run as "none did".

    check(data, zone_ids)   # ScenarioKeyError("[link]: unknown key 'latncy_ms' (did you ...")

Where a table's keys come from a module (receiver and power profiles, the tag's settings,
timeline events, metrics, alert kinds) they are read from it, so a key added there is
known here; the small fixed tables are listed below.
"""

import difflib

from emtag.firmware import config as fw_config
from emtag.protocol import records
from emtag.simulator import hwsummary, power, receiver, timeline

TOP = (
    "name", "seed", "start", "duration_s", "board", "route", "zones",
    "gnss", "power", "tag", "rtc", "motion", "link", "event", "expect",
)
GNSS_OWN = ("environment", "profile", "start", "loss", "corrupt", "rate_s")  # + a profile's
POWER_OWN = ("profile", "charge_pct", "always_on_gnss", "baseline")  # + a profile's
TABLES = {
    "tag": ("armed", "config"),
    "rtc": ("drift_ppm", "offset_ms"),
    "motion": ("fidget_per_hour",),
    "link": ("latency_ms", "loss", "corrupt", "jitter_ms", "outage"),
    "link.outage": ("start_s", "end_s"),
    "expect": (
        "alert", "zone", "within_s", "after", "stamped_within_s", "count",
        "metric", "min", "max", "note",
    ),
}
# what `after` may name: the zone entry (default) or a sim event of the timeline
AFTER = (
    "truth_enter", "truth_leave", "strap_cut", "strap_restore", "case_open", "case_close",
    "foil_on", "foil_off", "jam_on", "jam_off", "charger_plugged", "charger_unplugged",
    "link_down", "link_up", "power_cut", "power_restore", "environment", "gnss_reset",
    "battery_empty",
)


class ScenarioKeyError(ValueError):
    pass


def nearest(word, valid):
    """' (did you mean X?)' for the closest valid name, or ''."""
    near = difflib.get_close_matches(str(word), [str(v) for v in valid], n=1, cutoff=0.6)
    return " (did you mean %s?)" % near[0] if near else ""


def _keys(table, got, valid):
    if not isinstance(got, dict):
        raise ScenarioKeyError("%s must be a table, not %r" % (table, got))
    for k in got:
        if k not in valid:
            raise ScenarioKeyError(
                "%s: unknown key %r%s; %s takes %s"
                % (table, k, nearest(k, valid), table, ", ".join(sorted(valid)))
            )


def _name(where, what, value, valid):
    if value not in valid:
        raise ScenarioKeyError(
            "%s: unknown %s %r%s; one of %s"
            % (where, what, value, nearest(value, valid), ", ".join(sorted(valid)))
        )


def check(data, zone_ids=None):
    """ScenarioKeyError for the first unknown key or name; zone_ids: the zones file's ids
    (None: not known, not checked)."""
    _keys("the top level", data, TOP)
    g = data.get("gnss", {})
    _keys("[gnss]", g, GNSS_OWN + tuple(receiver.PROFILES["ublox-m8"]))
    if "ttff_s" in g:
        _keys("[gnss] ttff_s", g["ttff_s"], ("cold", "warm", "hot"))
    p = data.get("power", {})
    prof = power.PROFILES.get(p.get("profile")) if isinstance(p, dict) else None
    prof = prof or power.PROFILES["esp32s3-m8-nrf9160"]
    _keys("[power]", p, POWER_OWN + tuple(prof))
    for sub, body in p.items():
        if isinstance(prof.get(sub), dict):
            _keys("[power] %s" % sub, body, tuple(prof[sub]))
    for table in ("tag", "rtc", "motion", "link"):
        _keys("[%s]" % table, data.get(table, {}), TABLES[table])
    _keys("[tag] config", data.get("tag", {}).get("config", {}), tuple(fw_config.FIELDS))
    outages = data.get("link", {}).get("outage", [])
    for i, o in enumerate(outages if isinstance(outages, list) else [outages]):
        _keys("[[link.outage]] #%d" % (i + 1), o, TABLES["link.outage"])
    events = data.get("event", [])
    for i, e in enumerate(events if isinstance(events, list) else [events]):
        where = "[[event]] #%d" % (i + 1)
        if not isinstance(e, dict):
            raise ScenarioKeyError("%s must be a table" % where)
        kind = e.get("type")
        _name(where, "type", kind, timeline.EVENTS)
        _keys("%s (%s)" % (where, kind), e, timeline.COMMON + timeline.EVENTS[kind])
    expects = data.get("expect", [])
    for i, e in enumerate(expects if isinstance(expects, list) else [expects]):
        where = "[[expect]] #%d" % (i + 1)
        _keys(where, e, TABLES["expect"])
        if "alert" in e:
            _name(where, "alert", e["alert"], records.ALERTS)
        if "metric" in e:
            _name(where, "metric", e["metric"], hwsummary.METRICS)
        if "after" in e:
            _name(where, "after (a sim event)", e["after"], AFTER)
        if "zone" in e and zone_ids is not None:
            _name(where, "zone", e["zone"], zone_ids)
