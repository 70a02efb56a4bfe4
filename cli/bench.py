"""Benchmarks, each against a named peer measured in the same run (docs/DESIGN.md). Each
sub-benchmark is a module with HELP, add_arguments(parser) and run(args) -> exit code,
listed in BENCHMARKS; add yours with one line."""

import importlib

HELP = (
    "run a benchmark (alerts: zone alert quality; zones: per-fix cost; sim: simulator speed; "
    "centre: centre queries; ingest: bridge fixes/s; verify: emtag verify fixes/s and memory; "
    "crimes: crime-mapping quality and speed; hostile: an honest tag's ACK latency and the "
    "bridge's memory under each attack class, kill -9)"
)

# name -> module, in --help order
BENCHMARKS = {
    "alerts": "emtag.tools.bench_alerts",
    "zones": "emtag.tools.bench_zones",
    "sim": "emtag.tools.bench_sim",
    "centre": "emtag.tools.bench_centre",
    "ingest": "emtag.tools.bench_ingest",
    "verify": "emtag.tools.bench_verify",
    "seeds": "emtag.tools.bench_seeds",
    "records": "emtag.tools.bench_records",
    "catchup": "emtag.tools.bench_catchup",
    "crimes": "emtag.tools.bench_crimes",
    "hostile": "emtag.tools.bench_hostile",
}


def add_arguments(p):
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, modname in BENCHMARKS.items():
        mod = importlib.import_module(modname)
        b = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(b)
        b.set_defaults(_bench=mod.run)


def run(args):
    return args._bench(args)
