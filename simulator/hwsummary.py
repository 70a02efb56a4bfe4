"""The hardware part of a run's summary table, and [[expect]] checks on run figures.

[[expect]]
metric = "days_per_charge"    # see METRICS
min = 3.0                     # and/or max
"""

METRICS = {
    "days_per_charge": "days per charge",
    "gnss_on_share": "share of time the GNSS was on",
    "battery_pct": "battery at the end, %",
    "avg_ma": "average discharge current, mA",
    "uart_dropped": "GNSS bytes dropped by the UART",
    "flash_erases_max": "most erases of one flash block",
    "power_cuts": "power cuts",
    "torn_writes": "power cuts that tore a flash write",
    "boots": "firmware boots",
    # the evidence (simulator/simulate.py)
    "stored_failed": "stored records that fail verification or are missing from the chain",
    "rejected": "records the bridge rejected",
    "records_missing": "records the tag logged that the store lacks or holds otherwise",
    "records_unsent": "records still on the tag after the newest stored, at the end",
    "catch_up_s": "seconds from the link's return until the store held all logged before it",
}


def metric_checks(sc, result):
    hw = result.get("hardware") or {}
    out = []
    for exp in sc.expect:
        name = exp.get("metric")
        if name is None:
            continue
        v = hw.get(name, result.get(name))
        lo, hi = exp.get("min"), exp.get("max")
        what = METRICS.get(name, name)
        if v is None:
            out.append({"ok": False, "text": "%s: not measured in this run" % what})
            continue
        ok = (lo is None or v >= lo) and (hi is None or v <= hi)
        bounds = " and ".join(
            s
            for s in (
                ">= %s" % lo if lo is not None else "",
                "<= %s" % hi if hi is not None else "",
            )
            if s
        )
        out.append({"ok": ok, "text": "%s %.3g (want %s)" % (what, v, bounds or "any")})
    return out


def _starts(hw):
    s = hw["gnss_starts"]
    parts = ["%d %s" % (s[k], k) for k in ("cold", "warm", "hot") if s.get(k)]
    ttff = hw.get("ttff_median_s")
    return "%s%s" % (", ".join(parts) or "none", ", median TTFF %.1f s" % ttff if ttff else "")


def rows(r):
    hw = r.get("hardware")
    if not hw:
        return []
    dpc = hw.get("days_per_charge")
    out = [
        (
            "GNSS",
            "on %.1f%% of the time; starts: %s" % (100 * hw["gnss_on_share"], _starts(hw)),
        ),
        (
            "fix accuracy (2DRMS)",
            "median %.0f m, 90%% within %.0f m (as the tag logged it)"
            % (hw["fix_acc_median_m"], hw["fix_acc_p90_m"])
            if hw.get("fix_acc_median_m") is not None
            else "no fixes",
        ),
        (
            "battery",
            "%.1f%% at the end%s; %.2f mA average%s"
            % (
                hw["battery_pct"],
                " (went flat)" if hw["battery_empty"] else "",
                hw["avg_ma"],
                ", %.1f days per charge" % dpc if dpc else "",
            ),
        ),
        (
            "energy by part",
            ", ".join(
                "%s %.2f mAh" % (k, v)
                for k, v in sorted(hw["breakdown_mah"].items(), key=lambda kv: -kv[1])
                if v >= 0.005
            ),
        ),
        (
            "flash wear",
            "%d block erases, at most %d on one block"
            % (hw["flash_erases_total"], hw["flash_erases_max"]),
        ),
    ]
    if hw.get("power_cuts"):
        out.append(
            (
                "power",
                "%d cut%s (%d during a flash write), %d boots"
                % (
                    hw["power_cuts"],
                    "" if hw["power_cuts"] == 1 else "s",
                    hw["torn_writes"],
                    r.get("boots", 0),
                ),
            )
        )
    if hw["uart_dropped"] or hw["uart_errors"]:
        out.append(
            (
                "GNSS UART",
                "%d bytes dropped (port too slow), %d lost or corrupted"
                % (hw["uart_dropped"], hw["uart_errors"]),
            )
        )
    if hw.get("link_lost") or hw.get("link_corrupted"):
        out.append(
            (
                "uplink",
                "%d messages lost, %d corrupted on the way (resent)"
                % (hw["link_lost"], hw["link_corrupted"]),
            )
        )
    if r.get("report"):
        out.append(("report", r["report"]))
    return out
