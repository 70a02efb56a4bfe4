"""Fit a tag over its USB serial console (protocol/console.cddl): provision it, configure
it, load its zones, test it and arm it; later read its status and logs, and decommission it.

Every command but `info` is signed with a key from the key store (emtag keys): the
monitoring centre's key, or a fitting engineer's key with the certificate the centre's key
signed. The tag checks the signature, that the command is for this tag, and that its counter
is fresh; its answer comes back signed by the tag's own key and is checked here.

A fitting session:

  emtag fit --port /dev/ttyACM0 info
  emtag fit --port /dev/ttyACM0 provision            # records the tag in the key store
  emtag fit --port /dev/ttyACM0 config set fix_interval_s=60 tz=GMT0BST,M3.5.0/1,M10.5.0
  emtag fit --port /dev/ttyACM0 zones push zones.geojson
  emtag fit --port /dev/ttyACM0 time sync
  emtag fit --port /dev/ttyACM0 selftest --wait 120  # until GNSS has a fix
  emtag fit --port /dev/ttyACM0 arm                  # strap closed: tamper armed

Options go before or after the command (`emtag fit info --port X` works too). --port
takes a device or pty path (/dev/ttyACM0, COM5), tcp:PORT or tcp:HOST:PORT (for
`emtag sim --serve --port tcp:7000`), socket://HOST:PORT or any pyserial URL.
"""

import argparse
import json
import os
import sys
import time

from emtag.cli import fit_show as show
from emtag.cli import options
from emtag.host import ports
from emtag.host.errors import CommandError

HELP = "fit a tag over USB serial: provision, configure, zones, selftest, arm, ..."


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' layout
    shared = options.Shared(p)  # before or after the command: fit --port X info, fit info --port X
    options.add_port(shared, "the tag's serial port")
    shared.add("--key", default=os.environ.get("EMTAG_KEY"), help="signing key name ($EMTAG_KEY)")
    options.add_keys(shared)
    shared.add("--baud", type=int, default=115200, help="serial speed (115200)")
    shared.add("--timeout", type=float, default=10.0, help="seconds to wait for a reply (10)")
    options.add_json(shared, "the tag's answer")
    common = [shared.parent]
    sub = p.add_subparsers(dest="fit_command", metavar="COMMAND", required=True)

    def command(parent, name, help_text):
        return parent.add_parser(name, help=help_text, parents=common)

    command(sub, "info", "public identity, firmware and status (no key needed)")
    pr = command(sub, "provision", "install the trust anchor; record the tag's key")
    pr.add_argument("--anchor", metavar="NAME", help="centre key to trust (default: your key's)")
    cfg = command(sub, "config", "read or change settings").add_subparsers(
        dest="config_command", metavar="ACTION", required=True
    )
    command(cfg, "get", "print the settings")
    cs = command(cfg, "set", "change settings, all or none")
    cs.add_argument("settings", nargs="+", metavar="NAME=VALUE")
    zn = command(sub, "zones", "push zones").add_subparsers(
        dest="zones_command", metavar="ACTION", required=True
    )
    zp = command(zn, "push", "compile a zones GeoJSON file and send it, signed")
    zp.add_argument("file", help="zones GeoJSON (or a compiled .cbor table)")
    from emtag.cli.zones import add_area_arguments

    add_area_arguments(zp)
    tm = command(sub, "time", "set the tag's clock").add_subparsers(
        dest="time_command", metavar="ACTION", required=True
    )
    command(tm, "sync", "set the tag's clock from this computer's (UTC)")
    st = command(sub, "selftest", "GNSS fix and C/N0, strap, battery, flash, signer")
    st.add_argument("--wait", type=float, default=0, help="repeat up to this many s until ok")
    command(sub, "arm", "strap closed and tag fitted: arm tamper detection")
    command(sub, "status", "signed status: armed, records, zones, GNSS, strap, battery")
    lg = command(sub, "logs", "the tag's most recent events")
    lg.add_argument("-n", type=int, default=32, help="how many (at most 32)")
    dc = command(sub, "decommission", "final upload, then keys and data wiped")
    dc.add_argument("--wait", type=float, default=60, help="seconds to wait for the upload")
    dc.add_argument("--force", action="store_true", help="wipe with records not uploaded")
    dm = command(sub, "devmode", "centre key only: REPL reachable (on) or not (off)")
    dm.add_argument("state", choices=("on", "off"))


