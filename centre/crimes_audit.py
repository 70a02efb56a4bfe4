"""The audit log of crime-mapping requests: who asked, when, which incidents file (its
SHA-256), under which policy, and what came back (the counts). Entries are hash-chained in
the store (each names the SHA-256 of the one before), so an entry altered or removed in
place is detected when the log is listed."""

import hashlib
import json

from emtag.centre import crimes_report


def entry(operator, started, finished, file_name, data, policy, counts, output, bundles, signer):
    return {
        "request": "crimes match",
        "operator": operator,
        "started": crimes_report.iso(started),
        "finished": crimes_report.iso(finished),
        "incidents_file": file_name,
        "incidents_sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
        "incidents_bytes": len(data) if data is not None else None,
        "policy": policy.summary(),
        "counts": counts,
        "output": output,
        "bundles": bundles,
        "centre_key": signer.key_id().hex() if signer is not None else None,
    }


def check_chain(rows):
    """[(id, entry dict, problem or None)] for the stored rows, checking each link."""
    out = []
    prev = "0" * 64
    for rid, body, prev_sha, sha in rows:
        problem = None
        if prev_sha != prev:
            problem = "the entry before it was altered or removed"
        elif hashlib.sha256((prev_sha + body).encode()).hexdigest() != sha:
            problem = "this entry was altered"
        try:
            e = json.loads(body)
        except ValueError:
            e, problem = {}, "this entry is not JSON"
        out.append((rid, e, problem))
        prev = sha
    return out


def line(rid, e, problem):
    c = e.get("counts") or {}
    a = c.get("answers") or {}
    pol = e.get("policy") or {}
    return "%4d  %s  %-12s  %s  sha256 %s  policy %s  %s%s" % (
        rid,
        e.get("started", "?"),
        e.get("operator", "?"),
        e.get("incidents_file", "?"),
        (e.get("incidents_sha256") or "-")[:16],
        pol.get("name", "?") + (" sha256 %s" % pol["sha256"][:12] if pol.get("sha256") else ""),
        "incidents %s read / %s matched / %s refused; placed %s, could %s, could not %s"
        % (
            c.get("incidents_read", "-"),
            c.get("incidents_matched", "-"),
            c.get("incidents_refused", "-"),
            a.get("placed", "-"),
            a.get("could_have_been_there", "-"),
            a.get("could_not_have_been_there", "-"),
        ),
        "  ALTERED: %s" % problem if problem else "",
    )
