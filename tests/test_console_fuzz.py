"""Fuzzing the tag's console (tools/fuzz_console.py) in CI: a few thousand examples; the
documented long run is `python -m emtag.tools.fuzz_console --examples 100000`.

Each example feeds bytes, frames, CBOR, COSE and near-valid signed commands to the firmware's
console in-process and checks that nothing raised, nothing was authorised, the flash and
the authority's state did not change, and no reply held the private key. The last test
plants a bug (signatures not checked) to show the fuzzer finds one.
"""

import pytest

from emtag.firmware import cose
from emtag.protocol import cbor
from emtag.tools import fuzz_console


def test_fuzz_a_provisioned_tag():
    assert fuzz_console.fuzz(1200, provisioned=True) == 1200


def test_fuzz_a_factory_fresh_tag():
    assert fuzz_console.fuzz(400, provisioned=False) == 400


def test_the_fuzzer_finds_a_missing_signature_check(monkeypatch):
    def no_check(public_key, message, external_aad=b""):
        obj = cbor.loads(message)
        return (obj.value if isinstance(obj, cbor.Tag) else obj)[2]

    def plant(bench):
        monkeypatch.setattr(cose, "verify1", no_check)

    with pytest.raises(Exception) as e:  # noqa: B017 - any failure report will do
        fuzz_console.fuzz(2000, seed_value=3, after_setup=plant, shrink=False)
    assert "authorised" in str(e.value) or "state changed" in str(e.value)
