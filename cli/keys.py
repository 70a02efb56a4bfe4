"""Manage the P-256 keys that authorise commands to tags (host/keys.py): the monitoring
centre's key (the trust anchor a tag stores at provisioning) and fitting engineers' keys
(trusted through a certificate the centre's key signs). Private keys are PEM files of mode
600 in the key store (--keys, $EMTAG_KEYS, else ~/.config/emtag/keys). --keys and --json
go before or after the action.

At the monitoring centre:
  emtag keys new centre --role centre
  emtag keys export centre -o centre.pub.pem               # for the fitters' laptops
  emtag keys certify alice.pub.pem --centre centre --out alice.cert

On a fitting engineer's laptop (the private key never leaves it):
  emtag keys new alice --role fitter                      # key pair, not yet certified
  emtag keys export alice -o alice.pub.pem                # send this to the centre
  emtag keys add-cert alice alice.cert                    # the centre's answer
  emtag keys import centre centre.pub.pem
  emtag keys list

Both in one key store (development, tests):
  emtag keys new alice --role fitter --centre centre      # key + certificate at once
"""

import argparse
import json
import sys

from emtag.cli import options, outfile
from emtag.host.errors import CommandError

HELP = "manage fitting and monitoring-centre keys (new, list, export, import, certify)"


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' layout
    shared = options.Shared(p)
    options.add_keys(shared)
    options.add_json(shared, "what was done")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    def action(name, help_text):
        return sub.add_parser(name, help=help_text, parents=[shared.parent])

    n = action("new", "make a key pair (private half mode 600)")
    n.add_argument("name")
    n.add_argument("--role", choices=("centre", "fitter"), required=True)
    n.add_argument(
        "--centre",
        metavar="NAME",
        help="fitter: certify it at once with this centre key (held in the same store); "
        "without it the key waits for a certificate from `emtag keys certify`",
    )
    _cert_options(n)
    action("list", "list the keys and their roles, key ids and certificates")
    x = action("export", "write a key's public half (PEM) to send elsewhere")
    x.add_argument("name")
    x.add_argument("-o", "--out", metavar="FILE", help="file to write (default: print it)")
    i = action("import", "add a public key (the centre's; a fitter's with --cert)")
    i.add_argument("name")
    i.add_argument("public", help="PEM, DER or 65-byte SEC1 public key file")
    i.add_argument("--cert", help="its delegation certificate (a fitter key held elsewhere)")
    c = action("certify", "sign a delegation certificate for a fitter's public key")
    c.add_argument("public", help="the fitter's public key file, or a key name in the store")
    c.add_argument("--centre", metavar="NAME", required=True)
    c.add_argument("-o", "--out", required=True, help="certificate file to write")
    _cert_options(c)
    a = action("add-cert", "install the certificate issued for one of our keys")
    a.add_argument("name")
    a.add_argument("cert")


def _cert_options(p):
    p.add_argument("--tag", metavar="DEVICE", help="limit to one tag (16 hex digits)")
    p.add_argument(
        "--commands",
        metavar="LIST",
        help="comma-separated commands the fitter may run (default: all but devmode)",
    )


def _scope(args):
    from emtag.host import keys

    device = None
    if args.tag:
        try:
            device = bytes.fromhex(args.tag)
        except ValueError:
            raise CommandError("--tag must be a device id of 16 hex digits") from None
    allowed = keys.FITTER_COMMANDS
    if args.commands:
        allowed = tuple(c.strip() for c in args.commands.split(",") if c.strip())
    return device, allowed


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror)) from None


def _say(args, data, lines):
    if args.json:
        print(json.dumps(data, indent=1, sort_keys=True))
    else:
        print("\n".join(lines))


def run(args):
    from emtag.host import keys

    store = keys.KeyStore(args.keys)
    actions = {
        "new": _new,
        "list": _list,
        "export": _export,
        "import": _import,
        "certify": _certify,
        "add-cert": _add_cert,
    }
    try:
        return actions[args.keys_command](store, args) or 0
    except keys.KeysError as e:
        raise CommandError(str(e)) from None


def _entry_json(e):
    from emtag.host import keys

    d = {"name": e.name, "role": e.role, "kid": e.kid.hex(), "private": bool(e.private_path)}
    d["public"] = e.public.hex()
    d["certificate"] = None
    if e.cert:
        c = keys.read_cert(e.cert)
        d["certificate"] = {
            "issuer_kid": c["issuer"].hex() if c["issuer"] else None,
            "tag": c["device"].hex() if c["device"] else None,
            "commands": list(c["commands"]),
        }
    return d


