"""Evidence bundles: one file that anyone can check with `emtag verify`, without the store.

A bundle is a zip archive (so it opens anywhere and its summary reads without emtag) of:

    SUMMARY.txt     what the bundle holds and the verification result at export, one line
                    per record, and how to check it independently
    manifest.json   format, device id, public key, the declared seq range of records.cbor,
                    the requested time window, SHA-256 and count of records.cbor, exporter
    records.cbor    the tag's wire items for seqs first..last, concatenated (a CBOR sequence,
                    RFC 8742; protocol/records.cddl): fixes as plain records, alerts,
                    restarts and checkpoints as ES256 COSE_Sign1
    public_key.pem  the tag's P-256 public key (SubjectPublicKeyInfo)
    manifest.sig    optional (`emtag export --sign KEY`): COSE_Sign1 (ES256) by the
                    exporting monitoring centre's key with manifest.json as its payload, kid
                    its key id. The tag's signatures prove every record up to the last one
                    exported, never that none came after: a bundle cut short at an earlier
                    checkpoint, with its manifest edited to match, would still verify. The
                    centre's signature over the declared range and window closes that.

records.cbor runs from the first record of the time window to the signed record that seals
its last one, so every record in the window carries its proof. The declared range lets a
verifier tell a record deleted at either end from one never exported. Nothing in the bundle
needs trusting but the public key, which must be checked against the tag's fitting record:
the summary and manifest are conveniences, and `emtag verify` recomputes everything.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import zipfile
import zlib

from cryptography.hazmat.primitives import serialization

from emtag.host import cose as host_cose
from emtag.host import verify
from emtag.protocol import records as R

FORMAT = "emtag-evidence-bundle/1"
MEMBERS = ("SUMMARY.txt", "manifest.json", "records.cbor", "public_key.pem")
SIGNATURE = "manifest.sig"  # optional member
MAX_MEMBER = 512 * 1024 * 1024  # a year of fixes a minute is about 45 MB
ZIP_MAGIC = b"PK\x03\x04"


class BundleError(ValueError):
    """Not a readable evidence bundle."""


def check_manifest_signature(bun, centre_key) -> str | None:
    """None if manifest.sig is the centre key's signature over this manifest.json, else
    why not."""
    if bun.manifest_sig is None:
        return "the manifest is not signed (no manifest.sig)"
    try:
        payload = host_cose.verify_sign1(bun.manifest_sig, centre_key)
    except ValueError as e:
        return "manifest.sig does not verify with the centre key: %s" % e
    if payload != bun.manifest_bytes:
        return "manifest.sig signs another manifest than manifest.json"
    return None


def iso(t: int | None, t_ms: int | None = None) -> str:
    if t is None:
        return "-"
    d = datetime.datetime.fromtimestamp(t, datetime.UTC)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%03dZ" % t_ms if t_ms is not None else "Z")


def key_fingerprint(sec1: bytes) -> str:
    """SHA-256 of the 65-byte SEC1 public key, hex: what to compare with the fitting record."""
    return hashlib.sha256(sec1).hexdigest()


# ------------------------------------------------------------------------------ lines


def verdict_line(v: verify.Verdict) -> str:
    """One human-readable line for a record's verdict."""
    rec = v.record or {}
    seq = "seq %-6s" % (v.seq if v.seq is not None else "?")
    when = iso(rec.get(R.K_TIME), rec.get(R.K_TIME_MS)) if rec else "-"
    detail = []
    if v.type == R.ALERT:
        detail.append(str(rec.get(R.K_ALERT)) + (" %s" % rec[R.K_ZONE] if R.K_ZONE in rec else ""))
    if rec.get(R.K_LAT) is not None and rec.get(R.K_LON) is not None:
        pos = "%.7f %.7f" % (rec[R.K_LAT] / 1e7, rec[R.K_LON] / 1e7)
        if rec.get(R.K_ACC) is not None:
            pos += " ±%.1f m" % (rec[R.K_ACC] / 100)
        detail.append(pos)
    if v.type == R.CHECKPOINT:
        detail.append("seals seq %s..%s" % (rec.get(R.K_FIRST), rec.get(R.K_LAST)))
    return "#%-5d %s %-24s %-10s %-34s  %s: %s" % (
        v.index,
        seq,
        when,
        v.type_name,
        ", ".join(detail),
        v.kind,
        v.reason,
    )


