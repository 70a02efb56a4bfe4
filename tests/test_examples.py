"""Every example scenario runs, and its [[expect]] entries hold.

Each runs the unmodified firmware in process on CPython (fast; the firmware on the
MicroPython unix port, with the tag's heap, is covered by tests/test_demo.py). Add a line to
EXAMPLES for a new example."""

import os

import pytest

from emtag.host.store import open_store
from emtag.simulator import scenario, simulate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXAMPLES = [
    "near-miss-urban.toml",  # urban-canyon near miss: zone_approach, never exclusion_breach
    "curfew-dst-autumn.toml",  # curfew breach the morning the clocks go back
    "curfew-dst-spring.toml",  # none the morning they go forward
    "power-cuts.toml",  # five power cuts, four of them tearing a flash write
    "link-outage-3d.toml",  # three days without a link (and a power cut), then catch-up
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example(name, tmp_path):
    sc = scenario.load(os.path.join(REPO, "examples", name))
    assert sc.expect, "an example states what it shows"
    result = simulate.simulate(sc, str(tmp_path), "cpython")
    assert result["checks"] and all(c["ok"] for c in result["checks"]), result["checks"]
    assert result["stored_failed"] == 0 and result["rejected"] == 0
    # the store took each record once, with no gap
    with open_store(str(tmp_path / "store.sqlite"), create=False) as st:
        seqs = [r[0] for r in st.records(result["device"])]
    assert seqs == list(range(1, len(seqs) + 1))
