"""Trail analytics for one tag over a period: stay points, frequent places (labelled by the
zone table's roles: approved address, appointment sites; else inferred home and work),
curfew nights with minutes in breach, time away from home per night, zone approaches and
breaches, data gaps with their reasons, and an H3 heatmap (--json) of the period.

  emtag trail --store DB --device ID --from 2026-03-09 --to 2026-03-16 \\
      --zones zones.geojson [--json]"""

from emtag.cli.storeargs import add_store_argument, device_of, open_reading, parse_instant
from emtag.host.errors import CommandError

HELP = "stay points, frequent places, curfew minutes, gaps and heatmaps of a tag's trail"
MAX_SPAN_S = 400 * 86400


def add_arguments(p):
    add_store_argument(p)
    p.add_argument("--device", required=True, metavar="ID", help="device id or unique prefix")
    p.add_argument("--from", dest="t_from", required=True, metavar="T", help="start (ISO/Unix)")
    p.add_argument("--to", dest="t_to", required=True, metavar="T", help="end, exclusive")
    add_zones_argument(p)
    p.add_argument("--json", action="store_true", help="everything as one JSON object")


def add_zones_argument(p):
    p.add_argument(
        "--zones", metavar="ZONES.geojson",
        help="the tag's zones (GeoJSON as for emtag zones compile): curfew nights and roles",
    )  # fmt: skip


def load_zones(path):
    if not path:
        return []
    from emtag.host import zonefile

    try:
        return list(zonefile.load(path))
    except zonefile.ZoneFileError as e:
        raise CommandError(str(e)) from None


def run(args):
    from emtag.centre import analytics
    from emtag.centre.summary import to_json, to_text

    t_from = parse_instant(args.t_from, "--from")
    t_to = parse_instant(args.t_to, "--to")
    if t_to <= t_from:
        raise CommandError("--to must be after --from")
    if t_to - t_from > MAX_SPAN_S:
        raise CommandError("at most 400 days at once")
    zones = load_zones(args.zones)
    store = open_reading(args.store)
    try:
        device = device_of(store, args.device)
        ov = analytics.overview(store, device, t_from, t_to, zones)
    finally:
        store.close()
    if args.json:
        import json

        print(json.dumps(to_json(ov), indent=1))
    else:
        print(to_text(ov))
    return 0