def gap_line(g: verify.Gap) -> str:
    return "%-6s %s (before #%d)" % ("-", g.reason, g.before)


def report_lines(report: verify.Report) -> list[str]:
    """Verdict and gap lines in stream order."""
    lines = []
    gaps = sorted(report.gaps, key=lambda g: g.before)
    gi = 0
    for v in report.verdicts:
        while gi < len(gaps) and gaps[gi].before <= v.index:
            lines.append(gap_line(gaps[gi]))
            gi += 1
        lines.append(verdict_line(v))
    lines += [gap_line(g) for g in gaps[gi:]]
    return lines


def verdict_json(v: verify.Verdict) -> dict:
    rec = v.record or {}
    return {
        "index": v.index,
        "seq": v.seq,
        "type": v.type_name if v.type is not None else None,
        "time": iso(rec.get(R.K_TIME), rec.get(R.K_TIME_MS)) if rec else None,
        "verdict": v.kind,
        "reason": v.reason,
        "sealed_by": v.sealed_by,
        "digest": v.digest.hex() if v.digest else None,
        "fields": verify.decode_record_fields(rec) if rec else None,
    }


# ------------------------------------------------------------------------------ writing


def build(
    store, device: str, t_from: int, t_to: int, now: datetime.datetime, signer=None
) -> tuple[bytes, verify.Report]:
    """The bundle (zip bytes) for a device's valid records with t_from <= t <= t_to, and
    the verification report written into its summary. Raises BundleError if there are none.
    signer (host/keys.py HostSigner, the centre's key) adds manifest.sig."""
    sec1 = store.device(device)
    if sec1 is None:
        raise BundleError("no device %s in the store" % device)
    span = store.valid_span(device, t_from, t_to)
    if span is None:
        raise BundleError(
            "no valid records of %s between %s and %s" % (device, iso(t_from), iso(t_to))
        )
    first, last_in_window, last = span
    rows = store.valid_rows(device, first, last)
    items = [bytes(r[3]) for r in rows]
    data = b"".join(items)
    report = verify.verify(items, sec1, first_seq=first, last_seq=last)
    key = host_cose.load_public_key(sec1)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    manifest = {
        "format": FORMAT,
        "device": device,
        "public_key": sec1.hex(),
        "public_key_sha256": key_fingerprint(sec1),
        "first_seq": first,
        "last_seq": last,
        "window": {
            "from": iso(t_from),
            "to": iso(t_to),
            "first_seq": first,
            "last_seq": last_in_window,
        },
        "records": {
            "file": "records.cbor",
            "count": len(items),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        "exported_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exported_by": "emtag " + _version(),
    }
    manifest_bytes = (json.dumps(manifest, indent=2) + "\n").encode()
    members = [
        ("SUMMARY.txt", summary_text(manifest, report, signer).encode()),
        ("manifest.json", manifest_bytes),
        ("records.cbor", data),
        ("public_key.pem", pem),
    ]
    if signer is not None:
        from emtag.firmware import cose as fw_cose

        members.append((SIGNATURE, fw_cose.sign1(signer, manifest_bytes, kid=signer.key_id())))
    buf = io.BytesIO()
    stamp = now.timetuple()[:6]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, body)
    return buf.getvalue(), report


def _version() -> str:
    """emtag's version, as installed (pyproject.toml)."""
    from importlib.metadata import version

    return version("emtag")


