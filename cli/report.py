"""Reports for the people the tags exist for.

  emtag report weekly --store DB --device ID --week 2026-W48 -o report.html \\
      [--zones zones.geojson] [--tiles URL|none] [--pdf report.pdf]

The weekly overview for a probation officer: one self-contained HTML page (no network
needed to open it) with the week's trail and accuracy circles, a heatmap, frequent places,
a day-by-day timeline, curfew compliance per night, alerts with their own symbols, and data
gaps. The street basemap comes from --tiles (default OpenStreetMap's public tile server,
named on the page); offline the maps are blank and say so. --pdf prints the same page with
headless Chromium (the system's, through Playwright). A week without data gives a page that
says so. Nothing is written when the store, device or week is wrong."""

import os

from emtag.cli.storeargs import add_store_argument, device_of, open_reading
from emtag.cli.trail import add_zones_argument, load_zones
from emtag.host.errors import CommandError

HELP = "reports: the weekly overview of a tag for a probation officer (HTML, PDF)"


def add_arguments(p):
    sub = p.add_subparsers(dest="report", metavar="REPORT", required=True)
    w = sub.add_parser("weekly", help="one ISO week of one tag", description=__doc__)
    add_store_argument(w)
    w.add_argument("--device", required=True, metavar="ID", help="device id or unique prefix")
    w.add_argument("--week", required=True, metavar="YYYY-Www", help="ISO week, e.g. 2026-W48")
    w.add_argument("-o", "--output", required=True, metavar="HTML", help="page to write")
    add_zones_argument(w)
    w.add_argument(
        "--tiles", metavar="URL",
        help="basemap tile URL with {z}/{x}/{y} (default OpenStreetMap's public server; "
        "'none' for no basemap)",
    )  # fmt: skip
    w.add_argument("--pdf", metavar="PDF", help="also print the page to this PDF (Chromium)")


def run(args):
    from emtag.centre import localtime, report
    from emtag.centre.report_page import OSM_TILES

    try:
        localtime.iso_week(args.week)
    except ValueError as e:
        raise CommandError(str(e)) from None
    tiles = OSM_TILES if args.tiles is None else args.tiles.strip()
    if tiles.lower() == "none":
        tiles = ""
    elif not (tiles.startswith(("http://", "https://")) and "{z}" in tiles and "{x}" in tiles
              and "{y}" in tiles):  # fmt: skip
        raise CommandError("--tiles %r: an http(s) URL with {z}, {x} and {y}, or none" % tiles)
    for path in filter(None, (args.output, args.pdf)):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise CommandError("cannot write %s: no directory %s" % (path, parent))
    zones = load_zones(args.zones)
    store = open_reading(args.store)
    try:
        device = device_of(store, args.device)
        text, ov, doc = report.build(store, device, args.week, zones, tiles, store.target)
    finally:
        store.close()
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.output, e.strerror or e)) from None
    if not ov.fixes and not ov.alerts:
        print("emtag report: no data for %s in %s; wrote %s saying so" % (device, args.week,
                                                                         args.output))  # fmt: skip
    else:
        print(
            "emtag report: wrote %s: %s, %d fixes, %d places, %d curfew nights (%d breached), "
            "%d alerts, %d data gaps"
            % (args.output, args.week, len(ov.fixes), len(ov.places), len(ov.nights),
               sum(1 for n in ov.nights if not n.compliant), len(ov.alerts), len(ov.gaps))
        )  # fmt: skip
    if args.pdf:
        from emtag.centre import pdf

        try:
            pdf.print_page(args.output, args.pdf)
        except pdf.PdfError as e:
            raise CommandError(str(e)) from None
        print("emtag report: wrote %s" % args.pdf)
    return 0
