"""The `nfcodec` command line: a thin layer over the public API.

Every expected failure (bad input, bad file, unwritable output) is an NfcError and becomes one
line on stderr with exit status 1; usage mistakes exit 2 (click's convention).
Imports are lazy: `--help` and `info` load click, Pillow (the plugin `import nfcodec` registers)
and the standard-library container code only, `decode` adds numpy/numba, and only `encode` and
`demo` import torch. The harness commands (`sweep`, `report`) are imported when run.
`run` is the console entry point: as the owner of its process it lets a decode skip numba's
optional probes and the interpreter's teardown (`nfcodec.cli_process`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

import nfcodec
from nfcodec import cli_process
from nfcodec.errors import InputError, NfcError
from nfcodec.limits import DEFAULT_MAX_PIXELS

# Harness commands, loaded only when run: (module, attribute, one-line help for --help).
HARNESS_COMMANDS: dict[str, tuple[str, str, str]] = {
    "sweep": ("nfcodec_eval.cli", "sweep_command", "Run an RD sweep (eval harness)."),
    "report": ("nfcodec_eval.report", "report_command", "Report a sweep's results (eval harness)."),
}


class _LazyGroup(click.Group):
    """A group whose harness commands are imported when invoked, not when the CLI starts."""

    def _harness_installed(self) -> bool:
        try:
            return importlib.util.find_spec("nfcodec_eval") is not None
        except (ImportError, ValueError):  # a broken or blocked install counts as absent
            return False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(super().list_commands(ctx))
        if self._harness_installed():
            names += [name for name in HARNESS_COMMANDS if name not in names]
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in HARNESS_COMMANDS:
            return super().get_command(ctx, name)
        if not self._harness_installed():
            return None
        module, attribute, _ = HARNESS_COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in HARNESS_COMMANDS and name not in self.commands:
                rows.append((name, HARNESS_COMMANDS[name][2]))
            else:
                rows.append((name, self.commands[name].get_short_help_str(limit=60)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


THREADS_HELP = (
    "CPU threads [default: the CPUs other processes leave free; also NFCODEC_THREADS]"
)


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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(nfcodec.__version__, prog_name="nfcodec")
def main() -> None:
    """nfcodec: compress images by overfitting a small neural field."""


def run() -> None:
    """The `nfcodec` console command and `python -m nfcodec`: `main`, owning its process."""
    cli_process.own_process()
    try:
        main(prog_name="nfcodec")
    except SystemExit as exc:
        cli_process.finish(exc.code)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--field", default="hashgrid", show_default=True, help="hashgrid, diner, loe or siren"
)
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
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
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
    threads: int | None,
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
        threads=threads,
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
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@_one_line_errors
def decode(source: Path, output: Path, quiet: bool, max_pixels: int, threads: int | None) -> None:
    """Decode an .nfc file SOURCE into OUTPUT, a lossless .png, .webp, .tif or .ppm/.pgm
    (the suffix picks the format)."""
    import time

    from nfcodec.io import check_image_suffix
    from nfcodec.threads import ThreadGovernor

    _check_writable(output)
    check_image_suffix(output)
    cli_process.hide_modules_numba_probes()
    # Loading numba is the window in which the governor sees what other processes use.
    governor = ThreadGovernor(nfcodec.read_info(source).header.pixels, threads)
    from nfcodec.decoder import decode as decode_file

    governor.start()
    governor.update(force=True)
    start = time.perf_counter()
    try:
        image = decode_file(source, output, max_pixels=max_pixels or None)
    finally:
        governor.restore()
    if not quiet:
        height, width, channels = image.shape
        click.echo(
            f"{output}: {width}x{height}x{channels}, decoded in {time.perf_counter() - start:.2f} s"
        )
    cli_process.allow_quick_exit()


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@_one_line_errors
def info(source: Path) -> None:
    """Show an .nfc file's header, field hyper-parameters and sections."""
    from nfcodec.container import describe

    click.echo(describe(nfcodec.read_info(source)))


@main.command()
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--png", "png_path", type=click.Path(path_type=Path), default=None,
              help="also write the flow colour-coded (hue = direction, brightness = length)")
@click.option("--mode", type=click.Choice(["global", "patch", "pixel"]), default="patch",
              show_default=True, help="one displacement, one per patch, or one per pixel")
@click.option("--patch", type=click.IntRange(1, 4096), default=16, show_default=True)
@click.option("--interpolation", type=click.Choice(["lagrange", "bilinear"]),
              default="lagrange", show_default=True, help="grid interpolation of the field")
@click.option("--fit-steps", type=click.IntRange(1, 100000), default=1500, show_default=True,
              help="steps fitting the field to FIRST")
@click.option("--flow-steps", type=click.IntRange(1, 100000), default=400, show_default=True,
              help="steps searching the displacement")
@_one_line_errors
def flow(first: Path, second: Path, output: Path, png_path: Path | None, mode: str, patch: int,
         interpolation: str, fit_steps: int, flow_steps: int) -> None:
    """Optical flow from FIRST to SECOND through a field fitted to FIRST, saved as .npy.

    OUTPUT holds (H, W, 2) float32 (dy, dx) in pixels with SECOND[x] ~ FIRST[x + d(x)].
    """
    import numpy as np

    from nfcodec.flow import FlowSettings, estimate_flow, flow_to_rgb
    from nfcodec.io import read_image, write_png

    for path in (output, png_path):
        if path is not None:
            _check_writable(path)
    settings = FlowSettings(
        lagrange=interpolation == "lagrange", mode=mode, patch=patch,
        fit_steps=fit_steps, flow_steps=flow_steps,
    )
    result = estimate_flow(read_image(first), read_image(second), settings)
    with open(output, "wb") as handle:
        np.save(handle, result)
    if png_path is not None:
        write_png(flow_to_rgb(result), png_path)
    mean = result.reshape(-1, 2).mean(axis=0)
    click.echo(f"{output}: {result.shape[1]}x{result.shape[0]} flow, mean (dy, dx) = "
               f"({mean[0]:.2f}, {mean[1]:.2f}) px")


@main.command()
@click.option("--preset", default="fast", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="folder for sample.nfc and sample.decoded.png  [default: a new temporary folder]",
)
@click.option("--quiet", is_flag=True)
@_one_line_errors
def demo(preset: str, out_dir: Path | None, quiet: bool) -> None:
    """Encode and decode the bundled sample image; print bpp, PSNR and times."""
    import tempfile
    import time

    from nfcodec.io import read_image, sample_image_path
    from nfcodec.metrics import psnr

    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="nfcodec-demo-"))
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
