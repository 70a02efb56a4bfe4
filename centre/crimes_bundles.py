"""An evidence bundle per answer (host/bundle.py, what `emtag export` writes): the wearer's
records over the incident's window, widened to the records the answer rests on (a gap's
two ends may lie outside it), with their proof, signed by the centre's key when given, so
`emtag verify` checks the answer's basis without the store."""

import datetime
import math
import os
import re

from emtag.host import bundle as B


def name_for(row):
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", row.incident.id)[:60] or "incident"
    return "%s-%s-line%d.zip" % (safe, row.device, row.incident.line)


def write(store, rows, out_dir, signer=None, now=None, progress=None):
    """Write a bundle for each row and set row.bundle to its file name (or why none could
    be written). Returns (written, failed)."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        for row in rows:
            row.bundle = "none: cannot make %s: %s" % (out_dir, e.strerror or e)
        return 0, len(rows)
    now = now or datetime.datetime.now(datetime.UTC)
    written = failed = 0
    for i, row in enumerate(rows):
        a, inc = row.answer, row.incident
        times = [inc.t_from, inc.t_to, a.record.t] + ([a.other.t] if a.other else [])
        t0, t1 = math.floor(min(times)), math.ceil(max(times))
        name = name_for(row)
        try:
            data, report = B.build(store, row.device, t0, t1, now, signer)
        except B.BundleError as e:
            row.bundle = "none: %s" % e
            failed += 1
            continue
        try:
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
        except OSError as e:
            row.bundle = "none: cannot write %s: %s" % (name, e.strerror or e)
            failed += 1
            continue
        if report.ok:
            row.bundle = name
            written += 1
        else:
            row.bundle = "%s (FAILS verification: %s)" % (name, report.summary())
            failed += 1
        if progress:
            progress(i + 1, len(rows))
    return written, failed
