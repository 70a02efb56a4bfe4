"""Escalations leave the centre: each one (an officer's, or the centre's own for a breach
left unacknowledged too long) is published once on MQTT, on
`emtag/centre/escalation/DEVICE` at QoS 1, as JSON, for whatever pages the duty manager
(an SMS or e-mail gateway subscribed there).

The store remembers the last escalation sent (centre_state, by its time and ref), so one
made while the broker was away goes out when it is back, and a restart sends nothing
twice (at least once: a crash between the broker's PUBACK and the mark repeats one).
A centre that starts notifying for the first time begins after the newest escalation."""

import json
import urllib.parse

from emtag.centre import alertqueue

MARK_KEY = "escalations_sent"
TOPIC = "emtag/centre/escalation/"
PUBLISH_TIMEOUT_S = 5.0


def message(store, esc):
    """The JSON a gateway gets for one escalation (the alert's ref, tag, kind and time)."""
    item = alertqueue.find(store, esc.ref)
    body = {"ref": esc.ref, "escalated_at": esc.at, "by": esc.by, "reason": esc.reason}
    if item is not None:
        body.update(device=item.device, alert=item.kind, zone=item.zone, t=item.t,
                    source=item.source)  # fmt: skip
    return (item.device if item else esc.ref.partition("/")[0]), json.dumps(body)


class EscalationNotifier:
    def __init__(self, mqtt_url, log=print):
        self.url = mqtt_url
        self.log = log
        self.client = None
        self.sent = 0

    def start(self, store):
        """Connect (in the background); a first start marks the newest escalation sent."""
        import paho.mqtt.client as mqtt

        if store.centre_get(MARK_KEY) is None:
            newest = max(store.escalations().values(), default=None, key=lambda e: (e.at, e.ref))
            store.centre_set(MARK_KEY, json.dumps([newest.at, newest.ref] if newest else ["", ""]))

        u = urllib.parse.urlsplit(self.url)
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                        client_id="", clean_session=True)  # fmt: skip
        c.reconnect_delay_set(1, 10)
        c.connect_async(u.hostname, u.port or 1883, keepalive=30)
        c.loop_start()
        self.client = c

    def stop(self):
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def send_pending(self, store):
        """Publish the escalations not sent yet, oldest first, each acknowledged by the
        broker before the mark moves past it. Returns how many went out."""
        if self.client is None or not self.client.is_connected():
            return 0
        at, ref = json.loads(store.centre_get(MARK_KEY))
        n = 0
        for esc in store.escalations_after(at, ref):
            device, body = message(store, esc)
            info = self.client.publish(TOPIC + device, body, qos=1)
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError):  # paho: not connected, or its queue full
                pass
            if not info.is_published():
                self.log("escalation %s: not sent yet (broker away)" % esc.ref)
                break
            store.centre_set(MARK_KEY, json.dumps([esc.at, esc.ref]))
            self.log("escalation %s sent to %s" % (esc.ref, TOPIC + device))
            n += 1
        self.sent += n
        return n
