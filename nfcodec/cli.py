"""The `nfcodec` command line: a thin layer over the public API.

Every expected failure (bad input, bad file, unwritable output) is an NfcError and becomes one
line on stderr with exit status 1; usage mistakes exit 2 (click's convention).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

import nfcodec
from nfcodec.errors import InputError, NfcError
from nfcodec.limits import DEFAULT_MAX_PIXELS


def _one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NfcError as exc:
            raise click.ClickException(
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            ) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def _check_writable(path: Path) -> None:
    """Fail before minutes of fitting, not after, when the output cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: is a directory")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {path}: folder {parent} is not writable")


def _parse_params(values: tuple[str, ...]) -> dict[str, int]:
    params: dict[str, int] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not value.lstrip("-").isdigit():
            raise InputError(f"--param expects NAME=INTEGER, got {item!r}")
        params[name.strip()] = int(value)
    return params


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(nfcodec.__version__, prog_name="nfcodec")
def main() -> None:
    """nfcodec: compress images by overfitting a small neural field."""


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--field", default="hashgrid", show_default=True, help="hashgrid or diner")
@click.option("--preset", default="medium", show_default=True, help="fast, medium or slow")
@click.option("--lmbda", type=float, default=None, help="rate weight: higher = smaller file")
@click.option(
    "--target-bpp", type=float, default=None, help="aim the file at this many bits per pixel"
)
@click.option(
    "--permute/--no-permute", default=False, show_default=True, help="random pixel permutation"
)
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=INT",
    help="field hyper-parameter, e.g. --param hidden_width=32 (repeatable)",
)
@click.option("--quiet", is_flag=True, help="no progress output")
@click.option(
    "--allow-large", is_flag=True, help="encode images over 4.2 Mpx (2048 x 2048); slow, see README"
)
@_one_line_errors
def encode(
    source: Path,
    output: Path,
    field: str,
    preset: str,
    lmbda: float | None,
    target_bpp: float | None,
    permute: bool,
    seed: int,
    device: str,
    params: tuple[str, ...],
    quiet: bool,
    allow_large: bool,
) -> None:
    """Encode an image SOURCE into an .nfc file OUTPUT."""
    if lmbda is not None and target_bpp is not None:
        raise click.UsageError("give --lmbda or --target-bpp, not both")
    _check_writable(output)
    result = nfcodec.encode_image(
        source,
        output,
        field=field,
        preset=preset,
        lmbda=lmbda,
        target_bpp=target_bpp,
        permute=permute,
        seed=seed,
        device=device,
        quiet=quiet,
        field_options=_parse_params(params),
        allow_large=allow_large,
    )
    if not quiet:
        click.echo(
            f"{output}: {result.num_bytes} bytes, {result.bpp:.4f} bpp, PSNR {result.psnr:.2f} dB, "
            f"encode {result.encode_seconds:.1f} s (fit {result.fit_seconds:.1f} s), "
            f"decode {result.decode_seconds:.2f} s"
        )


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="no summary line")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="refuse larger images, and networks too costly for this many pixels; 0 = no limit",
)
@_one_line_errors
def decode(source: Path, output: Path, quiet: bool, max_pixels: int) -> None:
    """Decode an .nfc file SOURCE into a PNG OUTPUT."""
    import time

    _check_writable(output)
    start = time.perf_counter()
    image = nfcodec.decode(source, output, max_pixels=max_pixels or None)
    if not quiet:
        height, width, channels = image.shape
        click.echo(
            f"{output}: {width}x{height}x{channels}, decoded in {time.perf_counter() - start:.2f} s"
        )


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@_one_line_errors
def info(source: Path) -> None:
    """Show an .nfc file's header, field hyper-parameters and sections."""
    from nfcodec.container import describe

    click.echo(describe(nfcodec.read_info(source)))


@main.command()
@click.option("--preset", default="fast", show_default=True)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True
)
@click.option("--quiet", is_flag=True)
@_one_line_errors
def demo(preset: str, out_dir: Path, quiet: bool) -> None:
    """Encode and decode the bundled sample image; print bpp, PSNR and times."""
    import time

    from nfcodec.io import read_image, sample_image_path
    from nfcodec.metrics import psnr

    out_dir.mkdir(parents=True, exist_ok=True)
    source = sample_image_path()
    nfc_path, png_path = out_dir / "sample.nfc", out_dir / "sample.decoded.png"
    result = nfcodec.encode_image(source, nfc_path, preset=preset, quiet=quiet)
    start = time.perf_counter()
    decoded = nfcodec.decode(nfc_path, png_path)
    decode_seconds = time.perf_counter() - start
    quality = psnr(read_image(source), decoded)
    click.echo(
        f"sample {result.width}x{result.height}: {result.num_bytes} bytes = {result.bpp:.3f} bpp, "
        f"PSNR {quality:.2f} dB (RGB), encode {result.encode_seconds:.1f} s, "
        f"decode {decode_seconds:.2f} s"
        f"\nwrote {nfc_path} and {png_path}"
    )


def _register_eval_commands() -> None:
    """`sweep` and `report` live in the eval harness (installed as nfcodec_eval)."""
    try:
        from nfcodec_eval.cli import sweep_command
        from nfcodec_eval.report import report_command
    except ImportError:  # harness not installed: the codec commands still work
        return
    main.add_command(sweep_command, "sweep")
    main.add_command(report_command, "report")


_register_eval_commands()
