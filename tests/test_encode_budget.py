"""Big inputs: the encoder states its cost up front and refuses, by default, above a set size."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import nfcodec
import nfcodec.fit.budget as budget
from nfcodec.cli import main
from nfcodec.errors import InputError
from nfcodec.io import write_png
from tests.conftest import TEST_PRESET


def test_estimate_grows_with_pixels_and_steps() -> None:
    small, large = budget.estimate(1_000_000, 1200), budget.estimate(4_000_000, 1200)
    assert 0 < small.seconds < large.seconds and 0 < small.peak_mb < large.peak_mb
    assert budget.estimate(1_000_000, 2400).seconds > small.seconds
    assert "Mpx" in large.describe() and "GB" in large.describe()


def test_over_the_limit_is_refused_before_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitting started")

    monkeypatch.setattr("nfcodec.fit.trainer.fit_field", no_fit)
    monkeypatch.setattr(budget, "DEFAULT_MAX_ENCODE_PIXELS", 16 * 16 - 1)
    with pytest.raises(InputError, match="allow-large"):
        nfcodec.encode_image(np.zeros((16, 16, 3), np.uint8), preset=TEST_PRESET, device="cpu")


def test_allow_large_encodes_and_shows_the_estimate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(budget, "DEFAULT_MAX_ENCODE_PIXELS", 16 * 16 - 1)
    monkeypatch.setattr(budget, "STEP_SECONDS", (10.0, 0.0))  # 20 steps -> 200 s: shown
    monkeypatch.setattr(budget, "OTHER_SECONDS", (0.0, 0.0))
    image = np.full((16, 16, 3), 90, np.uint8)
    result = nfcodec.encode_image(image, preset=TEST_PRESET, device="cpu", allow_large=True,
                                  quiet=False)
    assert result.width == 16
    assert "estimate: 0.0 Mpx: expect about 3 min" in capsys.readouterr().err


def test_cli_allow_large(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(budget, "DEFAULT_MAX_ENCODE_PIXELS", 16 * 16 - 1)
    source = tmp_path / "in.png"
    write_png(np.full((16, 16, 3), 90, np.uint8), source)
    common = ["encode", str(source), str(tmp_path / "out.nfc"), "--preset", TEST_PRESET,
              "--device", "cpu", "--quiet"]
    refused = CliRunner().invoke(main, common)
    assert refused.exit_code == 1 and "--allow-large" in refused.stderr
    assert not (tmp_path / "out.nfc").exists()
    allowed = CliRunner().invoke(main, [*common, "--allow-large"])
    assert allowed.exit_code == 0, allowed.stderr
    assert (tmp_path / "out.nfc").is_file()
