"""A short, seeded round of the structure-aware fuzzer, and checks that it can find something."""

from __future__ import annotations

import random

import pytest

from tests.script_loader import load_script

SMOKE_INPUTS = 4000  # about 5 s alone on one core; the long run is in eval/results/fuzzing


@pytest.fixture(scope="module")
def fuzz():  # noqa: ANN201 - the scripts/fuzz_nfc.py module
    return load_script("fuzz_nfc")


def test_smoke_round_finds_nothing_and_reaches_the_payloads(fuzz) -> None:  # noqa: ANN001
    # A fixed count, not a time cap, so the round is the same inputs on every machine.
    tally = fuzz.run(fuzz.load_seeds(), seed=20261203, iterations=SMOKE_INPUTS, seconds=None)
    report = tally.report()
    assert report["problems"] == [], report
    outcomes = tally.outcomes
    assert tally.inputs == SMOKE_INPUTS == sum(outcomes.values())
    payload = sum(n for name, n in outcomes.items() if name.startswith("payload:"))
    assert payload > 0.3 * tally.inputs, outcomes  # CRC repair gets mutants past the container
    assert outcomes["decoded"] > 0 and outcomes["payload:LimitExceeded"] > 0, outcomes
    for name in ("FormatError", "CorruptStream", "UnknownComponent", "UnsupportedVersion"):
        assert outcomes[f"container:{name}"] > 0, outcomes


def test_mutations_keep_crcs_right(fuzz) -> None:  # noqa: ANN001
    from nfcodec.container import read_info
    from nfcodec.errors import NfcError

    seeds, rng = fuzz.load_seeds(), random.Random(5)
    passed = 0
    for _ in range(200):
        try:
            read_info(fuzz.payload_flips(fuzz.parse(seeds[0]), seeds[0], rng, seeds))
            passed += 1
        except NfcError:
            pass
    assert passed == 200  # payload edits never break the container


def test_classifier_flags_what_is_not_an_nfc_error(fuzz) -> None:  # noqa: ANN001
    from nfcodec.errors import CorruptStream

    def index_error(data: bytes) -> None:
        raise IndexError("a bug")

    def two_lines(data: bytes) -> None:
        raise CorruptStream("first\nsecond")

    def fine(data: bytes) -> None:
        return None

    seed = fuzz.load_seeds()[0]
    assert fuzz.classify(seed, index_error) == "unexpected"
    assert fuzz.classify(seed, two_lines) == "unexpected"
    assert fuzz.classify(seed, fine) == "decoded"
    assert fuzz.classify(b"junk", fine) == "decoded"  # classify trusts decode's verdict
    tally = fuzz.run([seed], seed=1, iterations=5, seconds=None, decode=index_error)
    assert tally.outcomes["unexpected"] == 5 and len(tally.problems) == 5


def test_slow_inputs_are_reported(fuzz) -> None:  # noqa: ANN001
    import time

    def sleepy(data: bytes) -> None:
        time.sleep(0.02)

    tally = fuzz.run(fuzz.load_seeds(), seed=1, iterations=3, seconds=None, decode=sleepy,
                     slow_seconds=0.01)
    assert tally.outcomes["slow"] == 3
