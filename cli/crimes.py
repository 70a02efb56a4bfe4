"""Crime mapping: cross-reference reported incidents with the trails of the wearers a
policy makes eligible, and say for each one whether the wearer was placed at the scene,
could have been there (and at what speed), or could not have been there (and by what
margin). Only wearers flagged with `emtag crimes eligible` are looked at; every request
is written to the store's audit log (`emtag crimes audit`). The match rule, the policy
file and the output columns: README.md, "Crime mapping"."""

import json
import os
import sys
import time

from emtag.host.errors import CommandError

HELP = "crime mapping: match incidents against eligible wearers' trails; eligibility; audit"


def add_arguments(p):
    sub = p.add_subparsers(dest="crimes_command", metavar="ACTION", required=True)
    m = sub.add_parser(
        "match", help="match an incidents file (CSV) against the trails", description=_match_doc()
    )
    _store(m)
    m.add_argument(
        "--incidents",
        required=True,
        metavar="FILE.csv",
        help="id, crime type, latitude, longitude, uncertainty_m, time_from, time_to",
    )
    m.add_argument(
        "--policy",
        metavar="POLICY.toml",
        help="crime types, longest window, speeds, accuracy (default: built in)",
    )
    m.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="hits.csv",
        help="answers and refused incidents, one row each",
    )
    _operator(m)
    m.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    m.add_argument("--bundles", metavar="DIR", help="write an evidence bundle per answer here")
    m.add_argument(
        "--sign",
        metavar="NAME",
        help="sign the bundles' manifests with this centre key from the key store",
    )
    m.add_argument("--keys", metavar="DIR", help="key store (default $EMTAG_KEYS or ~/.config...)")
    m.set_defaults(_crimes=run_match)

    a = sub.add_parser("audit", help="list the matching requests in the audit log")
    _store(a)
    a.add_argument("--json", action="store_true", help="the entries as JSON")
    a.set_defaults(_crimes=run_audit)

    e = sub.add_parser(
        "eligible",
        help="set, clear or list the crime-mapping flag of wearers",
        description="A wearer's trail is matched only while a flag is set for its tag, with "
        "the reason (e.g. the risk assessment that found reoffending more likely than not) and "
        "who set it. Every change is kept. A fitting sets it with --source fitting.",
    )
    _store(e)
    e.add_argument("device", nargs="?", metavar="DEVICE", help="device id (16 hex digits)")
    e.add_argument("--reason", help="why the flag is set or cleared (required to change it)")
    e.add_argument(
        "--by",
        metavar="NAME",
        default=os.environ.get("EMTAG_OPERATOR"),
        help="who sets it (default $EMTAG_OPERATOR)",
    )
    e.add_argument("--until", metavar="T", help="the flag lapses then (ISO 8601)")
    e.add_argument("--source", choices=("centre", "fitting"), default="centre")
    e.add_argument("--clear", action="store_true", help="clear the flag")
    e.add_argument("--list", action="store_true", help="list the flags (the latest of each tag)")
    e.add_argument("--history", action="store_true", help="with --list: every change")
    e.set_defaults(_crimes=run_eligible)


def _match_doc():
    return (
        "For each incident the policy allows and each eligible wearer: placed at the scene "
        "(a record during the window within the scene's uncertainty plus the record's "
        "accuracy), could have been there (only a gap between records, or a record too vague "
        "to place anyone, allows it: the speed it needs and the mode), or could not have been "
        "there (with the margin, at the policy's top speed). Wearers nowhere near get no row. "
        "Every refused incident gets a row with the reason."
    )


def _store(p):
    from emtag.cli.storeargs import add_store_argument

    add_store_argument(p)


def _operator(p):
    p.add_argument(
        "--operator",
        default=os.environ.get("EMTAG_OPERATOR"),
        metavar="NAME",
        help="who asks (written to the audit log; default $EMTAG_OPERATOR)",
    )


def run(args):
    return args._crimes(args)


def _open_store(target):
    from emtag.cli.storeargs import open_reading

    return open_reading(target)


def _progress(what):
    """A progress callback for stderr: a rewritten line on a terminal, else every 10 %."""
    tty = sys.stderr.isatty()
    state = {"shown": -1, "t": 0.0}

    def show(i, n):
        pct = 100 * i // max(1, n)
        now = time.monotonic()
        if tty and (now - state["t"] > 0.2 or i == n):
            print("\r%s %d/%d" % (what, i, n), end="\n" if i == n else "", file=sys.stderr)
            state["t"] = now
        elif not tty and pct // 10 > state["shown"] and n >= 50:
            state["shown"] = pct // 10
            print("%s %d/%d" % (what, i, n), file=sys.stderr)

    return show


