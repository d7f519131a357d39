"""Encode: image -> (permute) -> fit field -> quantise -> entropy-code -> .nfc bytes.

The encoder decodes its own bytes with the real decoder (`nfcodec.decoder`, no torch) and
reports bpp from their length and PSNR from the decoded pixels, so the numbers it prints are
the numbers a user gets.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nfcodec.container import Header, Section, SectionKind, write_nfc
from nfcodec.container.spec import FIELD_PARAMS, FieldKind
from nfcodec.decoder import decode, decode_bytes, read_info
from nfcodec.errors import InputError
from nfcodec.fields.base import Field, FieldConfig
from nfcodec.fields.registry import build_field, field_class
from nfcodec.io import read_image, write_bytes_atomic
from nfcodec.metrics import psnr as psnr_of
from nfcodec.sections import (
    TableLayout,
    encode_latent_model,
    encode_latents_arm,
    encode_weights,
    latent_bits_arm,
)
from nfcodec.threads import ThreadGovernor
from nfcodec.transforms import permute_pixels

CONTAINER_OVERHEAD_BYTES = 48  # header + section framing, for rate estimates only


@dataclass(frozen=True)
class EncodeResult:
    """What an encode produced, measured on the bytes themselves."""

    data: bytes
    width: int
    height: int
    channels: int
    field: str
    config: str
    bpp: float
    psnr: float
    lmbda: float
    steps: int
    encode_seconds: float
    fit_seconds: float
    decode_seconds: float

    @property
    def num_bytes(self) -> int:
        return len(self.data)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def _as_image(image: Any) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InputError(f"image array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or min(array.shape[:2]) < 1:
        raise InputError(f"image array must be (H, W, 1|3), got shape {array.shape}")
    return np.ascontiguousarray(array)


def default_config(field: str, height: int, width: int, overrides: dict[str, int]) -> FieldConfig:
    """The field's default hyper-parameters, sized to the image, with user overrides."""
    cls = field_class(field)
    config_type = cls.config_type
    values: dict[str, int] = {}
    if cls.kind == FieldKind.HASHGRID:
        longer = max(height, width)
        values = {"finest_resolution": longer, "coarsest_resolution": max(1, longer // 64)}
        values["log2_table_size"] = _dense_table_log2(height, width, values["finest_resolution"])
    known = {spec.name for spec in FIELD_PARAMS[cls.kind]}
    for name, value in overrides.items():
        if name not in known:
            raise InputError(f"field {field!r} has no hyper-parameter {name!r}")
        values[name] = int(value)
    if cls.kind == FieldKind.HASHGRID and "cubic_levels" not in overrides:
        # Lagrange on every level: -2.4% BD-rate against bilinear on the development images
        values["cubic_levels"] = values.get("levels", config_type.levels)  # type: ignore[attr-defined]
    config = config_type(**values)
    try:
        config.check()
    except ValueError as exc:
        raise InputError(f"bad {field} hyper-parameter: {exc}") from None
    return config


def _dense_table_log2(height: int, width: int, finest: int) -> int:
    """Smallest table that stores the finest level densely, capped so huge images hash."""
    from nfcodec.kernels import level_geometry

    for log2 in range(4, 23):
        if level_geometry(height, width, finest, log2).dense:
            return log2
    return 22


class _Bar:
    """Progress line on stderr: step, elapsed and time left (tqdm), training PSNR, the coded
    size of the current latents in bpp (an estimate of the final file), lambda."""

    def __init__(self, quiet: bool, steps: int) -> None:
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, file=sys.stderr, desc="fit", unit="step", leave=False)

    def __call__(self, p: Any) -> None:
        if self.bar is not None:
            self.bar.n = p.step
            size = "coded size ..." if p.coded_bpp is None else f"coded size {p.coded_bpp:.3f} bpp"
            self.bar.set_postfix_str(f"PSNR {p.psnr:5.2f} dB, {size}, lambda {p.lmbda:.2e}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


WEIGHT_LAMBDA_DIVISORS = (1, 8, 64)


def _quantise_network(
    params: list[torch.nn.Parameter],
    evaluate_mse: Callable[[int], float],
    lmbda: float,
    pixels: int,
    container: Any,
    budget_bytes: float | None,
) -> bytes:
    """Quantise the network by RD step search; return the finished file.

    With a byte budget (`--target-bpp`), the latents are already fixed, so any room left under
    the target goes to finer network steps: the search is repeated with lambda divided by 8
    and 64, and the finest result whose whole file fits the budget is kept. The coded-size
    estimate that steers the fit prices the network at one fixed step, and the search at the
    fit's lambda can pick much coarser ones (DINER at 0.5 bpp: 2.5% of the file), which left
    files under their target.
    """
    from nfcodec.fit.weights import search_steps
    from nfcodec.quant import dequantize

    originals = [p.detach().clone() for p in params]
    divisors = WEIGHT_LAMBDA_DIVISORS if budget_bytes is not None else (1,)
    chosen: tuple[bytes, list[np.ndarray], list[int]] | None = None
    for divisor in divisors:
        with torch.no_grad():
            for param, original in zip(params, originals, strict=True):
                param.copy_(original)
        symbols, exponents = search_steps(params, evaluate_mse, lmbda / divisor, pixels)
        data = container(symbols, exponents)
        if chosen is not None and budget_bytes is not None and len(data) > budget_bytes:
            break
        chosen = (data, symbols, exponents)
    assert chosen is not None
    data, symbols, exponents = chosen
    with torch.no_grad():  # leave the model holding the values the file decodes to
        for param, sym, exponent in zip(params, symbols, exponents, strict=True):
            param.copy_(torch.from_numpy(dequantize(sym, exponent)).to(param.dtype))
    return data


def encode_image(
    image: Any,
    output: Any = None,
    *,
    field: str = "hashgrid",
    preset: str = "medium",
    lmbda: float | None = None,
    target_bpp: float | None = None,
    permute: bool = False,
    seed: int = 0,
    device: str = "auto",
    quiet: bool = True,
    field_options: dict[str, int] | None = None,
    allow_large: bool = False,
    threads: int | None = None,
) -> EncodeResult:
    """Encode `image` (path or uint8 array) and optionally write the .nfc to `output` atomically.

    Images over `nfcodec.fit.budget.DEFAULT_MAX_ENCODE_PIXELS` are refused unless `allow_large`;
    unless `quiet`, the time and memory estimate is shown before a long encode starts.
    `threads` fixes the CPU threads; by default they follow the CPUs other processes leave free
    (`nfcodec.threads`). The bytes are the same with any thread count.
    """
    start = time.perf_counter()
    pixels_u8 = _as_image(image)
    governor = ThreadGovernor(pixels_u8.shape[0] * pixels_u8.shape[1], threads)
    governor.start()
    try:
        return _encode(
            pixels_u8, output, start, governor, field=field, preset=preset, lmbda=lmbda,
            target_bpp=target_bpp, permute=permute, seed=seed, device=device, quiet=quiet,
            field_options=field_options, allow_large=allow_large,
        )
    finally:
        governor.restore()


def _encode(
    pixels_u8: np.ndarray,
    output: Any,
    start: float,
    governor: ThreadGovernor,
    *,
    field: str,
    preset: str,
    lmbda: float | None,
    target_bpp: float | None,
    permute: bool,
    seed: int,
    device: str,
    quiet: bool,
    field_options: dict[str, int] | None,
    allow_large: bool,
) -> EncodeResult:
    """`encode_image` of read pixels, with `governor` keeping the thread count."""
    from nfcodec.fit.arm_rate import ArmRateModel
    from nfcodec.fit.budget import SHOW_ESTIMATE_ABOVE_SECONDS, check_encode_size
    from nfcodec.fit.presets import preset_named
    from nfcodec.fit.rate import RateModel
    from nfcodec.fit.trainer import fit_field
    from nfcodec.fit.weights import tensor_bits
    from nfcodec.quant import quantize

    height, width, channels = pixels_u8.shape
    if target_bpp is not None and not 0.001 <= target_bpp <= 64:
        raise InputError(f"--target-bpp {target_bpp} outside [0.001, 64]")
    if lmbda is not None and not 0 < lmbda < 10:
        raise InputError(f"--lmbda {lmbda} outside (0, 10)")
    if not 0 <= seed < 2**64:
        raise InputError(f"--seed {seed} outside [0, 2**64)")
    settings = preset_named(preset)
    cost = check_encode_size(height * width, settings.steps, allow_large)
    if not quiet and cost.seconds > SHOW_ESTIMATE_ABOVE_SECONDS:
        print(f"estimate: {cost.describe()}", file=sys.stderr, flush=True)
    dev = resolve_device(device)
    config = default_config(field, height, width, field_options or {})
    coded = permute_pixels(pixels_u8, seed) if permute else pixels_u8
    target = torch.from_numpy(coded.reshape(-1, channels).astype(np.float32) / 255.0).to(dev)

    torch.manual_seed(seed)
    model = build_field(config, height, width, channels).to(dev)
    rate_proxy = RateModel(model.latent_tables(), getattr(config, "context_rows", 0)).to(dev)
    sample = 1.0 if settings.joint_rate else settings.entropy_model_sample  # a rate term: all
    hidden = settings.entropy_model_hidden
    latent_model = ArmRateModel(model.latent_tables(), hidden, sample).to(dev)
    n_pixels = height * width

    layouts = _layouts(model)

    def coded_bits() -> float:
        """Exact-model size of the rounded latents + both networks + container overhead."""
        tables = [
            torch.round(p.detach()).to(torch.int32).cpu().numpy() for p in model.latent_parameters()
        ]
        weights = sum(
            tensor_bits(quantize(p.detach().cpu().numpy(), 8)) for p in model.network_parameters()
        )
        latents = 0.0
        if layouts:  # weight-only fields have no latents and no latent model
            arm = latent_model.to_integer()
            latents = latent_bits_arm(tables, layouts, arm) + 8.0 * len(encode_latent_model(arm))
        return latents + weights + 8.0 * CONTAINER_OVERHEAD_BYTES

    bar = _Bar(quiet, settings.steps)
    try:
        report = fit_field(
            model,
            target,
            rate_proxy,
            settings,
            _start_lmbda(lmbda, target_bpp),
            target_bpp=target_bpp,
            coded_bits=coded_bits,
            progress=None if quiet else bar,
            entropy_model=latent_model,
            pace=governor.update,
        )
    finally:
        bar.close()
    model = model.cpu()
    target = target.cpu()
    latent_symbols = [torch.round(p.detach()).to(torch.int32) for p in model.latent_parameters()]
    latents = [s.to(torch.float32) for s in latent_symbols]

    network = model.network
    layer_input: dict[int, torch.Tensor] = {}  # one entry: the input of the layer searched

    def evaluate_mse(changed: int) -> float:
        """Full-image MSE after network tensor `changed` took a new step.

        The latents are fixed and the layers before `changed`'s own are final, so the input of
        its layer is computed once per layer, not per candidate: from the previous layer's
        input when the search moves one layer on, from the latents when it starts over.
        """
        layer = network.layer_of_parameter(changed)
        governor.update()
        with torch.no_grad():
            if layer not in layer_input:
                if layer - 1 in layer_input:
                    kept = network(layer_input.pop(layer - 1), layer - 1, layer)
                else:
                    layer_input.clear()
                    kept = network(model.features(latents), 0, layer)
                layer_input[layer] = kept
            out = network(layer_input[layer], layer).clamp(0.0, 1.0)
            return float(torch.mean((out - target) ** 2))

    header = Header(
        width=width,
        height=height,
        channels=channels,
        permute=permute,
        seed=seed,
        field_kind=config.kind,
        field_params=config.to_params(),
    )
    latent_sections = _latent_sections([s.numpy() for s in latent_symbols], layouts, latent_model)

    def container(weight_symbols: list[np.ndarray], exponents: list[int]) -> bytes:
        weights = Section(SectionKind.WEIGHTS, encode_weights(weight_symbols, exponents))
        return write_nfc(header, [*latent_sections, weights])

    data = _quantise_network(
        model.network_parameters(),
        evaluate_mse,
        report.lmbda,
        n_pixels,
        container,
        None if target_bpp is None else target_bpp * n_pixels / 8.0,
    )
    fit_done = time.perf_counter()
    decoded = decode_bytes(data, max_pixels=None)  # the caller asked for this image's size
    decode_seconds = time.perf_counter() - fit_done
    if output is not None:
        write_bytes_atomic(output, data)
    return EncodeResult(
        data=data,
        width=width,
        height=height,
        channels=channels,
        field=field,
        config=config.describe(),
        bpp=len(data) * 8.0 / n_pixels,
        psnr=psnr_of(pixels_u8, decoded),
        lmbda=report.lmbda,
        steps=report.steps,
        encode_seconds=fit_done - start,
        fit_seconds=report.seconds,
        decode_seconds=decode_seconds,
    )


DEFAULT_LMBDA = 5e-4
# Measured on Kodak (medium preset): bpp ~ 0.7 * (lambda / 3e-4) ** -0.68, roughly. Used only
# to start rate control near its answer; the controller corrects per image.
_LMBDA_AT_REFERENCE, _BPP_AT_REFERENCE, _BPP_SLOPE = 3e-4, 0.7, 0.68


def _start_lmbda(lmbda: float | None, target_bpp: float | None) -> float:
    if lmbda is not None:
        return lmbda
    if target_bpp is None:
        return DEFAULT_LMBDA
    return _LMBDA_AT_REFERENCE * (target_bpp / _BPP_AT_REFERENCE) ** (-1.0 / _BPP_SLOPE)


def _latent_sections(
    symbol_tables: list[np.ndarray], layouts: list[TableLayout], latent_model: Any
) -> list[Section]:
    """LATENT_MODEL and LATENTS; none for a weight-only field (SPEC section 11)."""
    from nfcodec.fit.arm_rate import coarsen_steps

    if not layouts:
        return []
    arm = coarsen_steps(
        latent_model.to_integer(),
        lambda w: latent_bits_arm(symbol_tables, layouts, w) + 8.0 * len(encode_latent_model(w)),
    )
    return [
        Section(SectionKind.LATENT_MODEL, encode_latent_model(arm)),
        Section(SectionKind.LATENTS, encode_latents_arm(symbol_tables, layouts, arm)),
    ]


def _layouts(model: Field) -> list[TableLayout]:
    return [TableLayout(t.rows, t.features, t.grid_shape) for t in model.latent_tables()]


__all__ = ["EncodeResult", "encode_image", "decode", "read_info"]
