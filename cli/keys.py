"""Manage the P-256 keys that authorise commands to tags (host/keys.py): the monitoring
centre's key (the trust anchor a tag stores at provisioning) and fitting engineers' keys
(trusted through a certificate the centre's key signs). Private keys are PEM files of mode
600 in the key store (--keys, $EMTAG_KEYS, else ~/.config/emtag/keys).

  emtag keys new centre --role centre
  emtag keys new alice --role fitter --centre centre        # key + certificate at once
  emtag keys list
  emtag keys import centre centre.pub.pem                  # on a fitter's laptop
  emtag keys certify alice.pub.pem --centre centre --out alice.cert   # at the centre
  emtag keys add-cert alice alice.cert                     # back on the fitter's laptop
"""

import argparse
import sys

from emtag.host.errors import CommandError

HELP = "manage fitting and monitoring-centre keys (new, list, import, certify)"


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' layout
    p.add_argument("--keys", metavar="DIR", help="key store (default $EMTAG_KEYS or ~/.config/...)")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    n = sub.add_parser("new", help="make a key pair (private half mode 600)")
    n.add_argument("name")
    n.add_argument("--role", choices=("centre", "fitter"), required=True)
    n.add_argument("--centre", metavar="NAME", help="fitter: the centre key that certifies it")
    _cert_options(n)
    sub.add_parser("list", help="list the keys and their roles, key ids and certificates")
    i = sub.add_parser("import", help="add a public key (the centre's; a fitter's with --cert)")
    i.add_argument("name")
    i.add_argument("public", help="PEM, DER or 65-byte SEC1 public key file")
    i.add_argument("--cert", help="its delegation certificate (a fitter key held elsewhere)")
    c = sub.add_parser("certify", help="sign a delegation certificate for a fitter's public key")
    c.add_argument("public", help="the fitter's public key file, or a key name in the store")
    c.add_argument("--centre", metavar="NAME", required=True)
    c.add_argument("--out", required=True, help="certificate file to write")
    _cert_options(c)
    a = sub.add_parser("add-cert", help="install the certificate issued for one of our keys")
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


def run(args):
    from emtag.host import keys

    store = keys.KeyStore(args.keys)
    try:
        if args.keys_command == "new":
            device, allowed = _scope(args)
            e = store.new(args.name, args.role, args.centre, device, allowed)
            print("made %s key %s (kid %s) in %s" % (e.role, e.name, e.kid.hex(), store.path))
            if e.cert:
                print("certified by %s for: %s" % (args.centre, ", ".join(allowed)))
        elif args.keys_command == "list":
            _list(store)
        elif args.keys_command == "import":
            cert = _read(args.cert) if args.cert else None
            e = store.import_key(args.name, _read(args.public), cert)
            print("imported %s key %s (kid %s)" % (e.role, e.name, e.kid.hex()))
        elif args.keys_command == "certify":
            device, allowed = _scope(args)
            try:
                pub = store.get(args.public).public
            except keys.KeysError:
                pub = keys.sec1(_load_pub(_read(args.public)))
            cert = store.certify(args.centre, pub, device, allowed)
            with open(args.out, "wb") as f:
                f.write(cert)
            print("wrote %s: key %s may run %s" % (args.out, keys.kid_of(pub).hex(), allowed))
        elif args.keys_command == "add-cert":
            e = store.add_cert(args.name, _read(args.cert))
            print("installed the certificate for %s" % e.name)
    except keys.KeysError as e:
        raise CommandError(str(e)) from None
    return 0


def _load_pub(data):
    from emtag.host import cose as host_cose

    try:
        return host_cose.load_public_key(data)
    except ValueError as e:
        raise CommandError("not a public key: %s" % e) from None


def _list(store):
    from emtag.host import keys

    entries = store.list()
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
        private = "yes" if e.private_path else "no"
        if e.loose_permissions():
            private = "UNSAFE"
            print(
                "warning: %s is readable by others: chmod 600 it" % e.private_path, file=sys.stderr
            )
        print("%-16s %-7s %-16s %-8s %s" % (e.name, e.role, e.kid.hex(), private, cert))
