"""Encode: image -> (permute) -> fit field -> quantise -> entropy-code -> .nfc bytes; decode: back.

The encoder decodes its own bytes with the real decoder and reports bpp from their length and
PSNR from the decoded pixels, so the numbers it prints are the numbers a user gets.
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

from nfcodec.container import Header, NfcFile, NfcInfo, Section, SectionKind, read_nfc, write_nfc
from nfcodec.container import read_info as _read_info
from nfcodec.container.reader import read_info_source, read_nfc_path
from nfcodec.container.spec import FIELD_PARAMS, FieldKind
from nfcodec.errors import CorruptStream, InputError
from nfcodec.fields.base import Field, FieldConfig
from nfcodec.fields.registry import build_field, field_class, field_class_for_kind, name_of
from nfcodec.io import read_image, write_bytes_atomic, write_png
from nfcodec.limits import DEFAULT_MAX_PIXELS, check_decode_budget
from nfcodec.metrics import psnr as psnr_of
from nfcodec.pixels import samples_to_uint8
from nfcodec.quant import dequantize
from nfcodec.sections import (
    TableLayout,
    decode_latent_model,
    decode_latents,
    decode_latents_arm,
    decode_weights,
    encode_latent_model,
    encode_latents_arm,
    encode_weights,
    latent_bits_arm,
    plane_shapes,
)
from nfcodec.transforms import permute_pixels, unpermute_pixels

RENDER_CHUNK = 1 << 16  # pixels per decoder forward pass: bounds memory, fixes the maths order
MAX_LATENTS_PER_PIXEL = 16  # decoder bound on table rows x features relative to the image
MAX_LATENTS = 1 << 27
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
    """Progress line on stderr: step, PSNR, estimated bpp, lambda, elapsed."""

    def __init__(self, quiet: bool, steps: int) -> None:
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, file=sys.stderr, desc="fit", unit="step", leave=False)

    def __call__(self, p: Any) -> None:
        if self.bar is not None:
            self.bar.n = p.step
            self.bar.set_postfix_str(
                f"PSNR {p.psnr:5.2f} dB, ~{p.bpp:.3f} bpp, lambda {p.lmbda:.2e}"
            )

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
) -> EncodeResult:
    """Encode `image` (path or uint8 array) and optionally write the .nfc to `output` atomically.

    Images over `nfcodec.fit.budget.DEFAULT_MAX_ENCODE_PIXELS` are refused unless `allow_large`;
    unless `quiet`, the time and memory estimate is shown before a long encode starts.
    """
    from nfcodec.fit.arm_rate import ArmRateModel, coarsen_steps
    from nfcodec.fit.budget import SHOW_ESTIMATE_ABOVE_SECONDS, check_encode_size
    from nfcodec.fit.presets import preset_named
    from nfcodec.fit.rate import RateModel
    from nfcodec.fit.trainer import fit_field
    from nfcodec.fit.weights import tensor_bits
    from nfcodec.quant import quantize

    start = time.perf_counter()
    pixels_u8 = _as_image(image)
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
    latent_model = ArmRateModel(
        model.latent_tables(), settings.entropy_model_hidden, settings.entropy_model_sample
    ).to(dev)
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
            progress=bar,
            entropy_model=latent_model,
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
    symbol_tables = [s.numpy() for s in latent_symbols]
    arm = coarsen_steps(
        latent_model.to_integer(),
        lambda w: latent_bits_arm(symbol_tables, layouts, w) + 8.0 * len(encode_latent_model(w)),
    )
    model_section = Section(SectionKind.LATENT_MODEL, encode_latent_model(arm))
    latent_section = Section(
        SectionKind.LATENTS,
        encode_latents_arm(symbol_tables, layouts, arm),
    )

    def container(weight_symbols: list[np.ndarray], exponents: list[int]) -> bytes:
        weights = Section(SectionKind.WEIGHTS, encode_weights(weight_symbols, exponents))
        return write_nfc(header, [model_section, latent_section, weights])

    data = _quantise_network(
        model.network_parameters(),
        evaluate_mse,
        report.lmbda,
        n_pixels,
        container,
        None if target_bpp is None else target_bpp * n_pixels / 8.0,
    )
    fit_done = time.perf_counter()
    decoded = decode(data, max_pixels=None)  # the caller asked for this image's size
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


def _layouts(model: Field) -> list[TableLayout]:
    return [TableLayout(t.rows, t.features, t.grid_shape) for t in model.latent_tables()]


def _load_nfc(source: Any, max_pixels: int | None) -> NfcFile:
    """Parse bytes or a path (read in bounded pieces), refusing it over budget from its header."""

    def check(header: Header) -> None:
        check_decode_budget(header, max_pixels)

    if isinstance(source, (bytes, bytearray, memoryview)):
        check(_read_info(source).header)  # header-only view: payloads are not copied
        return read_nfc(source)
    return read_nfc_path(source, check_header=check)


def decode(
    source: Any,
    output: Any = None,
    *,
    device: str = "cpu",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode .nfc bytes or a path into uint8 (H, W, C); write a PNG to `output` if given.

    A file whose image exceeds `max_pixels`, or whose synthesis work exceeds that limit's
    budget (`nfcodec.limits`), is refused with LimitExceeded before any payload is read;
    `max_pixels=None` lifts the limit.
    """
    nfc = _load_nfc(source, max_pixels)
    header = nfc.header
    cls = field_class_for_kind(header.field_kind)
    config = cls.config_type.from_params(header.field_params)
    model = _build_bounded(config, header)
    layouts = _layouts(model)
    if nfc.major >= 2:
        arm = decode_latent_model(nfc.section(SectionKind.LATENT_MODEL), len(plane_shapes(layouts)))
        tables = decode_latents_arm(nfc.section(SectionKind.LATENTS), layouts, arm)
    else:
        tables = decode_latents(
            nfc.section(SectionKind.LATENTS), layouts, getattr(config, "context_rows", 0)
        )
    params = model.network_parameters()
    weights, exponents = decode_weights(
        nfc.section(SectionKind.WEIGHTS), [p.numel() for p in params]
    )
    with torch.no_grad():
        for param, symbols, exponent in zip(params, weights, exponents, strict=True):
            param.copy_(torch.from_numpy(dequantize(symbols, exponent)).view_as(param))
    latents = [torch.from_numpy(t.astype(np.float32)) for t in tables]
    image = render_image(model, latents)
    if header.permute:
        image = unpermute_pixels(image, header.seed)
    if output is not None:
        write_png(image, output)
    return image


