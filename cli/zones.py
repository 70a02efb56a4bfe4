"""Zone files for the tag. `emtag zones compile ZONES.geojson -o zones.cbor` checks a
GeoJSON (RFC 7946) FeatureCollection of exclusion and inclusion zones (circles, polygons
and multipolygons with holes; weekly schedules in local time; POSIX TZ rules) and writes
the compact zone table the tag loads (protocol/zones.cddl). Errors name the zone; rings
wound against RFC 7946 are rewound with a warning (an error with --strict).
`emtag zones show zones.cbor` prints what a compiled table holds, as the tag reads it."""

import json
import sys

from emtag.host.errors import CommandError

HELP = "check and compile GeoJSON zones into the tag's zone table"

DAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def add_arguments(p):
    sub = p.add_subparsers(dest="zones_command", metavar="ACTION", required=True)
    c = sub.add_parser("compile", help="check GeoJSON zones and write the zone table (CBOR)")
    c.add_argument("geojson", help="zones file (GeoJSON FeatureCollection)")
    c.add_argument("-o", "--output", required=True, metavar="ZONES.cbor", help="table to write")
    c.add_argument("--strict", action="store_true", help="wrong ring winding is an error")
    add_area_arguments(c)
    c.set_defaults(_action=_compile)
    s = sub.add_parser("show", help="print the zones in a compiled table")
    s.add_argument("table", help="zone table (CBOR), e.g. zones.cbor")
    s.add_argument("--json", action="store_true", help="print it as JSON (raw units)")
    s.set_defaults(_action=_show)


def add_area_arguments(p):
    """Where the deployment's zones may be (docs/zones.md, host/zonearea.py)."""
    from emtag.host import zonearea

    p.add_argument(
        "--area", metavar="BOX|COUNTRY",
        help="deployment area: MIN_LAT,MIN_LON,MAX_LAT,MAX_LON in degrees or a country code "
        "(%s); default $EMTAG_AREA, else the file's \"area\", else the region of its other "
        "zones" % ", ".join(sorted(zonearea.COUNTRIES)),
    )
    p.add_argument(
        "--max-spread-km", type=float, default=zonearea.MAX_SPREAD_KM, metavar="KM",
        help="without an area: refuse a zone this far from the others (default %(default)s)",
    )
    p.add_argument(
        "--allow-outside", action="store_true",
        help="compile a zone outside the area anyway (with a warning)",
    )


def run(args):
    return args._action(args)


def _compile(args):
    from emtag.host import zonefile

    try:
        zs = zonefile.load(
            args.geojson, args.strict, args.area, args.max_spread_km, args.allow_outside
        )
        data = zonefile.compile_table(zs)
    except zonefile.ZoneFileError as e:
        raise CommandError(str(e)) from None
    for w in zs.warnings:
        print("warning: %s" % w, file=sys.stderr)
    try:
        with open(args.output, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.output, e.strerror)) from None
    vertices = sum(z.vertices for z in zs)
    print(
        "%s: %d zone%s, %d vertices, %d bytes -> %s"
        % (args.geojson, len(zs), "" if len(zs) == 1 else "s", vertices, len(data), args.output)
    )
    for z in zs:
        print("  " + _describe(z.id, z.kind, z.curfew, z.shape[0], z.vertices, z.windows, z.tz))
    return 0


def _show(args):
    from emtag.firmware import zonetable

    try:
        with open(args.table, "rb") as f:
            zones, settings = zonetable.load_table(f)
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (args.table, e.strerror)) from None
    except ValueError as e:
        raise CommandError("%s: not a zone table the tag accepts: %s" % (args.table, e)) from None
    changed = {k: v for k, v in settings.items() if v != zonetable.SETTINGS[k][0]}
    rows = [_zone_json(z) for z in zones]
    if args.json:
        print(json.dumps({"table": args.table, "settings": settings, "zones": rows}, indent=1))
        return 0
    print(
        "%s: %d zone%s; engine settings: %s"
        % (
            args.table,
            len(zones),
            "" if len(zones) == 1 else "s",
            ", ".join(_setting(k, v) for k, v in sorted(changed.items())) or "the defaults",
        )
    )
    for z, row in zip(zones, rows, strict=True):
        windows = [row["windows"][i : i + 2] for i in range(0, len(row["windows"]), 2)]
        print("  " + _describe(z.id, row["kind"], row["curfew"], row["shape"],
                               row.get("vertices", 0), windows, row["tz"]))
        print("    " + _geometry(row))
    return 0


def _zone_json(z):
    """A loaded zone (firmware/zones.py) as raw figures: 1e-7 degrees, decimetres."""
    from emtag.firmware import zones as fw

    kind = "exclusion" if z.kind == fw.EXCLUSION else "inclusion"
    windows = list(z.windows or ())
    row = {
        "id": z.id,
        "kind": kind,
        "curfew": bool(windows) and kind == "inclusion",
        "windows": windows,
        "tz": z.rule.text if z.rule else None,
        "approach_dm": z.approach_dm,
    }
    if z.shape == fw.CIRCLE:
        row.update(shape="circle", lat=z.lat0, lon=z.lon0, radius_dm=z.radius_dm)
    else:
        row.update(shape="polygons", vertices=len(z.xs),
                   box=[z.lat_lo, z.lon_lo, z.lat_hi, z.lon_hi])
    return row


def _geometry(row):
    from emtag.host import human

    approach = (
        "approach alert %s outside" % human.metres(row["approach_dm"] * 10)
        if row["approach_dm"] else "no approach alert"
    )
    if row["shape"] == "circle":
        return "centre %s, radius %s; %s" % (
            human.position(row["lat"], row["lon"]), human.metres(row["radius_dm"] * 10), approach)
    lat_lo, lon_lo, lat_hi, lon_hi = row["box"]
    return "within %s to %s; %s" % (
        human.position(lat_lo, lon_lo), human.position(lat_hi, lon_hi), approach)


def _setting(name, value):
    from emtag.host import human

    if name.endswith("_m"):
        return "%s %d m" % (name[:-2], value)
    if name.endswith("_x100"):
        return "%s %.2f" % (name[:-5], value / 100.0)
    label, text = human.named_value(name, value)
    return "%s %s" % (label, text)


def _describe(zid, kind, curfew, shape, vertices, windows, tz):
    what = "curfew" if curfew else kind
    geom = "circle" if shape == "circle" else "%d-vertex polygons" % vertices
    text = "%s: %s, %s" % (zid, what, geom)
    if windows:
        text += ", in force %s (%s)" % ("; ".join(_window(s, n) for s, n in windows), tz)
    return text


def _window(start, minutes):
    end = (start + minutes) % 10080
    return "%s %02d:%02d-%s %02d:%02d" % (
        DAY[start // 1440],
        start % 1440 // 60,
        start % 60,
        DAY[end // 1440],
        end % 1440 // 60,
        end % 60,
    )