def run_match(args):
    from emtag.centre import crimes_audit, crimes_bundles, crimes_policy, crimes_report, crimes_run

    if not args.operator or not args.operator.strip():
        raise CommandError("--operator NAME is required (who asks is written to the audit log)")
    try:
        policy = crimes_policy.load(args.policy)
    except crimes_policy.PolicyError as e:
        raise CommandError(str(e)) from None
    signer = None
    if args.sign:
        if not args.bundles:
            raise CommandError("--sign needs --bundles DIR")
        from emtag.host import keys

        try:
            signer = keys.KeyStore(args.keys).get(args.sign, role="centre").signer()
        except keys.KeysError as e:
            raise CommandError("--sign %s: %s" % (args.sign, e)) from None
    from emtag.cli import outfile

    outfile.check(args.output, "-o")
    if args.bundles and os.path.exists(args.bundles) and not os.path.isdir(args.bundles):
        raise CommandError("--bundles %s is not a folder" % args.bundles)
    try:
        with open(args.incidents, "rb") as f:
            data = f.read(64 * 1024 * 1024 + 1)
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (args.incidents, e.strerror or e)) from None
    store = _open_store(args.store)
    started = time.time()
    try:
        print("emtag crimes: indexing new records...", file=sys.stderr, flush=True)
        store.trail_index_refresh(_progress("emtag crimes: indexing devices"))
        result = crimes_run.match(
            store, data, policy, started, _progress("emtag crimes: incidents")
        )
        bundles = (0, 0)
        if args.bundles and result.rows:
            bundles = crimes_bundles.write(
                store,
                result.rows,
                args.bundles,
                signer,
                progress=_progress("emtag crimes: bundles"),
            )
        counts = result.counts()
        if args.bundles:
            counts["bundles_written"], counts["bundles_failed"] = bundles
        if result.file_problem:
            counts["file_problem"] = result.file_problem
        audit_id, _ = store.crime_audit_append(
            crimes_audit.entry(
                args.operator.strip(),
                started,
                time.time(),
                args.incidents,
                data,
                policy,
                counts,
                args.output,
                args.bundles,
                signer,
            )
        )
    finally:
        store.close()
    # written after the audit entry: a request that fails here is on record all the same
    outfile.write(args.output, crimes_report.csv_text(result, policy.params).encode(), "-o")
    if args.json:
        doc = crimes_report.json_doc(result, policy.params, audit_id)
        print(json.dumps(doc, indent=1, sort_keys=True))
    else:
        if result.file_problem:
            print("emtag crimes: %s: %s" % (args.incidents, result.file_problem))
        print(crimes_report.summary(result, policy))
        print("wrote %s; audit entry %d (%.1f s)" % (args.output, audit_id, result.seconds))
    return 0 if result.matched else 1


def run_audit(args):
    from emtag.centre import crimes_audit

    store = _open_store(args.store)
    try:
        checked = crimes_audit.check_chain(store.crime_audit_rows())
    finally:
        store.close()
    bad = [c for c in checked if c[2]]
    if args.json:
        print(json.dumps([dict(e, id=rid, problem=p) for rid, e, p in checked], indent=1))
    else:
        for rid, e, problem in checked:
            print(crimes_audit.line(rid, e, problem))
        print(
            "%d requests; %s" % (len(checked), "%d ALTERED" % len(bad) if bad else "chain intact")
        )
    return 1 if bad else 0


def run_eligible(args):
    from emtag.centre import crimes_eligibility as E
    from emtag.centre import crimes_report
    from emtag.cli.storeargs import parse_instant

    store = _open_store(args.store)
    try:
        if args.list:
            for f in store.crime_flags(history=args.history):
                print(
                    "%s  %-7s  %s  by %s (%s)%s  %s"
                    % (
                        f["device"],
                        "set" if f["eligible"] else "cleared",
                        crimes_report.iso(f["set_at"]),
                        f["set_by"],
                        f["source"],
                        "  until %s" % crimes_report.iso(f["until"]) if f["until"] else "",
                        f["reason"],
                    )
                )
            return 0
        if not args.device:
            raise CommandError("give a DEVICE (or --list)")
        until = parse_instant(args.until, "--until") if args.until else None
        try:
            device = E.set_flag(
                store,
                args.device,
                args.reason,
                args.by,
                time.time(),
                until,
                args.source,
                args.clear,
            )
        except E.EligibilityError as e:
            raise CommandError(str(e)) from None
        known = device in store.known_devices()
    finally:
        store.close()
    print(
        "%s: crime-mapping flag %s%s"
        % (
            device,
            "cleared" if args.clear else "set",
            "" if known else " (this tag has not reached the store yet)",
        )
    )
    return 0