def summary_text(manifest: dict, report: verify.Report, signer=None) -> str:
    counts: dict[str, int] = {}
    for v in report.verdicts:
        counts[v.type_name] = counts.get(v.type_name, 0) + 1
    plural = {"fix": "fixes", "alert": "alerts", "restart": "restarts", "checkpoint": "checkpoints"}
    what = ", ".join(
        "%d %s" % (n, k if n == 1 else plural.get(k, k + "s")) for k, n in sorted(counts.items())
    )
    w = manifest["window"]
    verdict = (
        "PASS: every record is valid and none is missing"
        if report.ok
        else "FAIL: " + report.summary()
    )
    lines = [
        "emtag evidence bundle (%s)" % manifest["format"],
        "",
        "Device             %s" % manifest["device"],
        "Public key         SHA-256 %s (public_key.pem)" % manifest["public_key_sha256"],
        "Time window        %s .. %s (UTC)" % (w["from"], w["to"]),
        "Records            seq %d..%d: %s" % (manifest["first_seq"], manifest["last_seq"], what),
        "                   (the window holds seq %d..%d; later ones, up to the signed record"
        % (w["first_seq"], w["last_seq"]),
        "                   that seals them, are included as their proof)",
        "Exported           %s by %s" % (manifest["exported_at"], manifest["exported_by"]),
        "Manifest           %s"
        % (
            "signed by the centre key %s (manifest.sig)" % signer.key_id().hex()
            if signer is not None
            else "not signed",
        ),
        "Verification       %s" % verdict,
        "",
        "How the records are proven",
        "  Each record names its sequence number and the SHA-256 of the record before it (the",
        "  first record of the tag names a value derived from the tag's device id). Alerts and",
        "  checkpoints are signed on the tag (ES256, COSE_Sign1) with a key made on the tag that",
        "  never leaves it. A signature covers its record, hence the hash of the record before,",
        "  hence that record, and so back along the chain: a fix is proven by the next signed",
        "  record after it ('proven by' below). Changing, removing, reordering or inserting any",
        "  record breaks this, and `emtag verify` says which record and how.",
        "",
        "Check it yourself",
        "  emtag verify --key KEY [--centre CENTRE] THIS-FILE.zip",
        "  with KEY the tag's public key from its fitting record (PEM, DER or COSE_Key); its",
        "  SHA-256 must be the fingerprint above. CENTRE, the exporting centre's public key,",
        "  checks manifest.sig: that the seq range and window are the ones it exported.",
        "  records.cbor is a plain CBOR sequence of COSE_Sign1 messages and records (schema:",
        "  protocol/records.cddl) for other tools.",
        "",
        "Records",
    ]
    lines += ["  " + line for line in report_lines(report)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ reading


def is_bundle(data: bytes) -> bool:
    return data[:4] == ZIP_MAGIC


MAX_SMALL = 1 << 20  # manifest.json, public_key.pem, manifest.sig
MAX_DEPTH = 32  # nesting in manifest.json
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
               NotImplementedError, KeyError)  # fmt: skip


