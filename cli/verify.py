"""Verify evidence files against a tag's public key: every signature, sequence number and
hash-chain link, without the store. A FILE is either concatenated wire items (tagged
COSE_Sign1 messages and plain fix records, as the tag logs and uploads them; a file of
COSE_Sign1 messages alone works too) or an evidence bundle from `emtag export`.

One line per message: position, seq, time, type, then its verdict (valid, unsealed,
unverifiable, modified, reordered, duplicate, spliced) and why; missing seqs get a
`deleted` line where they belong. Exit status 0 only when every message of every file is
valid and nothing is missing, 1 when something is not, 2 for a usage error."""

import json
import sys

from emtag.host import bundle as B
from emtag.host import cose as host_cose
from emtag.host import verify, verify_stream
from emtag.host.errors import CommandError

HELP = "verify evidence files (record streams or bundles) against a tag's public key"


def add_arguments(p):
    p.add_argument("files", nargs="+", metavar="FILE", help="record stream or evidence bundle")
    p.add_argument(
        "--key",
        metavar="KEY",
        help="the tag's public key: a file (PEM, DER, COSE_Key, 65-byte SEC1, or the fitting "
        "register's tags/DEVICE.json) or a device id in the key store's fitting register "
        "(required for streams; for a bundle, default: the key inside it, which proves "
        "integrity but not origin)",
    )
    p.add_argument(
        "--centre",
        metavar="KEY",
        help="the exporting centre's public key: a file, or a key name in the key store (as "
        "`emtag export --sign` takes it); a bundle's manifest.sig must verify with it (the "
        "exported seq range and window are then the centre's statement)",
    )
    p.add_argument(
        "--keys", metavar="DIR", help="key store (default $EMTAG_KEYS, else ~/.config/emtag/keys)"
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


def _read(path, limit=1 << 20):
    """A small file (a key): at most limit bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None
    if len(data) > limit:
        raise CommandError("%s: larger than any key" % path)
    return data


def _load_key(data, what):
    try:
        return host_cose.load_public_key(data)
    except (ValueError, TypeError) as e:
        raise CommandError("%s: %s" % (what, e)) from None


def resolve_key(text, option, keys_dir, name_kind):
    """A public key from `text`: a file (a key in any format load_public_key reads, or a
    fitting-register record {"device", "pubkey"}), else a name in the key store: a key name
    (name_kind "key") or a tag's device id in its fitting register (name_kind "tag")."""
    import os

    from emtag.host import keys

    if os.path.isfile(text) or os.sep in text or "." in text:  # a path, not a name
        data = _read(text)
        if data.lstrip().startswith(b"{"):
            try:
                rec = json.loads(data)
                return _load_key(bytes.fromhex(rec["pubkey"]), text)
            except (ValueError, KeyError, TypeError):
                raise CommandError(
                    "%s: a JSON file here must be a fitting-register record with a \"pubkey\""
                    % text
                ) from None
        return _load_key(data, text)
    store = keys.KeyStore(keys_dir)
    try:
        if name_kind == "tag":
            rec = store.tag(bytes.fromhex(text)) if len(text) == 16 else None
            if rec is not None:
                return _load_key(bytes.fromhex(rec["pubkey"]), text)
        else:
            return _load_key(store.get(text).public, text)
    except (ValueError, keys.KeysError):
        pass
    raise CommandError(
        "%s %s: no such file, and no %s of that name in %s" % (
            option, text, "tag in the fitting register" if name_kind == "tag" else "key",
            store.path)
    )


def _looks_like_wire_item(item):
    """Whether an item's outer shape is one the tag uploads: a COSE_Sign1 (tagged 18, or a
    4-element array starting with a byte string), a record map, or a compact fix (bytes).
    Any byte starts some CBOR item, so a text file "decodes" too: this tells them apart."""
    import cbor2

    try:
        obj = cbor2.loads(item)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
        return False
    if isinstance(obj, cbor2.CBORTag):
        return obj.tag == 18
    if isinstance(obj, list):
        return len(obj) == 4 and isinstance(obj[0], bytes)
    return isinstance(obj, (dict, bytes)) and bool(obj)


def _sniff(path, fp):
    """Why a file that is no bundle is no record stream either, or None if it may be one."""
    head = fp.read(16)
    fp.seek(0)
    if head.startswith(b"SQLite format 3\0"):
        return ("%s is a SQLite database (a bridge's store?), not evidence: write a bundle "
                "from it with `emtag export --store %s ...`" % (path, path))
    if not head:
        return None  # empty: verified, and failed, as a stream with no records
    reader = verify_stream.iter_items(fp)
    first = next(iter(reader), None)
    fp.seek(0)
    if reader.bad_at == 0 or not _looks_like_wire_item(first):
        shown = head[:8].decode("ascii", "replace") if head[:8].isascii() else head[:8].hex()
        return ("%s is neither an evidence bundle (a zip from `emtag export`) nor a record "
                "stream (CBOR wire items as the tag uploads them); it begins %r" % (path, shown))
    return None


class Output:
    """Where results go: a line per message as they are verified, or one JSON document
    written as it goes (messages streamed; at most MAX_GAPS gaps listed per file)."""

    MAX_GAPS = 1000

    def __init__(self, as_json, out=None):
        self.json = as_json
        self.out = out or sys.stdout
        self.files = 0

    def begin(self, path):
        if self.json:
            self.out.write('{"files": [' if self.files == 0 else ", ")
            self.out.write('{"file": %s, "messages": [' % json.dumps(path))
        self.files += 1
        self.first_message = True
        self.path = path

    def report(self, report):
        if self.json:
            for v in report.verdicts:
                self.out.write(("" if self.first_message else ", ") + json.dumps(B.verdict_json(v)))
                self.first_message = False
        else:
            for line in B.report_lines(report):
                self.out.write("%s %s\n" % (self.path, line))

    def end(self, res):
        if self.json:
            self.out.write("], " + json.dumps(res)[1:-1] + "}")
            return
        for note in res.get("notes", []):
            self.out.write("%s: %s\n" % (self.path, note))
        if "error" in res:
            self.out.write("%s: FAIL: %s\n" % (self.path, res["error"]))
            return
        span = "seq %s..%s" % (res["first_seq"], res["last_seq"]) if res["n"] else "no records"
        self.out.write(
            "%s: %s: device %s, %s, %d messages: %s\n"
            % (self.path, "PASS" if res["ok"] else "FAIL", res["device"], span, res["n"],
               res["summary"])
        )  # fmt: skip

    def close(self, ok):
        if self.json:
            self.out.write('], "ok": %s}\n' % json.dumps(ok))


def _summary(counts, deleted, gaps):
    parts = ["%d %s" % (n, k) for k, n in counts.items() if n]
    if gaps:
        parts.append("%d deleted (%d gap%s)" % (deleted, gaps, "s" * (gaps > 1)))
    return ", ".join(parts) or "empty"


def _verify_items(out, items, key, first_seq, last_seq, limit=None):
    """Stream items through verify_stream, reporting as it goes; the totals."""
    tot = {"counts": {k: 0 for k in verify.KINDS}, "deleted": 0, "gap_count": 0, "gaps": [],
           "n": 0, "first_seq": None, "last_seq": None, "over": False}  # fmt: skip

    def bounded(it):
        for i, w in enumerate(it):
            if limit is not None and i >= limit:
                tot["over"] = True
                return
            yield w

    for rep in verify_stream.verify_stream(bounded(items), key, first_seq=first_seq,
                                           last_seq=last_seq):  # fmt: skip
        out.report(rep)
        for k, n in rep.counts.items():
            tot["counts"][k] += n
        tot["n"] += len(rep.verdicts)
        for g in rep.gaps:
            tot["deleted"] += g.last - g.first + 1
            tot["gap_count"] += 1
            if len(tot["gaps"]) < Output.MAX_GAPS:
                tot["gaps"].append(
                    {"first": g.first, "last": g.last, "before": g.before, "verdict": g.kind}
                )
        if tot["first_seq"] is None and rep.verdicts:
            tot["first_seq"] = rep.first_seq
        if rep.last_seq:
            tot["last_seq"] = max(tot["last_seq"] or 0, rep.last_seq)
    return tot


def check_file(path, out, key, first_seq=None, last_seq=None, centre=None):
    """Verify one file, streaming; returns its result dict (see --json)."""
    try:
        fp = open(path, "rb")
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None
    with fp:
        head = fp.read(4)
        fp.seek(0)
        if B.is_bundle(head):
            return _check_bundle(path, fp, out, key, centre)
        why = _sniff(path, fp)
        if why:
            raise CommandError(why)
        if key is None:
            raise CommandError("%s is a record stream: --key is required (the tag's public key "
                               "file, or its device id in the fitting register)" % path)
        out.begin(path)
        notes = []
        if centre is not None:
            notes.append("note: --centre checks a bundle's manifest; a stream has none")
        reader = verify_stream.iter_items(fp)
        tot = _verify_items(out, reader, key, first_seq, last_seq)
        return _finish(out, {"file": path, "format": "stream", "key_source": "--key"}, tot,
                       key, notes, reader)  # fmt: skip


def _check_bundle(path, fp, out, key, centre):
    res = {"file": path, "format": "bundle", "key_source": "--key"}
    notes = []
    out.begin(path)
    try:
        with B.Bundle.open(fp) as bun:
            m = bun.manifest
            try:
                own = host_cose.load_public_key(bun.public_key_pem)
            except (ValueError, TypeError) as e:
                raise B.BundleError("public_key.pem: %s" % e) from None
            if key is None:
                key = own
                res["key_source"] = "bundle"
                notes.append(
                    "key taken from the bundle itself: this proves the records are unaltered "
                    "and were signed by that key, not that the key is the tag's. Its SHA-256 "
                    "is %s: compare it with the fitting record (emtag keys list), or pass "
                    "--key." % B.key_fingerprint(verify.public_key_sec1(own))
                )
            fail = []
            if verify.public_key_sec1(own) != verify.public_key_sec1(key):
                fail.append("the bundle's public_key.pem is not the --key given")
            if verify.public_key_sec1(own).hex() != m["public_key"]:
                fail.append("manifest.json names another public key than public_key.pem")
            if m["device"] != verify.device_id_of(key).hex():
                fail.append("manifest.json names device %s, the key is device %s"
                            % (m["device"][:32], verify.device_id_of(key).hex()))  # fmt: skip
            if centre is not None:
                why = B.check_manifest_signature(bun, centre)
                res["manifest_signed"] = why is None
                if why:
                    fail.append(why)
                else:
                    notes.append("manifest signed by the centre key: its seq range and window hold")
            elif bun.manifest_sig is not None:
                notes.append("note: manifest.sig not checked (give --centre KEY)")
            rec = bun.records()
            reader = verify_stream.iter_items(rec)
            count = m["records"]["count"]
            tot = _verify_items(out, reader, key, m["first_seq"], m["last_seq"], limit=count)
            if tot["over"]:
                fail.append("records.cbor holds more than the %d records its manifest declares"
                            % count)  # fmt: skip
                while rec.read(1 << 16):  # to its end: the SHA-256 below covers it all
                    pass
            if rec.sha256() != m["records"]["sha256"]:
                fail.append("records.cbor differs from the SHA-256 in manifest.json")
            elif tot["n"] != count:
                fail.append("records.cbor holds %d records, manifest.json says %d"
                            % (tot["n"], count))  # fmt: skip
            notes += ["FAIL: " + f for f in fail]
            res["bundle_ok"] = not fail
            return _finish(out, res, tot, key, notes, reader)
    except B.BundleError as e:
        res.update(ok=False, error=str(e), counts={}, gaps=[], notes=notes)
        out.end(res)
        return res


def _finish(out, res, tot, key, notes, reader):
    if reader.bad_at is not None:
        notes.append("FAIL: bytes from %d on are no record (%d more not read)"
                     % (reader.bad_at, reader.unread))  # fmt: skip
    sec1 = verify.public_key_sec1(key)
    if tot["n"] == 0:
        notes.append("FAIL: no records")
    elif tot["counts"].get(verify.VALID, 0) == 0 and res.get("key_source") == "--key":
        notes.append(
            "FAIL: not one record verifies with the key given (device %s, SHA-256 %s): most "
            "likely it is another tag's key, not that the records were spliced or deleted"
            % (verify.device_id_of(key).hex(), B.key_fingerprint(sec1))
        )
    ok = (
        tot["n"] > 0
        and tot["gap_count"] == 0
        and all(n == 0 for k, n in tot["counts"].items() if k != verify.VALID)
        and res.get("bundle_ok", True)
        and res.get("manifest_signed") is not False
    )
    res.update(
        device=verify.device_id_of(key).hex(),
        public_key_sha256=B.key_fingerprint(sec1),
        first_seq=tot["first_seq"],
        last_seq=tot["last_seq"],
        ok=ok,
        n=tot["n"],
        counts=dict(tot["counts"], deleted=tot["deleted"]),
        gaps=tot["gaps"],
        gaps_total=tot["gap_count"],
        summary=_summary(tot["counts"], tot["deleted"], tot["gap_count"]),
        notes=notes,
    )
    out.end(res)
    return res


def run(args):
    key = resolve_key(args.key, "--key", args.keys, "tag") if args.key else None
    centre = resolve_key(args.centre, "--centre", args.keys, "key") if args.centre else None
    for name in ("first_seq", "last_seq"):
        v = getattr(args, name)
        if v is not None and not 1 <= v <= 0xFFFFFFFF:
            raise CommandError("--%s must be 1..4294967295" % name.replace("_", "-"))
    if args.first_seq and args.last_seq and args.first_seq > args.last_seq:
        raise CommandError("--first-seq is after --last-seq")
    out = Output(args.json)
    ok = True
    for path in args.files:
        res = check_file(path, out, key, args.first_seq, args.last_seq, centre)
        ok = ok and res["ok"]
    out.close(ok)
    return 0 if ok else 1
