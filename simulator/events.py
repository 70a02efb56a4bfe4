"""events.jsonl and the human timeline: one stream of what happened, in simulated time.
The file keeps the raw fields (1e-7 degrees, cm, ms, epoch seconds); the timeline shows
them in words and units, in UTC and the tag's local time (host/human.py)."""

import datetime
import json

from emtag.firmware import tz as fw_tz
from emtag.host import human

QUIET = {"fix", "records_stored", "uplink_ack", "gnss_epoch"}  # in the file, not the timeline
QUIET |= {"truth", "battery", "led"}  # hardware samples (simulator/hardware.py)


def iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class EventLog:
    def __init__(self, path, timeline=None, tz=None):
        self.f = open(path, "w")
        self.timeline = timeline  # a text stream, or None
        self.clock = human.Clock(tz or fw_tz.DEFAULT_RULE)  # the tag's local time
        self.day = None  # the timeline prints the date when it changes
        self.events = []

    def add(self, t_ms, source, kind, **fields):
        ev = {"t": iso(t_ms), "source": source, "type": kind}
        for k in sorted(fields):
            ev[k] = fields[k]
        self.events.append(ev)
        self.f.write(json.dumps(ev, sort_keys=False) + "\n")
        if self.timeline is not None and kind not in QUIET:
            day = ev["t"][:10]
            if day != self.day:
                self.day = day
                self.timeline.write("-- %s (times UTC, then the tag's local time)\n" % day)
            self.timeline.write(self.format(ev, self.clock, t_ms) + "\n")
            self.timeline.flush()

    @staticmethod
    def format(ev, clock, t_ms):
        """One timeline line: times, source, type, the fields in words and units."""
        label = ev["type"].upper() if ev["type"] == "alert" else ev["type"]
        rest = human.fields(ev, clock)
        return "%s  %-6s %-18s %s" % (clock.short(t_ms // 1000), ev["source"], label, rest)

    def close(self):
        self.f.close()
