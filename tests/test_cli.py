"""The `nfcodec` command line: round trips, `info`, and clean one-line failures.

Expected failures (bad files, bad paths, bad values) must exit with status 1 and print exactly
one line, starting with 'Error:', on stderr. Usage mistakes (conflicting options) follow
click's convention: status 2, a usage block and an 'Error:' line. Neither may show a traceback
or leave any file (final or temporary) behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import nfcodec
from nfcodec.cli import main
from nfcodec.container import MAGIC, FieldKind, SectionKind
from nfcodec.container.header import encode_varint
from nfcodec.io import read_image, write_png
from tests.conftest import TEST_PRESET, TEST_STEPS

FAST = ["--preset", TEST_PRESET, "--device", "cpu", "--quiet"]

# A fresh interpreter has no 'test' preset: this prelude registers it, then runs the CLI
# through its console entry point (which may leave a finished decode by os._exit).
SUBPROCESS_PRELUDE = (
    "import sys\n"
    "from nfcodec.fit.presets import PRESETS, Preset\n"
    f"PRESETS[{TEST_PRESET!r}] = Preset({TEST_PRESET!r}, steps={TEST_STEPS})\n"
    "from nfcodec.cli import run\n"
    "run()\n"
)


def run_cli(*args: str | Path) -> Result:
    """Invoke the CLI in-process with stdout and stderr kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def run_subprocess(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Invoke the CLI in a fresh interpreter (one thread, so it stays quick on a busy box)."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", SUBPROCESS_PRELUDE, *map(str, args)],
        capture_output=True, text=True, timeout=180, env=env, cwd=cwd,
    )


def assert_one_line_error(exit_code: int, stdout: str, stderr: str, status: int = 1) -> str:
    """The failure contract of every expected error; returns the message."""
    assert exit_code == status, f"exit {exit_code}, stderr {stderr!r}"
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert len(lines[0]) > len("Error: ") + 5, "message too terse to help anyone"
    return lines[0]


