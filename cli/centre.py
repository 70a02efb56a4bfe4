"""The monitoring centre's web app and its administration.

  emtag centre serve --store DB [--mqtt mqtt://HOST:PORT] [--listen 127.0.0.1:8080]
                     [--config centre.toml] [--escalate-after 15m] [--proximity-m 500]
  emtag centre user add NAME --role officer|admin --store DB   # asks for the password
  emtag centre user list | passwd NAME | disable NAME | enable NAME
  emtag centre assign USER DEVICE [--remove] --store DB        # an officer's tags
  emtag centre victim add NAME --device ID [--distance-m M]    # prints the phone's token
  emtag centre victim list | token NAME                        # token: a new one
  emtag centre audit --store DB [--user U] [--device D] [-n N]

serve: the alert queue (live: new alerts appear without a reload; acknowledge, note,
escalate; an unacknowledged breach escalates after --escalate-after), each tag's page
(status, last position, battery, open breaches, trail and heatmap for any window, weekly
overview), the audit log, and the victims' phones' endpoint (POST /api/victim/positions).
It reads the bridge's store, at once when the bridge's MQTT forwarding (--mqtt) announces
a record, else every --poll seconds. With --mqtt every escalation is also published once
on emtag/centre/escalation/DEVICE (QoS 1, JSON) for a pager or e-mail gateway. Users,
assignments, audit, acknowledgements, escalations and victims live in the store.
Settings: defaults, then --config (TOML, see centre/config.py), then these options."""

import datetime
import getpass
import secrets
import signal
import sys

from emtag.cli.storeargs import add_store_argument, device_of, open_reading
from emtag.host.errors import CommandError

HELP = "the monitoring centre's web app (alert queue, tag pages, audit) and its users"


def add_arguments(p):
    sub = p.add_subparsers(dest="centre_command", metavar="COMMAND", required=True)
    s = sub.add_parser("serve", help="run the web app")
    add_store_argument(s)
    s.add_argument("--config", metavar="FILE", help="settings (TOML: [centre], [victim])")
    s.add_argument("--listen", metavar="HOST:PORT", help="address (default 127.0.0.1:8080)")
    s.add_argument(
        "--mqtt",
        metavar="mqtt://HOST:PORT",
        help="the bridge's MQTT forwarding (live alerts); escalations are published there",
    )
    s.add_argument("--poll", type=float, metavar="S", help="read the store every S seconds")
    s.add_argument("--escalate-after", metavar="PERIOD",
                   help="escalate an unacknowledged breach after this (e.g. 15m, 900s)")
    s.add_argument("--proximity-m", type=float, metavar="M",
                   help="victim proximity distance (default 500; a victim may have their own)")
    s.add_argument("--tiles", metavar="URL", help="basemap tile URL ({z}/{x}/{y}); none: blank")
    s.add_argument("--zones", metavar="FILE", help="zone file naming places in weekly overviews")

    u = sub.add_parser("user", help="users: add, list, passwd, disable, enable")
    usub = u.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    a = usub.add_parser("add", help="a new user (asks for the password)")
    a.add_argument("name")
    a.add_argument("--role", choices=("officer", "admin"), required=True)
    for name in ("passwd", "disable", "enable"):
        x = usub.add_parser(name, help={"passwd": "set a new password",
                                        "disable": "refuse their sign-in",
                                        "enable": "allow it again"}[name])  # fmt: skip
        x.add_argument("name")
    lst = usub.add_parser("list", help="every user, role and tags")
    for x in (a, usub.choices["passwd"]):
        x.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    for x in (a, lst, *(usub.choices[n] for n in ("passwd", "disable", "enable"))):
        add_store_argument(x)

    g = sub.add_parser("assign", help="give an officer a tag (--remove: take it away)")
    g.add_argument("user")
    g.add_argument("device", help="device id or a unique prefix")
    g.add_argument("--remove", action="store_true")
    add_store_argument(g)

    v = sub.add_parser("victim", help="victims' phones: add, list, token")
    vsub = v.add_subparsers(dest="victim_command", metavar="ACTION", required=True)
    va = vsub.add_parser("add", help="register a victim's phone; prints its token")
    va.add_argument("name", help="a reference for the victim (not their name in clear)")
    va.add_argument("--device", action="append", required=True,
                    help="the wearer they are protected from (repeat for several)")
    va.add_argument("--distance-m", type=float, help="their proximity distance")
    vt = vsub.add_parser("token", help="a new token for a phone (the old one stops working)")
    vt.add_argument("name")
    vl = vsub.add_parser("list", help="victims and their wearers (no positions)")
    for x in (va, vt, vl):
        add_store_argument(x)

    au = sub.add_parser("audit", help="who looked at which tag, who acknowledged what")
    add_store_argument(au)
    au.add_argument("--user")
    au.add_argument("--device")
    au.add_argument("-n", type=int, default=50, help="rows, newest first (default 50)")


def _now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _period(text):
    from emtag.cli.store import UNITS

    units = {**UNITS, "m": 60, "s": 1}
    t = (text or "").strip().lower()
    if len(t) >= 2 and t[-1] in units and t[:-1].isdigit():
        return int(t[:-1]) * units[t[-1]]
    raise CommandError("--escalate-after %r: give N and s, m, h or d (e.g. 15m)" % text)


def run(args):
    cmd = args.centre_command
    if cmd == "serve":
        return _serve(args)
    store = open_reading(args.store)
    try:
        if cmd == "user":
            return _user(store, args)
        if cmd == "assign":
            return _assign(store, args)
        if cmd == "victim":
            return _victim(store, args)
        return _audit(store, args)
    finally:
        store.close()