class Bundle:
    """An evidence bundle opened for reading, its members streamed (nothing is held whole).

        with Bundle.open(path) as bun:     # BundleError if it is not a readable bundle
            bun.manifest, bun.public_key_pem, bun.manifest_sig
            fp = bun.records()             # records.cbor, read in chunks; then
            fp.sha256(), fp.size           # what was read

    Every member is checked before use: only the expected names, stored or deflated, not
    encrypted; what is decompressed is counted, never trusted from the archive's header."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zip = zf
        self.manifest: dict = {}
        self.manifest_bytes = b""
        self.public_key_pem = b""
        self.manifest_sig: bytes | None = None

    @classmethod
    def open(cls, source) -> Bundle:
        try:
            zf = zipfile.ZipFile(source)
        except _ZIP_ERRORS as e:
            raise BundleError("not a zip archive: %s" % e) from None
        bun = cls(zf)
        try:
            bun._check()
        except BaseException:
            zf.close()
            raise
        return bun

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def _check(self) -> None:
        infos = self.zip.infolist()
        names = [i.filename for i in infos]
        if sorted(n for n in names if n != SIGNATURE) != sorted(MEMBERS) or len(names) != len(
            set(names)
        ):
            raise BundleError(
                "bundle must hold exactly %s (and optionally %s), found %s"
                % (", ".join(MEMBERS), SIGNATURE, ", ".join(n[:60] for n in names[:20]))
            )
        for info in infos:
            if info.flag_bits & 0x1:
                raise BundleError("%s is encrypted" % info.filename)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BundleError(
                    "%s: compression method %d is not supported (stored or deflated only)"
                    % (info.filename, info.compress_type)
                )
        self.manifest_bytes = self._small("manifest.json")
        self.public_key_pem = self._small("public_key.pem")
        if SIGNATURE in names:
            self.manifest_sig = self._small(SIGNATURE)
        with self.member("SUMMARY.txt") as f:  # readable to its end, its CRC right
            while f.read(1 << 16):
                pass
        self.manifest = parse_manifest(self.manifest_bytes)

    def _small(self, name: str) -> bytes:
        with self.member(name, MAX_SMALL) as f:
            return f.read(MAX_SMALL + 1)

    def member(self, name: str, limit: int = MAX_MEMBER) -> Member:
        try:
            return Member(self.zip.open(name), name, limit)
        except _ZIP_ERRORS as e:
            raise BundleError("%s: %s" % (name, e)) from None

    def records(self) -> Member:
        return self.member("records.cbor")


class Member(io.RawIOBase):
    """A zip member read in chunks: at most `limit` bytes decompressed (BundleError past
    it, or on any damage), SHA-256 and size of what was read."""

    def __init__(self, fp, name: str, limit: int):
        self._fp = fp
        self.name = name
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.limit + 1
        try:
            data = self._fp.read(min(n, self.limit + 1 - self.size))
        except _ZIP_ERRORS as e:
            raise BundleError("%s is damaged: %s" % (self.name, e)) from None
        self.size += len(data)
        if self.size > self.limit:
            raise BundleError("%s is larger than %d bytes" % (self.name, self.limit))
        self._hash.update(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self._fp.close()
        super().close()


def _depth(text: bytes) -> int:
    """The deepest nesting of [ and { in JSON text (strings skipped)."""
    depth = top = 0
    in_str = esc = False
    for c in text.decode("utf-8", "replace"):
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            top = max(top, depth)
        elif c in "]}":
            depth -= 1
    return top


def _int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def parse_manifest(data: bytes) -> dict:
    """manifest.json, its fields type- and range-checked (BundleError says which)."""
    if _depth(data) > MAX_DEPTH:
        raise BundleError("manifest.json is nested too deeply")
    try:
        m = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise BundleError("manifest.json: %s" % str(e)[:200]) from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise BundleError("manifest.json: not a %s manifest" % FORMAT)
    for k in ("first_seq", "last_seq"):
        if not _int(m.get(k), 1, 0xFFFFFFFF):
            raise BundleError("manifest.json: bad %s" % k)
    if m["first_seq"] > m["last_seq"]:
        raise BundleError("manifest.json: first_seq %d is after last_seq %d"
                          % (m["first_seq"], m["last_seq"]))  # fmt: skip
    rec = m.get("records")
    if not (
        isinstance(rec, dict)
        and isinstance(rec.get("sha256"), str)
        and len(rec["sha256"]) == 64
        and _int(rec.get("count"), 0, 0xFFFFFFFF)
    ):
        raise BundleError("manifest.json: bad records (sha256, count)")
    for k in ("device", "public_key"):
        if not isinstance(m.get(k), str):
            raise BundleError("manifest.json: bad %s" % k)
    w = m.get("window")
    if w is not None and not isinstance(w, dict):
        raise BundleError("manifest.json: bad window")
    return m