def _jsonable(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


class Session:
    def __init__(self, args):
        from emtag.host import fitting, keys

        if not args.port:
            raise CommandError("give --port or set $EMTAG_PORT (%s)" % ports.SPELLINGS)
        self.args = args
        self.store = keys.KeyStore(args.keys)
        try:
            self.con = fitting.Connection(args.port, args.baud, args.timeout)
        except fitting.ConsoleError as e:
            raise CommandError(str(e)) from None
        self._key = None

    def key(self):
        """(entry, signer, cert) of the signing key."""
        from emtag.host import keys

        if self._key is None:
            try:
                if self.args.key:
                    e = self.store.get(self.args.key)
                else:
                    mine = self.store.find(private=True)
                    fitters = [x for x in mine if x.role == "fitter" and x.cert]
                    pick = fitters if len(fitters) == 1 else mine
                    if len(pick) != 1:
                        raise CommandError(
                            "choose a signing key with --key (or $EMTAG_KEY); %s"
                            % (
                                "store has: " + ", ".join(x.name for x in mine)
                                if mine
                                else "no keys in %s (emtag keys new)" % self.store.path
                            )
                        )
                    e = pick[0]
                self._key = (e, e.signer(), e.cert)
            except keys.KeysError as err:
                raise CommandError(str(err)) from None
        return self._key

    def known_tag(self, info):
        """Hold the tag to the key recorded at provisioning, if it is in the register."""
        rec = self.store.tag(info["device"])
        if rec is not None:
            self.con.tag_key = bytes.fromhex(rec["pubkey"])
            if rec.get("decommissioned"):
                print(
                    "note: this tag was decommissioned on %s" % rec["decommissioned"],
                    file=sys.stderr,
                )
        return rec

    def info(self):
        from emtag.host import fitting

        try:
            info = self.con.info()
        except (fitting.ConsoleError, fitting.TagError) as e:
            raise CommandError(str(e)) from None
        self.known_tag(info)
        return info

    def call(self, name, args):
        from emtag.host import fitting

        _, signer, cert = self.key()
        info = self.info()
        rec = self.store.tag(info["device"])
        if rec is None and name != "provision":
            print(
                "note: tag %s is not in this key store's register (provisioned elsewhere?); "
                "its answers are checked against the key it reports" % info["device"].hex(),
                file=sys.stderr,
            )
        try:
            return self.con.call(name, args, signer, cert)
        except fitting.TagError as e:
            raise CommandError("the tag refused %s: %s: %s" % (name, e.code, e.text)) from None
        except fitting.ConsoleError as e:
            raise CommandError(str(e)) from None

    def anchor_name(self, info):
        """The name of the tag's trust anchor in this key store, if it holds it."""
        e = self.store.by_kid(info["anchor"]) if info.get("anchor") else None
        return e.name if e else None

    def close(self):
        self.con.close()


def run(args):
    s = Session(args)
    try:
        return _dispatch(s, args)
    finally:
        s.close()


def _out(args, result, text_lines):
    if args.json:
        print(json.dumps(_jsonable(result), indent=1, sort_keys=True))
    else:
        for line in text_lines:
            print(line)


def _dispatch(s, args):
    c = args.fit_command
    if c == "info":
        info = s.info()
        _out(args, info, show.info_lines(info, s.store.tag(info["device"]), s.anchor_name(info)))
    elif c == "provision":
        return _provision(s, args)
    elif c == "config":
        if args.config_command == "get":
            r = s.call("config_get", {})
        else:
            r = s.call("config_set", {"set": _settings(args.settings)})
        _out(args, r, show.config_lines(r["config"]))
    elif c == "zones":
        return _zones_push(s, args)
    elif c == "time":
        now = int(time.time() * 1000)
        r = s.call("time_sync", {"utc_ms": now})
        _out(args, r, show.time_lines(now, r.get("error_ms")))
    elif c == "selftest":
        return _selftest(s, args)
    elif c == "arm":
        r = s.call("arm", {})
        _out(args, r, ["armed: strap closed, tamper detection on"])
    elif c == "status":
        r = s.call("status", {})
        _out(args, r, show.status_reply_lines(r))
    elif c == "logs":
        r = s.call("logs", {"n": max(0, min(args.n, 32))})
        _out(args, r, show.log_lines(r["events"]))
    elif c == "decommission":
        return _decommission(s, args)
    elif c == "devmode":
        r = s.call("devmode", {"on": args.state == "on"})
        _out(
            args,
            r,
            [
                "development mode %s: the REPL is %s"
                % ("on" if r["dev"] else "off", "reachable" if r["dev"] else "locked out")
            ],
        )
    return 0


def _settings(items):
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError("settings are NAME=VALUE, not %r" % item)
        try:
            out[name] = int(value)
        except ValueError:
            out[name] = value
    return out


def _provision(s, args):
    from emtag.host import keys

    entry, signer, cert = s.key()
    try:
        if args.anchor:
            anchor = s.store.get(args.anchor, role="centre")
        elif cert is not None:
            issuer = keys.read_cert(cert)["issuer"]
            anchor = s.store.by_kid(issuer) if issuer else None
            if anchor is None:
                raise CommandError(
                    "the centre key that certified %s is not in the key store: "
                    "emtag keys import it, or give --anchor" % entry.name
                )
        else:
            anchor = entry
    except keys.KeysError as e:
        raise CommandError(str(e)) from None
    info = s.info()
    if info["provisioned"]:
        raise CommandError(
            "tag %s is provisioned already (anchor %s); decommission it first"
            % (info["device"].hex(), info["anchor"].hex())
        )
    r = s.call("provision", {"anchor": anchor.public})
    if r["device"] != info["device"] or r["pubkey"] != info["pubkey"]:
        raise CommandError("the tag's provisioning receipt names another key")
    path = s.store.record_tag(
        info["device"],
        info["pubkey"],
        serial=info["serial"],
        firmware=info["firmware"],
        board=info["board"],
        anchor=anchor.kid.hex(),
        provisioned_by=entry.name,
    )
    _out(
        args,
        dict(r, record=str(path)),
        [
            "provisioned tag %s (serial %s)" % (info["device"].hex(), info["serial"]),
            "trust anchor: %s (kid %s)" % (anchor.name, anchor.kid.hex()),
            "its public key is recorded in %s" % path,
        ],
    )
    return 0


def _zones_push(s, args):
    table = _zone_table(args.file, args)
    _, signer, cert = s.key()
    s.info()
    from emtag.host import fitting

    def progress(done, total):
        if not args.json and total > fitting.ZONE_CHUNK:
            print("  sent %d/%d bytes" % (done, total))

    try:
        r = s.con.push_zones(table, signer, cert, progress=progress)
    except fitting.TagError as e:
        raise CommandError("the tag refused the zones: %s: %s" % (e.code, e.text)) from None
    except fitting.ConsoleError as e:
        raise CommandError(str(e)) from None
    _out(
        args,
        r,
        [
            "installed %d zone%s (%d bytes, sha256 %s)"
            % (r["zones"], "" if r["zones"] == 1 else "s", len(table), r["sha256"].hex())
        ],
    )
    return 0


def _zone_table(path, args):
    if path.endswith(".cbor"):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise CommandError("cannot read %s: %s" % (path, e.strerror)) from None
    from emtag.host import zonefile

    try:
        zoneset = zonefile.load(
            path, area=args.area, max_spread_km=args.max_spread_km,
            allow_outside=args.allow_outside,
        )
        for w in getattr(zoneset, "warnings", ()):
            print("warning: %s" % w, file=sys.stderr)
        return zonefile.compile_table(zoneset)
    except zonefile.ZoneFileError as e:
        raise CommandError(str(e)) from None


def _selftest(s, args):
    deadline = time.monotonic() + args.wait
    while True:
        r = s.call("selftest", {})
        if r.get("ok") or time.monotonic() >= deadline:
            break
        if not args.json:
            failing = [k for k, v in sorted(r.items()) if isinstance(v, dict) and not v["ok"]]
            print("waiting: %s not ok yet" % ", ".join(failing))
        time.sleep(2)
    _out(args, r, show.selftest_lines(r))
    return 0 if r.get("ok") else 1


def _decommission(s, args):
    deadline = time.monotonic() + args.wait
    info = s.info()
    while True:
        r = s.call("decommission", {"force": True} if args.force else {})
        if r["wiped"] or time.monotonic() >= deadline:
            break
        if not args.json:
            print("uploading: %d record%s to go" % (r["pending"], "" if r["pending"] == 1 else "s"))
        time.sleep(2)
    if not r["wiped"]:
        raise CommandError(
            "%d records are still not uploaded: check the tag's uplink and try again, or "
            "--force with the centre's key (they are lost)" % r["pending"]
        )
    rec = s.store.tag(info["device"])
    if rec is not None:
        rec["decommissioned"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        s.store.record_tag(
            info["device"],
            info["pubkey"],
            **{k: v for k, v in rec.items() if k not in ("device", "pubkey", "recorded")},
        )
    _out(
        args,
        r,
        [
            "decommissioned tag %s: keys and data wiped%s"
            % (
                info["device"].hex(),
                " (%d records were not uploaded)" % r["pending"] if r["pending"] else "",
            ),
            "it restarts as from the factory, with a new key",
        ],
    )
    return 0
