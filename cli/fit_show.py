"""What `emtag fit` prints for people: the tag's answers in words and units (metres,
seconds, volts, local and UTC times). `--json` prints the raw answer instead."""

import json
import time

from emtag.host import human

FIX = {0: "no fix", 2: "2D fix", 3: "3D fix"}
W = 12  # label column


def line(label, text):
    return "%-*s %s" % (W, label, text)


def info_lines(info, rec, anchor_name=None):
    anchor = ""
    if info["provisioned"] and info.get("anchor"):
        anchor = ", trust anchor %s%s" % (
            "%s " % anchor_name if anchor_name else "",
            "(kid %s)" % info["anchor"].hex(),
        )
    return [
        line("device", info["device"].hex()),
        line("serial", info["serial"]),
        line("firmware", "%s on %s" % (info["firmware"], info["board"])),
        line("provisioned", ("yes" + anchor) if info["provisioned"] else "no (factory-fresh)"),
        line("registered", "yes (in this key store)" if rec else "no (not in this key store)"),
        line("armed", _armed(info["armed"])),
        line("dev mode", _dev(info["dev"])),
        line("counter", "%d signed commands run" % info["counter"]),
    ] + status_lines(info["status"])


def _armed(armed):
    return "yes: tamper detection on" if armed else "no: tamper detection off"


def _dev(dev):
    return "on: the REPL is reachable (unlocked)" if dev else "off: the REPL is locked out"


def gnss_text(g):
    """(last epoch, last fix) sentences from the tag's gnss status."""
    if not g or g.get("age_ms") is None:
        return "no GNSS data yet", None
    receiver = {True: "on", False: "off between fixes (duty cycling)", None: "?"}[
        g.get("receiver_on")
    ]
    cn0 = g.get("cn0_max")
    epoch = "last epoch %s: %s, %s satellites, strongest signal %s; receiver %s" % (
        human.ago(g.get("age_ms")),
        FIX.get(g.get("fix"), "fix %s" % g.get("fix")),
        "?" if g.get("sats") is None else g["sats"],
        "?" if cn0 is None else "%d dB-Hz" % cn0,
        receiver,
    )
    fix = "last fix %s, accuracy %s" % (
        human.ago(g.get("fix_age_ms")),
        human.metres(g.get("acc_cm")) if g.get("acc_cm") else "?",
    )
    return epoch, fix


def status_lines(st):
    lines = []
    if "gnss" in st:
        epoch, fix = gnss_text(st.get("gnss") or {})
        lines.append(line("gnss", epoch))
        if fix:
            lines.append(line("", fix))
    n = st.get("nmea")
    if n:
        bad = n.get("bad_checksum", 0) + n.get("overlong", 0) + n.get("garbage", 0)
        lines.append(
            line(
                "nmea",
                "%d good sentences, %d bad (checksum %d, overlong %d, garbage %d), %d unknown"
                % (
                    n.get("good", 0),
                    bad,
                    n.get("bad_checksum", 0),
                    n.get("overlong", 0),
                    n.get("garbage", 0),
                    n.get("unknown", 0),
                ),
            )
        )
    if "strap" in st:
        lines.append(line("strap", {True: "closed", False: "OPEN", None: "?"}[st["strap"]]))
    if "battery_mv" in st:
        lines.append(line("battery", human.volts(st["battery_mv"])))
    if "records" in st:
        pending = st.get("pending", 0)
        lines.append(
            line(
                "records",
                "%d logged, %s" % (
                    st["records"],
                    "%d not yet uploaded" % pending if pending else "all uploaded",
                ),
            )
        )
    if "zones" in st:
        lines.append(line("zones", "%d loaded" % st["zones"] if st["zones"] else "none loaded"))
    return lines


def status_reply_lines(r):
    return status_lines(r["status"]) + [
        line("armed", _armed(r["armed"])),
        line("dev mode", _dev(r["dev"])),
        line("counter", "%d signed commands run" % r["counter"]),
    ]


# settings (firmware/config.py FIELDS): the raw value, then in words where that differs
_FLAGS = {"gnss_always_on": ("no (duty cycling)", "yes (1 Hz, no duty cycling)")}


def setting_words(name, value):
    if name in _FLAGS and value in (0, 1):
        return _FLAGS[name][value]
    if name == "tz" and isinstance(value, str):
        try:
            return "local time now " + human.Clock(value).stamp(int(time.time()))
        except ValueError:  # a rule the tag took but this host cannot read
            return ""
    text = human.named_value(name, value)[1]
    return "" if text == str(value) else text


def config_lines(cfg):
    return ["%-22s %-12s %s" % (k, v, setting_words(k, v)) for k, v in sorted(cfg.items())]


def time_lines(now_ms, err_ms):
    clock = human.Clock()
    lines = ["tag clock set to %s" % clock.stamp(now_ms // 1000)]
    if err_ms is not None:
        if abs(err_ms) < 1:
            lines.append("it was right to the millisecond")
        else:
            lines.append(
                "it was %s %s"
                % (human.seconds(abs(err_ms)), "ahead" if err_ms > 0 else "behind")
            )
    return lines


def selftest_lines(r):
    out = []
    g = r.get("gnss", {})
    epoch, fix = gnss_text(g)
    details = {
        "gnss": fix or epoch,
        "strap": {True: "closed", False: "OPEN", None: "?"}[r.get("strap", {}).get("closed")],
        "battery": human.volts(r.get("battery", {}).get("mv")),
        "flash": "write, read back and compare" if r.get("flash", {}).get("ok") else "",
        "signer": "signed and checked with the tag's key" if r.get("signer", {}).get("ok")
        else "",
    }
    for k in ("gnss", "strap", "battery", "flash", "signer"):
        v = r.get(k, {})
        detail = details[k]
        if v.get("error"):
            detail = (detail + ": " if detail else "") + str(v["error"])
        out.append("%-8s %-4s %s" % (k, "ok" if v.get("ok") else "FAIL", detail))
    if g.get("age_ms") is not None and fix:
        out.append("%-8s %-4s %s" % ("", "", epoch))
    out.append("selftest %s" % ("passed" if r.get("ok") else "FAILED"))
    return out


def log_lines(events):
    """The tag's recent events, each with its time (the tag's UTC when it knew it)."""
    if not events:
        return ["(no events)"]
    clock = human.Clock()
    out = []
    for text in events:
        try:
            ev = json.loads(text)
        except ValueError:
            out.append(text)
            continue
        if not isinstance(ev, dict):
            out.append(text)
            continue
        t = ev.pop("utc", None)
        when = clock.stamp(t) if isinstance(t, int) else "time unknown (no fix yet)"
        kind = str(ev.pop("type", "?"))
        out.append("%s  %-18s %s" % (when, kind, human.fields(ev, clock, skip=())))
    return out
