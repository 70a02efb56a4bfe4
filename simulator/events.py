"""events.jsonl and the human timeline: one stream of what happened, in simulated time."""

import datetime
import json

QUIET = {"fix", "records_stored", "uplink_ack", "gnss_epoch"}  # in the file, not the timeline
QUIET |= {"truth", "battery", "led"}  # hardware samples (simulator/hardware.py)


def iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class EventLog:
    def __init__(self, path, timeline=None):
        self.f = open(path, "w")
        self.timeline = timeline  # a text stream, or None
        self.events = []

    def add(self, t_ms, source, kind, **fields):
        ev = {"t": iso(t_ms), "source": source, "type": kind}
        for k in sorted(fields):
            ev[k] = fields[k]
        self.events.append(ev)
        self.f.write(json.dumps(ev, sort_keys=False) + "\n")
        if self.timeline is not None and kind not in QUIET:
            self.timeline.write(self.format(ev) + "\n")
            self.timeline.flush()

    @staticmethod
    def format(ev):
        rest = " ".join("%s=%s" % (k, v) for k, v in ev.items() if k not in ("t", "source", "type"))
        label = ev["type"].upper() if ev["type"] == "alert" else ev["type"]
        return "%s  %-6s %-18s %s" % (ev["t"][11:19], ev["source"], label, rest)

    def close(self):
        self.f.close()