def _password(args):
    from emtag.centre.web import auth

    if getattr(args, "password_stdin", False):
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = getpass.getpass("password for %s: " % args.name)
        if getpass.getpass("again: ") != pw:
            raise CommandError("the two passwords differ")
    try:
        return auth.hash_password(pw)
    except auth.PasswordError as e:
        raise CommandError(str(e)) from None


def _user(store, args):
    act = args.user_command
    if act == "list":
        tags: dict = {}
        for u, d in store.assignments():
            tags.setdefault(u, []).append(d)
        for u in store.users():
            print("%-20s %-8s %s%s" % (u.name, u.role, " ".join(tags.get(u.name, [])) or "-",
                                       "  (disabled)" if u.disabled else ""))  # fmt: skip
        return 0
    name = args.name.strip()
    if not name or len(name) > 64 or not name.isprintable() or " " in name:
        raise CommandError("user name %r: 1-64 printable characters, no spaces" % args.name)
    if act == "add":
        if not store.add_user(name, args.role, _password(args), _now()):
            raise CommandError("user %s exists already" % name)
        store.audit(_now(), "cli", "user_add", None, "%s (%s)" % (name, args.role))
        print("added %s (%s)" % (name, args.role))
        return 0
    if store.user(name) is None:
        raise CommandError("no user %s in %s" % (name, store.target))
    if act == "passwd":
        store.set_user(name, password_hash=_password(args))
    else:
        store.set_user(name, disabled=(act == "disable"))
    store.audit(_now(), "cli", "user_" + act, None, name)
    print("%s: %s" % (name, {"passwd": "password changed", "disable": "disabled",
                              "enable": "enabled"}[act]))  # fmt: skip
    return 0


def _assign(store, args):
    user = store.user(args.user)
    if user is None:
        raise CommandError("no user %s in %s" % (args.user, store.target))
    device = device_of(store, args.device)
    if args.remove:
        done = store.unassign(user.name, device)
        what = "took %s from %s" % (device, user.name) if done else "%s did not have %s" % (
            user.name, device)  # fmt: skip
    else:
        done = store.assign(user.name, device, _now())
        what = "gave %s to %s" % (device, user.name) if done else "%s already has %s" % (
            user.name, device)  # fmt: skip
    if done:
        store.audit(_now(), "cli", "unassign" if args.remove else "assign", device, user.name)
    print(what)
    return 0


def _victim(store, args):
    from emtag.centre.web.victimapi import token_hash

    act = args.victim_command
    if act == "list":
        for v in store.victims():
            dist = "%g m" % v.distance_m if v.distance_m else "default distance"
            print("%-20s %-16s %s" % (v.name, dist, " ".join(v.devices)))
        return 0
    token = secrets.token_urlsafe(32)
    if act == "add":
        if args.distance_m is not None and not 10 <= args.distance_m <= 100_000:
            raise CommandError("--distance-m: between 10 and 100000")
        devices = [device_of(store, d) for d in args.device]
        if not store.add_victim(args.name, token_hash(token), args.distance_m, devices, _now()):
            raise CommandError("victim %s exists already" % args.name)
        store.audit(_now(), "cli", "victim_add", None, "%s: %s" % (args.name, " ".join(devices)))
    elif not store.set_victim_token(args.name, token_hash(token)):
        raise CommandError("no victim %s in %s" % (args.name, store.target))
    else:
        store.audit(_now(), "cli", "victim_token", None, args.name)
    print("token for %s's phone (shown once; the store keeps only its hash):" % args.name)
    print(token)
    return 0


def _audit(store, args):
    device = device_of(store, args.device) if args.device else None
    for e in store.audit_log(user=args.user, device=device, limit=max(1, min(args.n, 100000))):
        print("%6d %s %-12s %-14s %-16s %s %s" % (e.id, e.at, e.user, e.action, e.device or "-",
                                                  e.detail, e.client or ""))  # fmt: skip
    return 0


def _serve(args):
    from emtag.centre import config
    from emtag.centre.web.server import App
    from emtag.host.store import StoreError

    tiles = args.tiles
    if tiles is not None and tiles.strip().lower() == "none":
        tiles = ""
    try:
        settings = config.load(
            args.config, listen=args.listen, mqtt=args.mqtt, poll_s=args.poll,
            escalate_after_s=_period(args.escalate_after) if args.escalate_after else None,
            distance_m=args.proximity_m, tiles=tiles, zones=args.zones,
        )  # fmt: skip
    except config.ConfigError as e:
        raise CommandError(str(e)) from None
    _check_listen(settings.listen)
    if settings.mqtt:
        from emtag.host import forward

        try:
            forward.parse_url(settings.mqtt)
        except ValueError as e:
            raise CommandError(str(e)) from None
    try:
        app = App(args.store, settings)
    except StoreError as e:
        raise CommandError(str(e)) from None
    except (OSError, ValueError) as e:  # the zone file
        raise CommandError("--zones: %s" % e) from None
    with app.pool.get() as st:
        if not st.users():
            app.close()
            raise CommandError("no users yet: emtag centre user add NAME --role admin --store "
                               + args.store)  # fmt: skip
    try:
        srv = app.serve()
    except OSError as e:
        app.close()
        raise CommandError("cannot listen on %s: %s" % (settings.listen, e.strerror or e)) from None
    from emtag.host.store import describe

    feed = "MQTT " + settings.mqtt if settings.mqtt else "polling every %g s" % settings.poll_s
    print("emtag centre: serving on %s (store %s, %s)" % (app.url, describe(args.store), feed),
          flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *a: _shutdown(srv))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


def _shutdown(srv):
    import threading

    threading.Thread(target=srv.shutdown, daemon=True).start()


def _check_listen(listen):
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise CommandError("--listen %r: give HOST:PORT, e.g. 127.0.0.1:8080" % listen)