def _new(store, args):
    device, allowed = _scope(args)
    e = store.new(args.name, args.role, args.centre, device, allowed)
    lines = ["made %s key %s (kid %s) in %s" % (e.role, e.name, e.kid.hex(), store.path)]
    if e.cert:
        lines.append(
            "certified by %s for %s: %s"
            % (args.centre, _where(device), ", ".join(allowed))
        )
    elif e.role == "fitter":
        pub = "%s.pub.pem" % e.name
        lines += [
            "it is not certified yet: tags will refuse it until the centre certifies it.",
            "next:",
            "  1. export its public half and send it to the monitoring centre:",
            "       emtag keys export %s -o %s" % (e.name, pub),
            "  2. at the centre, certify it with the centre's key:",
            "       emtag keys certify %s --centre CENTRE --out %s.cert" % (pub, e.name),
            "  3. back here, install the certificate and the centre's public key:",
            "       emtag keys add-cert %s %s.cert" % (e.name, e.name),
            "       emtag keys import CENTRE CENTRE.pub.pem",
        ]
    _say(args, dict(_entry_json(e), store=str(store.path)), lines)


def _where(device):
    return "tag %s only" % device.hex() if device else "any tag"


def _export(store, args):
    e = store.get(args.name)
    pem = (store.path / (e.name + ".pub.pem")).read_bytes()
    if not args.out:
        if args.json:
            _say(args, dict(_entry_json(e), pem=pem.decode()), [])
        else:
            sys.stdout.write(pem.decode())
        return
    outfile.write(args.out, pem, "--out")
    _say(
        args,
        dict(_entry_json(e), file=args.out),
        ["wrote the public half of %s key %s (kid %s) to %s" % (e.role, e.name, e.kid.hex(),
                                                                 args.out)],
    )


def _import(store, args):
    cert = _read(args.cert) if args.cert else None
    e = store.import_key(args.name, _read(args.public), cert)
    _say(
        args,
        _entry_json(e),
        ["imported %s key %s (kid %s), public half only" % (e.role, e.name, e.kid.hex())],
    )


def _certify(store, args):
    from emtag.host import keys

    device, allowed = _scope(args)
    outfile.check(args.out, "--out")  # before signing: a missing folder is no traceback
    try:
        named = store.get(args.public)
        pub, subject = named.public, "key %s" % named.name
    except keys.KeysError:
        pub, subject = keys.sec1(_load_pub(_read(args.public))), args.public
    centre = store.get(args.centre, role="centre")
    cert = store.certify(args.centre, pub, device, allowed)
    outfile.write(args.out, cert, "--out")
    kid = keys.kid_of(pub).hex()
    _say(
        args,
        {
            "certificate": args.out,
            "bytes": len(cert),
            "subject_kid": kid,
            "subject": subject,
            "issuer": centre.name,
            "issuer_kid": centre.kid.hex(),
            "tag": device.hex() if device else None,
            "commands": list(allowed),
        },
        [
            "certified %s (kid %s) with centre key %s (kid %s)"
            % (subject, kid, centre.name, centre.kid.hex()),
            "it may run on %s: %s" % (_where(device), ", ".join(allowed)),
            "wrote the certificate to %s (%d bytes); on the fitter's laptop:" % (args.out,
                                                                              len(cert)),
            "  emtag keys add-cert NAME %s" % args.out,
        ],
    )


def _add_cert(store, args):
    from emtag.host import keys

    e = store.add_cert(args.name, _read(args.cert))
    c = keys.read_cert(e.cert)
    issuer = store.by_kid(c["issuer"]) if c["issuer"] else None
    lines = [
        "installed the certificate for %s: it may run on %s: %s"
        % (e.name, _where(c["device"]), ", ".join(c["commands"]))
    ]
    if issuer is None:
        lines.append(
            "the centre key that signed it is not in this store yet: "
            "emtag keys import CENTRE CENTRE.pub.pem (provisioning needs it)"
        )
    _say(args, _entry_json(e), lines)


def _load_pub(data):
    from emtag.host import cose as host_cose

    try:
        return host_cose.load_public_key(data)
    except ValueError as e:
        raise CommandError("not a public key: %s" % e) from None


def _list(store, args):
    from emtag.host import keys

    entries = store.list()
    if args.json:
        _say(args, {"store": str(store.path), "keys": [_entry_json(e) for e in entries]}, [])
        return
    if not entries:
        print("no keys in %s (emtag keys new NAME --role centre|fitter)" % store.path)
        return
    print("%-16s %-7s %-16s %-8s %s" % ("NAME", "ROLE", "KID", "PRIVATE", "CERTIFICATE"))
    for e in entries:
        cert = "-"
        if e.cert:
            c = keys.read_cert(e.cert)
            issuer = store.by_kid(c["issuer"]) if c["issuer"] else None
            cert = "by %s%s: %s" % (
                issuer.name if issuer else (c["issuer"] or b"?").hex(),
                " for tag " + c["device"].hex() if c["device"] else "",
                ",".join(c["commands"]),
            )
        elif e.role == "fitter":
            cert = "none yet (emtag keys certify at the centre, then add-cert)"
        private = "yes" if e.private_path else "no"
        if e.loose_permissions():
            private = "UNSAFE"
            print(
                "warning: %s is readable by others: chmod 600 it" % e.private_path, file=sys.stderr
            )
        print("%-16s %-7s %-16s %-8s %s" % (e.name, e.role, e.kid.hex(), private, cert))