def _build_bounded(config: FieldConfig, header: Header) -> Field:
    """Build the decoder's field (network only) once its latent tables are known to be sane."""
    if config.kind == FieldKind.HASHGRID and (
        config.coarsest_resolution > config.finest_resolution  # type: ignore[attr-defined]
    ):
        raise CorruptStream("corrupt header: coarsest resolution above finest")
    model = build_field(config, header.height, header.width, header.channels, with_latents=False)
    latents = sum(t.rows * t.features for t in model.latent_tables())
    limit = min(MAX_LATENTS, MAX_LATENTS_PER_PIXEL * header.pixels + (1 << 16))
    if latents > limit:
        raise CorruptStream(f"header asks for {latents} latents, more than {limit} allowed")
    return model


def render_image(model: Field, latents: list[torch.Tensor]) -> np.ndarray:
    """Render all pixels in fixed-size chunks and round to 8 bits (row-major (H, W, C)).

    Rounding follows `samples_to_uint8`, which defines NaN and infinities.
    """
    n = model.height * model.width
    out = np.empty((n, model.channels), dtype=np.uint8)
    with torch.no_grad():
        for begin in range(0, n, RENDER_CHUNK):
            index = torch.arange(begin, min(n, begin + RENDER_CHUNK), dtype=torch.int64)
            colours = model.render(latents, index).numpy()
            out[begin : begin + index.numel()] = samples_to_uint8(colours)
    return out.reshape(model.height, model.width, model.channels)


def read_info(source: Any) -> NfcInfo:
    return read_info_source(source)


def field_name(kind: FieldKind) -> str:
    return name_of(field_class_for_kind(kind))


__all__ = ["EncodeResult", "encode_image", "decode", "read_info", "render_image"]
