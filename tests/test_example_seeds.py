"""The fast examples hold for every seed 1-20, not just the one in their file: an example
that passes at one seed is tuned, not robust. Each run is the firmware in-process on
CPython (about a second); the slow examples (power cuts, link outages, battery run-down,
the typical week) go over the same seeds in `emtag bench seeds`."""

import os

import pytest

from emtag.simulator import scenario, simulate

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
FAST = [
    "exclusion-breach.toml",
    "near-miss-urban.toml",
    "curfew-dst-autumn.toml",
    "curfew-dst-spring.toml",
    "strap-cut.toml",
    "foil-shielding.toml",
    "gnss-jamming.toml",
]
SEEDS = range(1, 21)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", FAST)
def test_example_holds_at_every_seed(name, seed, tmp_path):
    sc = scenario.load(os.path.join(EXAMPLES, name))
    sc.seed = seed
    result = simulate.simulate(sc, str(tmp_path), "cpython")
    failed = [c["text"] for c in result["checks"] if not c["ok"]]
    assert result["checks"] and not failed, "seed %d: %s" % (seed, failed)