def assert_usage_error(result: Result) -> str:
    """Click's usage failure: status 2, an 'Error:' line, no traceback."""
    assert result.exit_code == 2, f"exit {result.exit_code}, stderr {result.stderr!r}"
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def folder_listing(folder: Path) -> set[str]:
    """Every name in a folder, hidden temporaries included."""
    return {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An empty output folder, separate from the inputs so leftovers are easy to spot."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def good_nfc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A valid 16x12 RGB hashgrid file, encoded once for all the damage tests."""
    from tests.conftest import gradient_noise, register_test_presets

    register_test_presets()
    result = nfcodec.encode_image(
        gradient_noise(12, 16, 3), field="hashgrid", preset=TEST_PRESET, device="cpu"
    )
    return result.data


def raw_file(width: int, height: int, channels: int = 3, major: int = 1) -> bytes:
    """A file with an arbitrary (even out-of-bounds) header, framed with a valid CRC."""
    block = bytes([channels]) + b"".join(
        encode_varint(v) for v in (width, height, 0, int(FieldKind.DINER), 2, 0, 8, 1, 30, 0)
    )
    prefix = MAGIC + bytes([major, 0]) + encode_varint(len(block)) + block
    return prefix + zlib.crc32(prefix).to_bytes(4, "little")


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("field", ["hashgrid", "diner", "loe", "siren"])
def test_encode_info_decode_round_trip(field: str, png_file: Path, work: Path) -> None:
    nfc, png = work / "img.nfc", work / "img.png"
    result = run_cli("encode", png_file, nfc, "--field", field, "--permute", "--seed", "5", *FAST)
    assert result.exit_code == 0, result.output
    assert nfc.is_file()

    info = run_cli("info", nfc)
    assert info.exit_code == 0, info.output
    assert field in info.stdout
    assert "permutation: on, seed 5" in info.stdout

    decoded = run_cli("decode", nfc, png)
    assert decoded.exit_code == 0, decoded.output
    assert f"{png}: 16x12x3" in decoded.stdout
    assert np.array_equal(read_image(png), nfcodec.decode(nfc))
    assert read_image(png).shape == read_image(png_file).shape
    assert folder_listing(work) == {"img.nfc", "img.png"}, "temporary files left behind"


def test_encode_summary_line(png_file: Path, work: Path) -> None:
    nfc = work / "img.nfc"
    result = run_cli("encode", png_file, nfc, "--preset", TEST_PRESET, "--device", "cpu")
    assert result.exit_code == 0, result.output
    size = nfc.stat().st_size
    assert f"{size} bytes" in result.stdout
    assert f"{size * 8 / (16 * 12):.4f} bpp" in result.stdout
    assert "PSNR" in result.stdout


def test_encode_params_reach_the_header(png_file: Path, work: Path) -> None:
    nfc = work / "img.nfc"
    args = ["--field", "diner", "--param", "backbone=1", "--param", "hidden_width=8"]
    result = run_cli("encode", png_file, nfc, *args, *FAST)
    assert result.exit_code == 0, result.output
    params = nfcodec.read_info(nfc).header.params()
    assert params["backbone"] == 1
    assert params["hidden_width"] == 8


def test_grayscale_png_stays_grayscale(tmp_path: Path, gray_image: np.ndarray, work: Path) -> None:
    source = tmp_path / "gray.png"
    write_png(gray_image, source)
    nfc, png = work / "g.nfc", work / "g.png"
    assert run_cli("encode", source, nfc, *FAST).exit_code == 0
    assert "1 channel(s) (grey)" in run_cli("info", nfc).stdout
    assert run_cli("decode", nfc, png, "--quiet").exit_code == 0
    assert read_image(png).shape == gray_image.shape


def test_info_names_field_params_and_section_sizes(good_nfc: bytes, tmp_path: Path) -> None:
    nfc = tmp_path / "a.nfc"
    nfc.write_bytes(good_nfc)
    result = run_cli("info", nfc)
    assert result.exit_code == 0, result.output
    info = nfcodec.read_info(good_nfc)
    text = result.stdout
    assert "hashgrid" in text
    assert "16 x 12" in text
    for name, value in info.header.params().items():
        assert any(line.split() == [name, str(value)] for line in text.splitlines()), name
    for kind, length in info.sections:
        assert f"{kind.name.lower()}" in text
        assert f"{length} bytes" in text
    assert {kind for kind, _ in info.sections} == {
        SectionKind.LATENT_MODEL, SectionKind.LATENTS, SectionKind.WEIGHTS
    }
    assert f"total:       {len(good_nfc)} bytes" in text


def test_demo_runs(work: Path) -> None:
    result = run_cli("demo", "--preset", TEST_PRESET, "--out", work, "--quiet")
    assert result.exit_code == 0, result.output
    assert "bpp" in result.stdout and "PSNR" in result.stdout
    assert (work / "sample.nfc").is_file() and (work / "sample.decoded.png").is_file()


def test_demo_without_out_writes_to_a_temporary_folder_and_says_where(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.chdir(work)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    result = run_cli("demo", "--preset", TEST_PRESET, "--quiet")
    assert result.exit_code == 0, result.output
    assert folder_listing(work) == set(), "demo wrote into the current folder"
    wrote = result.stdout.splitlines()[-1]
    nfc = Path(wrote.split()[1])
    assert wrote.startswith("wrote ") and nfc.is_file() and nfc.name == "sample.nfc"
    assert nfc.parent.parent == tmp_path / "tmp"


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".ppm"])
def test_decode_writes_the_lossless_format_its_suffix_names(
    good_nfc: bytes, tmp_path: Path, work: Path, suffix: str
) -> None:
    from PIL import Image

    nfc = tmp_path / "a.nfc"
    nfc.write_bytes(good_nfc)
    out = work / f"decoded{suffix}"
    assert run_cli("decode", nfc, out, "--quiet").exit_code == 0
    with Image.open(out) as im:
        assert im.format == {".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".ppm": "PPM"}[suffix]
        assert np.array_equal(np.asarray(im), nfcodec.decode(good_nfc))


def test_threads_option_and_variable(
    good_nfc: bytes, png_file: Path, tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--threads N (and NFCODEC_THREADS) change no byte; a bad variable is a one-line error."""
    nfc = tmp_path / "a.nfc"
    nfc.write_bytes(good_nfc)
    assert run_cli("decode", nfc, work / "one.png", "--quiet", "--threads", "1").exit_code == 0
    assert np.array_equal(read_image(work / "one.png"), nfcodec.decode(good_nfc))
    files = []
    for threads in ("1", "2"):
        out = work / f"t{threads}.nfc"
        result = run_cli("encode", png_file, out, "--threads", threads, *FAST)
        assert result.exit_code == 0, result.output
        files.append(out.read_bytes())
    assert files[0] == files[1]
    assert_usage_error(run_cli("decode", nfc, work / "x.png", "--threads", "0"))
    monkeypatch.setenv("NFCODEC_THREADS", "many")
    result = run_cli("decode", nfc, work / "y.png")
    message = assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert "NFCODEC_THREADS" in message


@pytest.mark.parametrize("name", ["decoded.jpg", "decoded"])
def test_decode_refuses_an_unknown_or_lossy_output_type(
    good_nfc: bytes, tmp_path: Path, work: Path, name: str
) -> None:
    nfc = tmp_path / "a.nfc"
    nfc.write_bytes(good_nfc)
    result = run_cli("decode", nfc, work / name)
    message = assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert name in message and ".png" in message
    assert folder_listing(work) == set()


def test_decode_and_info_errors_name_the_file(good_nfc: bytes, tmp_path: Path, work: Path) -> None:
    damaged = tmp_path / "damaged.nfc"
    damaged.write_bytes(good_nfc[:-7])
    for args in (["decode", damaged, work / "x.png"], ["info", damaged]):
        result = run_cli(*args)
        message = assert_one_line_error(result.exit_code, result.stdout, result.stderr)
        assert str(damaged) in message


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nfcodec", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and nfcodec.__version__ in done.stdout


def test_version_and_help() -> None:
    assert nfcodec.__version__ in run_cli("--version").stdout
    for command in ("encode", "decode", "info", "demo"):
        assert run_cli(command, "--help").exit_code == 0


# ---------------------------------------------------------------------------- encode failures


def bad_encode_inputs(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    return {"missing": tmp_path / "absent.png", "directory": folder, "text": text, "empty": empty}


@pytest.mark.parametrize("case", ["missing", "directory", "text", "empty"])
def test_encode_bad_input(case: str, tmp_path: Path, work: Path) -> None:
    source = bad_encode_inputs(tmp_path)[case]
    result = run_cli("encode", source, work / "x.nfc", *FAST)
    message = assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert source.name in message
    assert folder_listing(work) == set()


@pytest.mark.parametrize("where", ["no-such-folder", "is-a-directory"])
def test_encode_unwritable_output(where: str, png_file: Path, work: Path) -> None:
    # Running as root makes chmod-protected folders writable, so use paths that cannot work.
    target = work / "missing" / "x.nfc" if where == "no-such-folder" else work
    result = run_cli("encode", png_file, target, *FAST)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert folder_listing(work) == set()


@pytest.mark.parametrize(
    "args",
    [
        ["--field", "voxels"],
        ["--preset", "ludicrous"],
        ["--param", "hidden_width"],
        ["--param", "hidden_width=wide"],
        ["--param", "no_such_thing=3"],
        ["--param", "hidden_layers=99"],
        ["--field", "diner", "--param", "levels=4"],
        ["--lmbda", "-1"],
        ["--target-bpp", "1000"],
    ],
    ids=lambda a: " ".join(a),
)
def test_encode_bad_option_values(args: list[str], png_file: Path, work: Path) -> None:
    result = run_cli("encode", png_file, work / "x.nfc", "--device", "cpu", "--quiet", *args)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert folder_listing(work) == set()


def test_lmbda_and_target_bpp_together_is_usage_error(png_file: Path, work: Path) -> None:
    args = ["--lmbda", "0.01", "--target-bpp", "1.0", *FAST]
    result = run_cli("encode", png_file, work / "x.nfc", *args)
    assert "--lmbda" in assert_usage_error(result)
    assert folder_listing(work) == set()


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--device", "tpu"], ["--bogus"]])
def test_encode_click_level_usage_errors(args: list[str], png_file: Path, work: Path) -> None:
    assert_usage_error(run_cli("encode", png_file, work / "x.nfc", *args))
    assert folder_listing(work) == set()


# ---------------------------------------------------------------------------- decode failures


def damaged_files(good: bytes) -> dict[str, bytes]:
    middle = len(good) // 2
    return {
        "empty": b"",
        "truncated-preamble": good[:5],
        "truncated-header": good[:12],
        "truncated-section": good[:-10],
        "flipped-byte": good[:middle] + bytes([good[middle] ^ 0x40]) + good[middle + 1 :],
        "trailing-garbage": good + b"\x00",
        "wrong-magic": b"\x89PNG" + good[4:],
        "future-major": good[:4] + b"\x03" + good[5:],
        "future-minor": good[:5] + b"\x07" + good[6:],
        "absurd-width": raw_file(width=1 << 40, height=1),
        "zero-height": raw_file(width=4, height=0),
        "too-many-pixels": raw_file(width=16384, height=16384),
        "bad-channels": raw_file(width=2, height=2, channels=4),
        "png-bytes": b"\x89PNG\r\n\x1a\n" + bytes(40),
    }


DAMAGE = list(damaged_files(b"\x00" * 64))


@pytest.mark.parametrize("case", DAMAGE)
def test_decode_damaged_file(case: str, good_nfc: bytes, tmp_path: Path, work: Path) -> None:
    source = tmp_path / f"{case}.nfc"
    source.write_bytes(damaged_files(good_nfc)[case])
    result = run_cli("decode", source, work / "x.png")
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert folder_listing(work) == set()


@pytest.mark.parametrize("case", DAMAGE)
def test_info_damaged_file(case: str, good_nfc: bytes, tmp_path: Path) -> None:
    source = tmp_path / f"{case}.nfc"
    source.write_bytes(damaged_files(good_nfc)[case])
    result = run_cli("info", source)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)


def test_future_version_message_names_the_version(good_nfc: bytes, tmp_path: Path) -> None:
    source = tmp_path / "future.nfc"
    source.write_bytes(good_nfc[:4] + b"\x03\x00" + good_nfc[6:])
    result = run_cli("decode", source, tmp_path / "x.png")
    assert "3.0" in assert_one_line_error(result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("command", ["decode", "info"])
@pytest.mark.parametrize("case", ["missing", "directory"])
def test_decode_and_info_bad_paths(command: str, case: str, tmp_path: Path, work: Path) -> None:
    source = tmp_path / "absent.nfc" if case == "missing" else tmp_path
    args = [source, work / "x.png"] if command == "decode" else [source]
    result = run_cli(command, *args)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert folder_listing(work) == set()


@pytest.mark.parametrize("where", ["no-such-folder", "is-a-directory"])
def test_decode_unwritable_output(where: str, good_nfc: bytes, tmp_path: Path, work: Path) -> None:
    source = tmp_path / "a.nfc"
    source.write_bytes(good_nfc)
    target = work / "missing" / "x.png" if where == "no-such-folder" else work
    result = run_cli("decode", source, target)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert folder_listing(work) == set()


def test_existing_output_untouched_on_failure(tmp_path: Path, work: Path) -> None:
    """A failed decode must not clobber (or truncate) a file already at the output path."""
    source = tmp_path / "bad.nfc"
    source.write_bytes(b"\x89NFC\x01\x00garbage")
    target = work / "keep.png"
    target.write_bytes(b"precious")
    result = run_cli("decode", source, target)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr)
    assert target.read_bytes() == b"precious"
    assert folder_listing(work) == {"keep.png"}


# ---------------------------------------------------------------------------- real processes


def test_subprocess_round_trip(png_file: Path, work: Path) -> None:
    nfc, png = work / "s.nfc", work / "s.png"
    enc = run_subprocess("encode", png_file, nfc, "--field", "diner", *FAST)
    assert enc.returncode == 0, enc.stderr
    assert enc.stderr == ""  # --quiet: no progress bar, no warnings
    dec = run_subprocess("decode", nfc, png)
    assert dec.returncode == 0, dec.stderr
    assert "16x12x3" in dec.stdout
    info = run_subprocess("info", nfc)
    assert info.returncode == 0 and "diner" in info.stdout
    assert np.array_equal(read_image(png), nfcodec.decode(nfc))


def test_subprocess_errors_are_one_line(tmp_path: Path, good_nfc: bytes, work: Path) -> None:
    source = tmp_path / "cut.nfc"
    source.write_bytes(good_nfc[:-3])
    dec = run_subprocess("decode", source, work / "x.png")
    assert_one_line_error(dec.returncode, dec.stdout, dec.stderr)
    assert folder_listing(work) == set()


def test_python_m_decode_writes_the_whole_file_and_its_line(
    tmp_path: Path, good_nfc: bytes, work: Path
) -> None:
    """`python -m nfcodec decode` leaves without the interpreter's teardown: its summary line
    and the complete file are there all the same, and a failure still exits 1 with one line."""
    source = tmp_path / "good.nfc"
    source.write_bytes(good_nfc)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    for suffix in (".png", ".ppm"):
        out = work / f"x{suffix}"
        done = subprocess.run(
            [sys.executable, "-m", "nfcodec", "decode", str(source), str(out)],
            capture_output=True, text=True, timeout=180, env=env,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.startswith(f"{out}: 16x12x3, decoded in ")
        assert np.array_equal(read_image(out), nfcodec.decode(good_nfc))
    cut = tmp_path / "cut.nfc"
    cut.write_bytes(good_nfc[:-3])
    done = subprocess.run(
        [sys.executable, "-m", "nfcodec", "decode", str(cut), str(work / "y.png")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert str(cut) in assert_one_line_error(done.returncode, done.stdout, done.stderr)
    assert folder_listing(work) == {"x.png", "x.ppm"}
