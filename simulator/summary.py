"""The summary table printed after a run (and shown in its report)."""

from emtag.simulator import hwsummary


def _heap(r):
    if not r["heap_peak"]:
        return "n/a (not on MicroPython)"
    return "%d bytes live between passes, %d with garbage before GC" % (
        r["heap_live_peak"],
        r["heap_peak"],
    )


def summary_table(r):
    rows = [
        ("scenario", r["scenario"]),
        ("firmware ran on", r["interpreter"]),
        ("tag", r["device"] or "-"),
        ("fix records made", r["fix_records"]),
        (
            "records stored and verified",
            "%d (%d failed, %d rejected)"
            % (r["stored_verified"], r["stored_failed"], r["rejected"]),
        ),
        (
            "tag's records in the store",
            "%s up to seq %d; %d on the tag after it at the end%s"
            % (
                "all" if not r["records_missing"] else "%d MISSING" % r["records_missing"],
                r["stored_upto"],
                r["records_unsent"],
                ""
                if r.get("catch_up_s") is None
                else "; caught up %.0f s after the link came back" % r["catch_up_s"],
            ),
        ),
        ("alerts raised on the tag", ", ".join(a["alert"] for a in r["tag_alerts"]) or "none"),
        ("alerts in the store", ", ".join(a["alert"] for a in r["stored_alerts"]) or "none"),
        *hwsummary.rows(r),
        ("MicroPython heap high-water", _heap(r)),
        (
            "simulated / wall time",
            "%.0f s / %.1f s (%.0fx real time)"
            % (r["sim_s"], r["wall_s"], r["sim_s"] / max(r["wall_s"], 1e-9)),
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join("%-*s  %s" % (width, k, v) for k, v in rows)
