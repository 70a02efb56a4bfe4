"""emtag bench hostile's verdicts and its printed report (tools/bench_hostile.py measures)."""

TARGET_S = 2.0
# What a bridge serving 2,048 connections at their bounds may hold: per connection its read
# buffer and session (about 20 KiB), at most 64 KiB of output before it stops reading from
# that peer, a few KiB of a partial frame; 2,048 x ~96 KiB is about 200 MB, plus the
# process itself (about 40 MB). Past this, something is not bounded.
RSS_BOUND_MB = 256
# A steady attack reaches its plateau within its first half: more growth than this in the
# second half is memory growing with time, not with the load.
DRIFT_MB = 16


def verdicts(report):
    classes = report["classes"]
    worst = max(classes, key=lambda c: _inf(classes[c]["max_s"]), default=None)
    late = [c for c in classes if _inf(classes[c]["max_s"]) > TARGET_S]
    phases = {"none": report["peer"], **classes}
    rss_max = max((p["rss_max_mb"] for p in phases.values()), default=0)
    drift = {c: p["rss_second_half_mb"] - p["rss_first_half_mb"] for c, p in phases.items()}
    grew = [c for c, d in drift.items() if d > DRIFT_MB]
    out = {
        "ack_within_2s": {
            "pass": not late and worst is not None,
            "late": late,
            "worst_class": worst,
            "worst_s": classes[worst]["max_s"] if worst else None,
        },
        "memory_bounded": {
            "pass": rss_max <= RSS_BOUND_MB and not grew,
            "rss_max_mb": rss_max,
            "grew": grew,
        },
        "bridge_alive": {
            "pass": report["bridge_alive"]
            and not report["bridge_faults"]
            and all(p["bridge_alive"] for p in phases.values())
            and not any(p["attack"].get("impersonated") for p in phases.values()),
        },
        "store_once_each": {"pass": report["store"]["once_each"]},
    }
    k = report["kill9"]
    if k is not None:
        out["kill9"] = {
            "pass": k["contiguous"] and k["acked_kept"] and k["recovered_s"] is not None
        }
    return out


def _inf(x):
    return float("inf") if x is None else x


def secs(x):
    return "never" if x is None or x == float("inf") else "%.3f s" % x


def _attack_summary(p):
    a, e = p["attack"], p["bridge_events"]
    if "error" in a:
        return "attack failed: %s" % a["error"]
    parts = []
    if a.get("connections"):
        parts.append("%d connections" % a["connections"])
    if e.get("refused"):
        parts.append("%d refused" % e["refused"])
    closed = sorted(((n, k[8:]) for k, n in e.items() if k.startswith("closed: ")), reverse=True)
    parts += ["%d closed (%s)" % (n, why) for n, why in closed[:2]]
    return ", ".join(parts) or "-"


def print_report(r):
    s = r["settings"]
    print(
        "emtag bench hostile: %g s per class; the honest tag seals %d fixes every %g s, "
        "connecting afresh once every %d blocks"
        % (s["seconds"], s["fixes"], s["every_s"], s["reconnect_every"])
    )
    print("class        blocks   median      p99      max  fresh max  x peer   RSS max  "
          "attack (as the bridge saw it)")  # fmt: skip
    peer_median = r["peer"]["median_s"] or 0
    rows = [("none (peer)", r["peer"])] + list(r["classes"].items())
    for name, p in rows:
        ratio = _inf(p["median_s"]) / peer_median if peer_median else float("inf")
        print(
            "%-12s %6d %8s %8s %8s %10s %7.1f %6.1f MB  %s"
            % (
                name,
                p["blocks"],
                _ms(p["median_s"]),
                _ms(p["p99_s"]),
                _ms(p["max_s"]),
                _ms(p["fresh_max_s"]),
                ratio,
                p["rss_max_mb"],
                _attack_summary(p),
            )
        )
    print(
        "(latency: a block's seal to its ACK; fresh: blocks sent on a new connection, the "
        "handshake included; x peer: median / the peer's median)"
    )
    v = r["verdicts"]
    a = v["ack_within_2s"]
    print(
        "%s  every honest block acknowledged within %g s under every attack: worst %s (%s); "
        "the peer, no attack: %s"
        % (_pf(a), TARGET_S, secs(a["worst_s"]), a["worst_class"], secs(r["peer"]["max_s"]))
    )
    mv = v["memory_bounded"]
    print(
        "%s  bridge memory bounded: RSS at most %.1f MB (bound %d MB; %.1f MB with no attack); "
        "no class grew more than %d MB in its second half%s"
        % (
            _pf(mv),
            mv["rss_max_mb"],
            RSS_BOUND_MB,
            r["peer"]["rss_max_mb"],
            DRIFT_MB,
            " (grew: %s)" % ", ".join(mv["grew"]) if mv["grew"] else "",
        )
    )
    print(
        "%s  bridge alive through every attack, no session or store errors, no forged or "
        "replayed proof taken%s"
        % (_pf(v["bridge_alive"]), "" if not r["bridge_faults"] else ": " + r["bridge_faults"][0])
    )
    k = r["kill9"]
    if k is not None:
        print(
            "%s  kill -9 mid-upload (forged-record flood on): %d of %d records acknowledged "
            "before the kill; after the restart %d stored (1..%d: %s); all "
            "acknowledged %s after the restart"
            % (
                _pf(v["kill9"]),
                k["acked_at_kill"],
                k["records"],
                k["stored"],
                k["records"],
                "once each" if k["contiguous"] else "NOT once each: lost or duplicated",
                secs(k["recovered_s"]),
            )
        )
    st = r["store"]
    print(
        "%s  the honest tag's records in the store at the end: %d rows for 1..%d (%s)"
        % (
            _pf(v["store_once_each"]),
            st["stored"],
            st["last_seq"],
            "each once" if st["once_each"] else "NOT each once: lost or duplicated",
        )
    )


def _ms(x):
    if x is None:
        return "-"
    if x == float("inf"):
        return "never"
    return "%.3f" % x


def _pf(v):
    return "PASS" if v["pass"] else "FAIL"
