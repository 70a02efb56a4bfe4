"""Verify evidence files against a tag's public key: every signature, sequence number and
hash-chain link, without the store. A FILE is either concatenated wire items (tagged
COSE_Sign1 messages and plain fix records, as the tag logs and uploads them; a file of
COSE_Sign1 messages alone works too) or an evidence bundle from `emtag export`.

One line per message: position, seq, time, type, then its verdict (valid, unsealed,
unverifiable, modified, reordered, duplicate, spliced) and why; missing seqs get a
`deleted` line where they belong. Exit status 0 only when every message of every file is
valid and nothing is missing, 1 when something is not, 2 for a usage error."""

import hashlib
import json
import sys

from emtag.host import bundle as B
from emtag.host import cose as host_cose
from emtag.host import verify
from emtag.host.errors import CommandError

HELP = "verify evidence files (record streams or bundles) against a tag's public key"


def add_arguments(p):
    p.add_argument("files", nargs="+", metavar="FILE", help="record stream or evidence bundle")
    p.add_argument(
        "--key",
        metavar="KEY",
        help="the tag's public key: PEM, DER, COSE_Key or 65-byte SEC1 (required for streams; "
        "for a bundle, default: the key inside it, which proves integrity but not origin)",
    )
    p.add_argument(
        "--centre",
        metavar="KEY",
        help="the exporting centre's public key: a bundle's manifest.sig must verify with it "
        "(the exported seq range and window are then the centre's statement)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document for machines")
    p.add_argument(
        "--first-seq", type=int, metavar="N", help="a stream must start at seq N (default: 1 "
        "if it holds seq 1, else wherever it starts)"
    )  # fmt: skip
    p.add_argument(
        "--last-seq", type=int, metavar="N", help="a stream must run to seq N (catches "
        "truncation at a checkpoint)"
    )  # fmt: skip


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None


def _load_key(data, what):
    try:
        return host_cose.load_public_key(data)
    except ValueError as e:
        raise CommandError("%s: %s" % (what, e)) from None


def check_file(path, data, key, first_seq=None, last_seq=None, centre=None):
    """Verify one file; returns a result dict (see --json)."""
    notes = []
    res = {"file": path, "format": "stream", "key_source": "--key"}
    if B.is_bundle(data):
        res["format"] = "bundle"
        try:
            bun = B.read(data)
        except B.BundleError as e:
            res.update(ok=False, error=str(e), messages=[], gaps=[], counts={})
            return res, None
        m = bun.manifest
        own = _load_key(bun.public_key_pem, "%s: public_key.pem" % path)
        if key is None:
            key = own
            res["key_source"] = "bundle"
            notes.append(
                "key taken from the bundle itself: this proves the records are unaltered and "
                "were signed by that key, not that the key is the tag's. Compare its SHA-256 "
                "with the fitting record, or pass --key."
            )
        elif verify.public_key_sec1(own) != verify.public_key_sec1(key):
            notes.append("FAIL: the bundle's public_key.pem is not the --key given")
            res["key_mismatch"] = True
        if verify.public_key_sec1(own).hex() != m.get("public_key"):
            notes.append("FAIL: manifest.json names another public key than public_key.pem")
            res["key_mismatch"] = True
        if hashlib.sha256(bun.records_bytes).hexdigest() != m.get("records", {}).get("sha256"):
            notes.append("note: records.cbor differs from the SHA-256 in manifest.json")
        if centre is not None:
            why = B.check_manifest_signature(bun, centre)
            res["manifest_signed"] = why is None
            if why:
                notes.append("FAIL: " + why)
            else:
                notes.append("manifest signed by the centre key: its seq range and window hold")
        elif bun.manifest_sig is not None:
            notes.append("note: manifest.sig not checked (give --centre KEY)")
        items = verify.split_stream(bun.records_bytes, keep_rest=True)
        first_seq, last_seq = m["first_seq"], m["last_seq"]
    else:
        if key is None:
            raise CommandError("%s is a record stream: --key is required" % path)
        if centre is not None:
            notes.append("note: --centre checks a bundle's manifest; a stream has none")
        items = verify.split_stream(data, keep_rest=True)
    report = verify.verify(items, key, first_seq=first_seq, last_seq=last_seq)
    sec1 = verify.public_key_sec1(key)
    res.update(
        device=report.device_id.hex(),
        public_key_sha256=B.key_fingerprint(sec1),
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        ok=report.ok and not res.get("key_mismatch") and res.get("manifest_signed") is not False,
        counts=dict(report.counts, deleted=sum(g.last - g.first + 1 for g in report.gaps)),
        messages=[B.verdict_json(v) for v in report.verdicts],
        gaps=[
            {"first": g.first, "last": g.last, "before": g.before, "verdict": g.kind}
            for g in report.gaps
        ],
        notes=notes,
    )
    return res, report


def run(args):
    key = None
    if args.key:
        key = _load_key(_read(args.key), args.key)
    centre = _load_key(_read(args.centre), args.centre) if args.centre else None
    results = []
    for path in args.files:
        data = _read(path)
        res, report = check_file(path, data, key, args.first_seq, args.last_seq, centre)
        results.append(res)
        if args.json:
            continue
        if report is None:
            print("%s: FAIL: %s" % (path, res["error"]))
            continue
        for line in B.report_lines(report):
            print("%s %s" % (path, line))
        for note in res["notes"]:
            print("%s: %s" % (path, note))
        span = (
            "seq %d..%d" % (res["first_seq"], res["last_seq"]) if report.verdicts else "no records"
        )
        print(
            "%s: %s: device %s, %s, %d messages: %s"
            % (
                path,
                "PASS" if res["ok"] else "FAIL",
                res["device"],
                span,
                len(report.verdicts),
                report.summary(),
            )
        )
    ok = all(r["ok"] for r in results)
    if args.json:
        json.dump({"ok": ok, "files": results}, sys.stdout)
        sys.stdout.write("\n")
    return 0 if ok else 1
