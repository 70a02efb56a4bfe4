"""Export a tag's evidence for a time window from the bridge's store into one self-contained
bundle (a zip: records, checkpoints, public key, manifest and a human-readable verification
summary; see host/bundle.py) that `emtag verify` checks without the store.

The bundle holds the valid records whose time lies in the window, in sequence order, and
after them the records up to the signed one that seals the last (its proof). It is verified
as it is written; the exit status is 0 when it verifies, 1 when it does not (it is still
written, with the failure in its summary), 2 for a usage error."""

import datetime

from emtag.cli.storeargs import add_store_argument, device_of, open_reading
from emtag.host import bundle as B
from emtag.host.errors import CommandError

MAX_TIME = 0xFFFFFFFF  # the last second a record's time can name

HELP = "export a tag's records for a time window as a self-contained evidence bundle"


def add_arguments(p):
    add_store_argument(p)
    p.add_argument(
        "--device", metavar="ID",
        help="device id (hex, or a unique prefix); may be left out when the store holds one tag"
    )
    p.add_argument(
        "--from", dest="t_from", required=True, metavar="T",
        help="window start: ISO 8601 (UTC unless an offset is given) or Unix seconds",
    )  # fmt: skip
    p.add_argument("--to", dest="t_to", required=True, metavar="T", help="window end, inclusive")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE", help="file to write (.zip)")
    p.add_argument(
        "--sign", metavar="NAME",
        help="sign the manifest with this centre key from the key store (manifest.sig): the "
        "exported seq range and window become the centre's statement",
    )  # fmt: skip
    p.add_argument("--keys", metavar="DIR", help="key store (default $EMTAG_KEYS or ~/.config...)")


def parse_time(text, what):
    """Unix seconds from ISO 8601 (naive means UTC) or a number of seconds. Times past the
    last a record can hold (2106, protocol/records.cddl) mean that last second."""
    try:
        t = float(text)
    except ValueError:
        try:
            d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError("%s: %r is not ISO 8601 or Unix seconds" % (what, text)) from None
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.UTC)
        t = d.timestamp()
    if not 0 <= t < float("inf"):  # also NaN
        raise CommandError("%s: %r is not a time from 1970 on" % (what, text))
    return int(min(t, MAX_TIME))


def run(args):
    signer = None
    if args.sign:
        from emtag.host import keys

        try:
            signer = keys.KeyStore(args.keys).get(args.sign, role="centre").signer()
        except keys.KeysError as e:
            raise CommandError("--sign %s: %s" % (args.sign, e)) from None
    t_from = parse_time(args.t_from, "--from")
    t_to = parse_time(args.t_to, "--to")
    if t_to < t_from:
        raise CommandError("--to is before --from")
    store = open_reading(args.store)
    try:
        device = device_of(store, args.device)
        now = datetime.datetime.now(datetime.UTC)
        try:
            data, report = B.build(store, device, t_from, t_to, now, signer)
        except B.BundleError as e:
            raise CommandError(str(e)) from None
    finally:
        store.close()
    try:
        with open(args.output, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.output, e.strerror or e)) from None
    print(
        "emtag export: wrote %s: device %s, seq %d..%d, %d records, %d bytes"
        % (
            args.output,
            device,
            report.first_seq,
            report.last_seq,
            len(report.verdicts),
            len(data),
        )
    )
    print("%s: %s" % ("PASS" if report.ok else "FAIL", report.summary()))
    return 0 if report.ok else 1
