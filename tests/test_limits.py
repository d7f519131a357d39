"""The decoder's work budget: pixel limit and synthesis MACs, refused from the header alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import nfcodec
import nfcodec.decoder as decoder
from nfcodec.cli import main
from nfcodec.container import FieldKind, Header
from nfcodec.errors import LimitExceeded
from nfcodec.limits import (
    WORK_MACS_PER_PIXEL,
    check_decode_budget,
    macs_per_pixel,
)
from tests.script_loader import load_script

CRAFTED = Path(__file__).resolve().parents[1] / "bitstream" / "vectors" / "crafted"
BOMBS = sorted(CRAFTED.glob("bomb_*.nfc"))


@pytest.fixture(scope="module")
def crafted():  # noqa: ANN201 - the script module
    return load_script("make_crafted_vectors")


def hashgrid(width: int, height: int, params: tuple[int, ...]) -> Header:
    return Header(width, height, 3, False, 0, FieldKind.HASHGRID, params)


def test_macs_per_pixel_by_hand() -> None:
    # levels 8 x features 1 -> 16 -> 16 -> 3: 8*16 + 16*16 + 16*3 = 432, bilinear 4 * 8 = 32.
    assert macs_per_pixel(hashgrid(4, 4, (8, 1, 20, 12, 768, 16, 2, 2, 1, 0))) == 464
    # 2.1 default, every level cubic Lagrange: 16 vertices a level instead of 4.
    assert macs_per_pixel(hashgrid(4, 4, (8, 1, 20, 12, 768, 16, 2, 2, 1, 8))) == 432 + 16 * 8
    assert macs_per_pixel(hashgrid(4, 4, (8, 1, 20, 12, 768, 16, 2, 2, 1, 3))) == 432 + 48 + 20
    # DINER table_width 2 -> 32 -> 3 (one hidden layer): 2*32 + 32*3 = 160, no interpolation.
    diner = Header(4, 4, 1, False, 0, FieldKind.DINER, (2, 0, 32, 1, 30))
    assert macs_per_pixel(diner) == 2 * 32 + 32 * 1
    # The widest network the header allows: 192 -> 256 x 8 -> 3.
    widest = hashgrid(4, 4, (24, 8, 4, 1, 1, 256, 8, 0, 0, 24))
    assert macs_per_pixel(widest) == 192 * 256 + 7 * 256 * 256 + 256 * 3 + 16 * 192


def test_pixel_limit_is_inclusive() -> None:
    header = hashgrid(100, 10, (1, 1, 4, 1, 1, 1, 0, 0, 0, 0))
    check_decode_budget(header, max_pixels=1000)
    with pytest.raises(LimitExceeded, match="1000 pixels exceeds the limit of 999"):
        check_decode_budget(header, max_pixels=999)
    check_decode_budget(header, max_pixels=None)


def test_work_budget_scales_with_the_pixel_limit() -> None:
    header = hashgrid(64, 64, (24, 8, 4, 1, 1, 256, 8, 0, 0, 0))  # ~509 k MACs per pixel
    needed = header.pixels * macs_per_pixel(header)
    enough = -(-needed // WORK_MACS_PER_PIXEL)  # smallest limit whose budget covers it
    check_decode_budget(header, max_pixels=enough)
    with pytest.raises(LimitExceeded, match="MACs"):
        check_decode_budget(header, max_pixels=enough - 1)


def test_bad_limit_value_is_refused() -> None:
    header = hashgrid(4, 4, (1, 1, 4, 1, 1, 1, 0, 0, 0, 0))
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError):
            check_decode_budget(header, max_pixels=bad)  # type: ignore[arg-type]


def test_the_four_bombs_are_committed() -> None:
    assert len(BOMBS) == 4
    assert all(path.stat().st_size < 128 for path in BOMBS)


@pytest.mark.parametrize("bomb", BOMBS, ids=lambda p: p.stem)
def test_bombs_are_refused_before_any_payload_work(
    bomb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_payload_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("payload decoding started")

    for name in ("decode_latents", "decode_latents_arm", "decode_weights", "field_layout"):
        monkeypatch.setattr(decoder, name, no_payload_work)
    with pytest.raises(LimitExceeded):
        nfcodec.decode(bomb)
    with pytest.raises(LimitExceeded):
        nfcodec.decode(bomb.read_bytes())


def test_scaled_down_bombs_are_valid_files(crafted) -> None:  # noqa: ANN001
    """The same constructions at a small size decode, so the limit, not a defect, refuses them."""
    assert nfcodec.decode(crafted.hashgrid_bomb(48, 12)).shape == (12, 48, 3)
    assert nfcodec.decode(crafted.diner_bomb(16, 16)).shape == (16, 16, 3)
    wide = crafted.hashgrid_bomb(8, 8, crafted.WIDE_NETWORK)
    assert nfcodec.decode(wide).shape == (8, 8, 3)


def test_limit_is_checked_before_sections_are_read(tmp_path: Path, crafted) -> None:  # noqa: ANN001
    """A huge image whose sections are cut short is refused by the limit, not as truncated."""
    data = crafted.hashgrid_bomb(16384, 4096)
    cut = tmp_path / "cut.nfc"
    cut.write_bytes(data[: crafted.header_end(data) + 3])  # header intact, sections cut short
    with pytest.raises(LimitExceeded, match="cut.nfc"):
        nfcodec.decode(cut)


def test_raising_the_limit_lets_a_file_through(crafted) -> None:  # noqa: ANN001
    data = crafted.hashgrid_bomb(32, 32)
    with pytest.raises(LimitExceeded):
        nfcodec.decode(data, max_pixels=1023)
    assert nfcodec.decode(data, max_pixels=1024).shape == (32, 32, 3)
    assert nfcodec.decode(data, max_pixels=None).shape == (32, 32, 3)


def test_cli_max_pixels(tmp_path: Path, crafted) -> None:  # noqa: ANN001
    source = tmp_path / "small.nfc"
    source.write_bytes(crafted.hashgrid_bomb(32, 32))
    refused, decoded = tmp_path / "refused.png", tmp_path / "decoded.png"
    runner = CliRunner()
    result = runner.invoke(main, ["decode", "--max-pixels", "1000", str(source), str(refused)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "small.nfc" in lines[0] and "--max-pixels" in lines[0]
    assert not refused.exists()
    for limit in ("1024", "0"):
        result = runner.invoke(main, ["decode", "--quiet", "--max-pixels", limit, str(source),
                                      str(decoded)])
        assert result.exit_code == 0, result.stderr
        assert decoded.is_file()
        decoded.unlink()


@pytest.mark.parametrize("bomb", BOMBS, ids=lambda p: p.stem)
def test_cli_refuses_bombs_in_one_line(bomb: Path, tmp_path: Path) -> None:
    output = tmp_path / "bomb.png"
    result = CliRunner().invoke(main, ["decode", str(bomb), str(output)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and bomb.name in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()
