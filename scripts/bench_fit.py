"""Fitting benchmark for "Fast fitting on a 2-core CPU": fast vs naive kernels, time to PSNR.

    python scripts/bench_fit.py                       # kodim01/05/15/23, medium preset
    python scripts/bench_fit.py --quick               # 2 images, 60 steps: a smoke run
    python scripts/bench_fit.py --images kodim23 --steps 500 --naive-steps 100 --no-rpp

Both implementations are measured in the same process, one after the other on each image:
"fast" is the default code path (numba grid kernel, fused numba rate kernel); "naive" swaps in
the torch reference lookup (`grid_features(..., backend="torch")`) and the plain torch rate
model (`RateModel(fused=False)`). The naive path is slow, so it runs only `--naive-steps` steps
(a shortened schedule of the same preset); its per-step numbers are reported as measured and
nothing is extrapolated. With `--rpp` (default) the fast implementation also fits the
pixel-permuted image so time-to-quality with and without RPP can be compared.

Every `--eval-every` steps the full-image PSNR of the field with rounded latents is measured
(8-bit output, as a decoder would render it before weight quantisation); that evaluation is
excluded from every clock. The markdown report goes to stdout and to `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "kodak"
DEFAULT_OUT = REPO / "eval" / "results" / "bench_fit.md"
DEFAULT_IMAGES = ("kodim01", "kodim05", "kodim15", "kodim23")
QUICK_IMAGES = ("kodim01", "kodim23")
QUICK_STEPS = 60
DEFAULT_TARGETS = (30.0, 35.0, 40.0)
DEFAULT_LMBDA = 2e-4  # low enough that 40 dB is reachable on Kodak with the medium preset
RPP_SEED = 1
WARMUP_STEPS = 4  # two soft + two hard steps: loads the numba caches, builds the grid plans
COPY_REPS = 5
IMPLEMENTATIONS = ("fast", "naive")
FLOAT_BYTES = 4
INDEX_BYTES = 8


# Clock and autograd stamps -----------------------------------------------------------------


class Clock:
    """perf_counter minus the time spent paused, so evaluation never counts as fitting."""

    def __init__(self) -> None:
        self.paused = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.paused

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - start


class _Stamp(torch.autograd.Function):
    """Identity whose backward calls a hook: marks when gradients reach a point of the graph.

    CPU autograd runs on the calling thread, nodes in decreasing creation order, so the
    interval between two stamps' backward calls is the backward of the ops created between them.
    """

    @staticmethod
    def forward(ctx: Any, hook: Callable[[], None], *tensors: torch.Tensor) -> Any:  # type: ignore[override]
        ctx.hook = hook
        views = tuple(t.view_as(t) for t in tensors)
        return views if len(views) > 1 else views[0]

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:  # type: ignore[override]
        ctx.hook()
        return (None, *grads)


def stamp(hook: Callable[[], None], tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Apply `_Stamp` to several tensors at once (one node: it fires when all grads are in)."""
    out = _Stamp.apply(hook, *tensors)
    return list(out) if isinstance(out, tuple) else [out]


# Instrumentation ---------------------------------------------------------------------------


@dataclass
class PhaseTimes:
    """Seconds spent in each part of the steps of one training phase."""

    steps: int = 0
    grid_fwd: float = 0.0
    grid_bwd: float = 0.0
    mlp_fwd: float = 0.0
    mlp_bwd: float = 0.0
    rate_fwd: float = 0.0
    rate_bwd: float = 0.0


class Instrument:
    """Thin timing wrappers around the grid lookup, the field's render and the rate model.

    Forward times are perf_counter intervals around the calls (torch CPU ops are synchronous);
    backward times come from stamps placed on the inputs and outputs of each part.
    """

    def __init__(self, backend: str, hard_from: int, clock: Clock) -> None:
        self.backend = backend
        self.hard_from = hard_from
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget everything measured so far (after the warm-up)."""
        self.active = False
        self.calls = 0  # render calls while active = training steps begun
        self.hard_start: float | None = None  # clock when the first hard step began
        self.soft = PhaseTimes()
        self.hard = PhaseTimes()
        self._last_grid_fwd = 0.0
        self._t_render_out = self._t_grid_out = self._t_rate_out = 0.0

    @property
    def phase(self) -> PhaseTimes:
        return self.soft if self.calls <= self.hard_from else self.hard

    # backward hooks
    def _render_out(self) -> None:
        self._t_render_out = time.perf_counter()

    def _grid_out(self) -> None:
        self._t_grid_out = time.perf_counter()
        self.phase.mlp_bwd += self._t_grid_out - self._t_render_out

    def _grid_in(self) -> None:
        self.phase.grid_bwd += time.perf_counter() - self._t_grid_out

    def _rate_out(self) -> None:
        self._t_rate_out = time.perf_counter()

    def _rate_in(self) -> None:
        self.phase.rate_bwd += time.perf_counter() - self._t_rate_out

    # wrappers
    def grid(self, lookup: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """Replacement for hashgrid's `grid_features`: picks the backend and times it."""

        def timed(tables: Sequence[torch.Tensor], *args: Any, **kwargs: Any) -> torch.Tensor:
            kwargs.setdefault("backend", self.backend if self.active else "auto")
            if not self.active:
                return lookup(tables, *args, **kwargs)
            tables = stamp(self._grid_in, tables)
            start = time.perf_counter()
            out = lookup(tables, *args, **kwargs)
            self._last_grid_fwd = time.perf_counter() - start
            self.phase.grid_fwd += self._last_grid_fwd
            return stamp(self._grid_out, [out])[0]

        return timed

    def render(self, render: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """Replacement for the field's bound `render`: counts steps; MLP = render - grid."""

        def timed(latents: list[torch.Tensor], pixels: torch.Tensor | None = None) -> torch.Tensor:
            if not self.active:
                return render(latents, pixels)
            self.calls += 1
            if self.calls == self.hard_from + 1:
                self.hard_start = self.clock.now()
            self.phase.steps += 1
            self._last_grid_fwd = 0.0
            start = time.perf_counter()
            out = render(latents, pixels)
            self.phase.mlp_fwd += time.perf_counter() - start - self._last_grid_fwd
            return stamp(self._render_out, [out])[0]

        return timed

    def rate(self, bits: Callable[[list[torch.Tensor]], torch.Tensor]) -> Callable[..., Any]:
        """Replacement for the rate model's bound `bits`."""

        def timed(latents: list[torch.Tensor]) -> torch.Tensor:
            if not self.active:
                return bits(latents)
            latents = stamp(self._rate_in, latents)
            start = time.perf_counter()
            out = bits(latents)
            self.phase.rate_fwd += time.perf_counter() - start
            return stamp(self._rate_out, [out])[0]

        return timed


@contextlib.contextmanager
def patched_grid(instrument: Instrument) -> Iterator[None]:
    """Route HashGridField.render's lookup through the instrument (and its backend)."""
    import nfcodec.fields.hashgrid as hashgrid

    original = hashgrid.grid_features
    hashgrid.grid_features = instrument.grid(original)
    try:
        yield
    finally:
        hashgrid.grid_features = original


# One fit -----------------------------------------------------------------------------------


@dataclass
class RunResult:
    """Measurements of one fit of one image with one implementation."""

    image: str
    run: str  # "fast", "naive" or "fast+RPP"
    steps: int
    soft_steps: int
    batch: int
    pixels: int
    levels: int
    features: int
    table_rows: int
    wall_s: float
    soft_s: float
    hard_s: float
    soft: PhaseTimes
    hard: PhaseTimes
    targets: dict[float, tuple[float, int] | None] = field(default_factory=dict)
    final_psnr: float = math.nan
    rate_bpp: float = math.nan

    @property
    def steps_per_s(self) -> float:
        return self.soft_steps / self.soft_s if self.soft_s > 0 else math.nan

    @property
    def grid_fb_s(self) -> float:
        return self.soft.grid_fwd + self.soft.grid_bwd

    @property
    def grid_fb_ms_per_step(self) -> float:
        return 1e3 * self.grid_fb_s / max(1, self.soft.steps)

    @property
    def lookups_per_s(self) -> float:
        lookups = self.batch * self.levels * self.soft.steps
        return lookups / self.grid_fb_s if self.grid_fb_s > 0 else math.nan

    @property
    def grid_bytes_per_step(self) -> int:
        """Compulsory traffic of one soft-phase grid forward+backward (see the report notes)."""
        tables = self.table_rows * self.features * FLOAT_BYTES
        features = self.batch * self.levels * self.features * FLOAT_BYTES
        return 2 * (tables + features) + 2 * self.batch * INDEX_BYTES

    @property
    def grid_gbs(self) -> float:
        if self.grid_fb_s <= 0:
            return math.nan
        return self.grid_bytes_per_step * self.soft.steps / self.grid_fb_s / 1e9

    def shares(self) -> dict[str, float]:
        """Shares of the soft-phase step time: grid, MLP, rate, everything else."""
        parts = {
            "grid": self.grid_fb_s,
            "mlp": self.soft.mlp_fwd + self.soft.mlp_bwd,
            "rate": self.soft.rate_fwd + self.soft.rate_bwd,
        }
        total = self.soft_s if self.soft_s > 0 else math.nan
        shares = {name: value / total for name, value in parts.items()}
        shares["other"] = 1.0 - sum(shares.values())
        return shares

    @property
    def hard_s_per_step(self) -> float:
        hard_steps = self.steps - self.soft_steps
        return self.hard_s / hard_steps if hard_steps else math.nan


def rounded_psnr(model: Any, target_u8: torch.Tensor) -> float:
    """Full-image PSNR (dB, 8-bit) of the field rendered from its rounded latents."""
    with torch.no_grad():
        latents = [torch.round(p.detach()) for p in model.latent_parameters()]
        out = torch.round(model.render(latents).clamp(0.0, 1.0) * 255.0)
        mse = float(torch.mean((out - target_u8) ** 2))
    return 10.0 * math.log10(255.0**2 / max(mse, 1e-10))


def _build(pixels: np.ndarray, fused: bool, seed: int) -> tuple[Any, Any, Any]:
    """The default hashgrid field for this image, its rate model and config, seeded."""
    from nfcodec.codec import default_config
    from nfcodec.fields.registry import build_field
    from nfcodec.fit.rate import RateModel

    height, width, channels = pixels.shape
    config = default_config("hashgrid", height, width, {})
    torch.manual_seed(seed)
    model = build_field(config, height, width, channels)
    rate_model = RateModel(model.latent_tables(), config.context_rows, fused=fused)
    return model, rate_model, config


def fit_once(
    image: str,
    run: str,
    pixels: np.ndarray,
    implementation: str,
    settings: Any,
    lmbda: float,
    targets: Sequence[float],
    eval_every: int,
    seed: int,
) -> RunResult:
    """Warm up, then fit one image with one implementation, timing every part of each step."""
    from nfcodec.fit.trainer import fit_field

    naive = implementation == "naive"
    backend = "torch" if naive else "auto"
    height, width, channels = pixels.shape
    n = height * width
    target = torch.from_numpy(pixels.reshape(n, channels).astype(np.float32) / 255.0)
    target_u8 = torch.round(target * 255.0)
    hard_from = int(settings.steps * (1.0 - settings.hard_fraction))
    clock = Clock()
    instrument = Instrument(backend, hard_from, clock)

    with patched_grid(instrument):
        # Warm-up on a throwaway field: numba cache loads and plan building stay off the clock.
        warm, warm_rate, _ = _build(pixels, not naive, seed)
        warm_preset = replace(settings, steps=WARMUP_STEPS, hard_fraction=0.5)
        instrument.active = True
        fit_field(warm, target, warm_rate, warm_preset, lmbda)
        instrument.reset()

        model, rate_model, config = _build(pixels, not naive, seed)
        model.render = instrument.render(model.render)
        rate_model.bits = instrument.rate(rate_model.bits)
        reached: dict[float, tuple[float, int] | None] = dict.fromkeys(targets)

        def evaluate(progress: Any) -> None:
            with clock.pause():
                instrument.active = False
                try:
                    psnr = rounded_psnr(model, target_u8)
                finally:
                    instrument.active = True
                elapsed = clock.now() - start
                for t in targets:
                    if reached[t] is None and psnr >= t:
                        reached[t] = (elapsed, progress.step)

        torch.manual_seed(seed)
        instrument.active = True
        start = clock.now()
        fit_field(
            model, target, rate_model, settings, lmbda, progress=evaluate,
            progress_every=eval_every,
        )  # fmt: skip
        end = clock.now()
        instrument.active = False
        final_psnr = rounded_psnr(model, target_u8)
        with torch.no_grad():
            latents = [torch.round(p.detach()) for p in model.latent_parameters()]
            rate_bpp = float(rate_model.bits(latents)) / n

    hard_start = instrument.hard_start if instrument.hard_start is not None else end
    return RunResult(
        image=image,
        run=run,
        steps=settings.steps,
        soft_steps=min(hard_from, settings.steps),
        batch=max(1, int(n * settings.batch_fraction)) if settings.batch_fraction < 1 else n,
        pixels=n,
        levels=config.levels,
        features=config.features,
        table_rows=sum(t.rows for t in model.latent_tables()),
        wall_s=end - start,
        soft_s=hard_start - start,
        hard_s=end - hard_start,
        soft=instrument.soft,
        hard=instrument.hard,
        targets=reached,
        final_psnr=final_psnr,
        rate_bpp=rate_bpp,
    )


# Machine -----------------------------------------------------------------------------------


def copy_bandwidth(mib: int, reps: int = COPY_REPS) -> float:
    """GB/s of a large numpy float32 copy (bytes read + bytes written), best of `reps`."""
    src = np.ones(mib * 2**20 // FLOAT_BYTES, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def machine_lines(argv: Sequence[str], bandwidth: float, copy_mib: int) -> list[str]:
    """Who/what/when of the run, for the report header."""
    import numba

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 0
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    command = shlex.join(["python", "scripts/bench_fit.py", *argv])
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- command: `{command}`",
        f"- machine: {platform.machine()} {platform.processor() or ''}".rstrip()
        + f", os.cpu_count {os.cpu_count()}, usable cores {cores}, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()}",
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"numba {numba.__version__}, numpy {np.__version__}, git {commit or 'unknown'}",
        f"- machine copy bandwidth (numpy copy of {copy_mib} MiB, read + write, best of "
        f"{COPY_REPS}): {bandwidth:.2f} GB/s",
    ]


# Report ------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    """`digits` significant digits (tiny test fits give tiny numbers), whole numbers above 1000."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def _db(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%" if math.isfinite(value) else "n/a"


def _reached(value: tuple[float, int] | None) -> str:
    return "not reached" if value is None else f"{value[0]:.2f} s (step {value[1]})"


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def speed_table(results: Sequence[RunResult], bandwidth: float) -> list[str]:
    """Per-step speed of every run (soft phase unless a column says otherwise)."""
    lines = [
        "| image | run | steps run | batch px | steps/s | wall s | grid fwd ms | grid bwd ms "
        "| Mlookups/s | grid GB/s | % copy BW | grid % | MLP % | rate % | other % "
        "| hard s/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        steps = max(1, r.soft.steps)
        shares = r.shares()
        lines.append(
            f"| {r.image} | {r.run} | {r.steps} | {r.batch} | {_fmt(r.steps_per_s)} "
            f"| {_fmt(r.wall_s)} | {_fmt(1e3 * r.soft.grid_fwd / steps)} "
            f"| {_fmt(1e3 * r.soft.grid_bwd / steps)} | {_fmt(r.lookups_per_s / 1e6)} "
            f"| {_fmt(r.grid_gbs)} | {_pct(_ratio(r.grid_gbs, bandwidth))} "
            f"| {_pct(shares['grid'])} | {_pct(shares['mlp'])} | {_pct(shares['rate'])} "
            f"| {_pct(shares['other'])} | {_fmt(r.hard_s_per_step)} |"
        )
    return lines


def speedup_table(results: Sequence[RunResult]) -> list[str]:
    """fast / naive ratios per image, and their geometric mean."""
    by_key = {(r.image, r.run): r for r in results}
    images = list(dict.fromkeys(r.image for r in results))
    lines = [
        "| image | fast steps/s | naive steps/s | speed-up steps/s | fast grid fwd+bwd ms "
        "| naive grid fwd+bwd ms | speed-up grid fwd+bwd |",
        "|---|---|---|---|---|---|---|",
    ]
    step_ratios, grid_ratios = [], []
    for image in images:
        fast, naive = by_key.get((image, "fast")), by_key.get((image, "naive"))
        if fast is None or naive is None:
            continue
        steps = _ratio(fast.steps_per_s, naive.steps_per_s)
        grid = _ratio(naive.grid_fb_ms_per_step, fast.grid_fb_ms_per_step)
        step_ratios.append(steps)
        grid_ratios.append(grid)
        lines.append(
            f"| {image} | {_fmt(fast.steps_per_s)} | {_fmt(naive.steps_per_s)} "
            f"| {_fmt(steps)}x | {_fmt(fast.grid_fb_ms_per_step)} "
            f"| {_fmt(naive.grid_fb_ms_per_step)} | {_fmt(grid)}x |"
        )
    if len(step_ratios) > 1:
        lines.append(
            f"| geometric mean | | | {_fmt(_geomean(step_ratios))}x | | "
            f"| {_fmt(_geomean(grid_ratios))}x |"
        )
    return lines


def _geomean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    return math.exp(sum(map(math.log, finite)) / len(finite)) if finite else math.nan


def targets_table(results: Sequence[RunResult], targets: Sequence[float]) -> list[str]:
    """Fit seconds (evaluation excluded) until the rounded-latent PSNR first reached each target."""
    head = " | ".join(f"{t:g} dB" for t in targets)
    lines = [
        f"| image | run | steps run | {head} | final PSNR dB | rate-model bpp |",
        "|---|---|---|" + "---|" * len(targets) + "---|---|",
    ]
    for r in results:
        cells = " | ".join(_reached(r.targets.get(t)) for t in targets)
        lines.append(
            f"| {r.image} | {r.run} | {r.steps} | {cells} | {_db(r.final_psnr)} "
            f"| {_fmt(r.rate_bpp)} |"
        )
    return lines


def rpp_table(results: Sequence[RunResult], targets: Sequence[float]) -> list[str]:
    """Fast implementation with and without RPP, side by side."""
    by_key = {(r.image, r.run): r for r in results}
    head = " | ".join(f"{t:g} dB plain / RPP" for t in targets)
    lines = [
        f"| image | {head} | final PSNR plain / RPP | rate-model bpp plain / RPP |",
        "|---|" + "---|" * len(targets) + "---|---|",
    ]
    for image in dict.fromkeys(r.image for r in results):
        plain, rpp = by_key.get((image, "fast")), by_key.get((image, "fast+RPP"))
        if plain is None or rpp is None:
            continue
        cells = " | ".join(
            f"{_reached(plain.targets.get(t))} / {_reached(rpp.targets.get(t))}" for t in targets
        )
        lines.append(
            f"| {image} | {cells} | {_db(plain.final_psnr)} / {_db(rpp.final_psnr)} "
            f"| {_fmt(plain.rate_bpp)} / {_fmt(rpp.rate_bpp)} |"
        )
    return lines


NOTES = """\
Notes
- All runs are in this one process, in the order fast, naive, fast+RPP per image, each after a
  {warmup}-step warm-up fit on a throwaway field (numba cache loads stay off the clock); the
  torch seed is the same for every run, so fast and naive draw the same batches and noise.
- fast = default path (numba grid kernel, fused numba rate kernel); naive = grid lookup with
  `backend="torch"` (gather + index_add reference) and `RateModel(fused=False)`.
- naive runs only its `steps run` steps: the same preset with `steps` shortened, so its
  schedule (cosine decay, final rounded phase) is compressed. Its per-step numbers are as
  measured; nothing is extrapolated, and its time-to-target row is not comparable to fast's.
- steps/s: soft-phase steps / soft-phase seconds. wall s: fit seconds from the first step to the
  end of the run, all phases. Both exclude the PSNR evaluations.
- grid fwd / bwd ms: per soft step, the lookup forward (perf_counter around `grid_features`)
  and its backward (between autograd stamps on its output and on its input tables).
- Mlookups/s: batch px x levels x soft steps / soft-phase grid fwd+bwd seconds (one lookup =
  one pixel at one level, its 4 corners interpolated, forward and backward).
- grid GB/s: byte model per soft step = 2 x (tables read in forward: total table rows x F x 4
  B, + features written: batch x levels x F x 4 B) [the backward reads as many feature
  gradients and writes as many table-gradient bytes] + 2 x batch x 8 B of pixel indices; divided
  by grid fwd+bwd time. It is compulsory traffic only (random gathers move whole cache lines),
  so it understates the real traffic. % copy BW: that over the machine's copy bandwidth above.
- grid / MLP / rate / other %: shares of soft-phase step time. MLP = render time minus grid
  forward, plus the backward between the render-output and grid-output stamps; rate = the rate
  model's `bits` forward plus its backward between stamps; other = loss, noise, batch draw,
  optimiser. hard s/step: seconds per step of the final phase (frozen rounded latents, the
  preset's hard-phase batch, network only; no grid or rate backward runs there).
- Batches: stratified pixel indices (one per equal stratum of the raster order, so sorted),
  drawn by the trainer for every run alike.
- Targets: every {every} steps the full-image PSNR of the field with rounded latents (8-bit
  output; network weights not quantised) is measured under no_grad, off the clock; a cell is
  the fit time (and step) of the first evaluation at or above the target.
- RPP: the fast implementation fits `permute_pixels(image, seed={rpp_seed})`; PSNR does not
  depend on pixel order. No real encode is made: the final rounded-latent PSNR and the rate
  model's estimate of the latents' bits per pixel (network weights and container excluded) are
  reported instead.
"""


def build_report(
    argv: Sequence[str],
    args: argparse.Namespace,
    settings: Any,
    bandwidth: float,
    results: Sequence[RunResult],
) -> str:
    """The whole markdown report."""
    lines = ["# Fitting benchmark: fast vs naive, time to PSNR", ""]
    lines += machine_lines(argv, bandwidth, args.copy_mib)
    lines += [
        f"- settings: preset {args.preset} ({settings.steps} steps, batch fraction "
        f"{settings.batch_fraction}, hard fraction {settings.hard_fraction}), lambda "
        f"{args.lmbda:g}, naive steps {min(args.naive_steps, settings.steps)}, eval every "
        f"{args.eval_every}, torch seed {args.seed}, field hashgrid (default config)",
        "",
        "## Speed per step (soft phase)",
        "",
        *speed_table(results, bandwidth),
        "",
        "## Speed-up fast / naive",
        "",
        *speedup_table(results),
        "",
        "## Time to PSNR targets (rounded latents)",
        "",
        *targets_table(results, args.targets),
        "",
    ]
    if args.rpp:
        lines += ["## Random pixel permutation (fast)", "", *rpp_table(results, args.targets), ""]
    lines.append(
        NOTES.format(warmup=WARMUP_STEPS, every=args.eval_every, rpp_seed=RPP_SEED).rstrip()
    )
    return "\n".join(lines) + "\n"


# Entry point -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--images", nargs="+", default=None, help="names without .png")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--lmbda", type=float, default=DEFAULT_LMBDA)
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--naive-steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--targets", type=float, nargs="+", default=list(DEFAULT_TARGETS))
    parser.add_argument(
        "--rpp", action=argparse.BooleanOptionalAction, default=True,
        help="also fit the pixel-permuted image with the fast implementation",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="torch seed of every run")
    parser.add_argument("--copy-mib", type=int, default=256, help="size of the bandwidth copy")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="2 images, 60 steps")
    args = parser.parse_args(argv)
    if args.images is None:
        args.images = list(QUICK_IMAGES if args.quick else DEFAULT_IMAGES)
    if args.steps is None and args.quick:
        args.steps = QUICK_STEPS
    for name in ("steps", "naive_steps", "eval_every", "copy_mib"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def load_images(dataset: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read every requested picture up front, so a missing one fails before any timing."""
    from nfcodec.io import read_image

    images = {}
    for name in names:
        path = dataset / (name if name.endswith(".png") else f"{name}.png")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such image")
        images[Path(name).stem] = read_image(path)
    return images


def main(argv: Sequence[str] | None = None) -> int:
    from nfcodec.fit.presets import preset_named
    from nfcodec.transforms import permute_pixels

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        images = load_images(args.dataset, args.images)
        settings = preset_named(args.preset)
    except (FileNotFoundError, ValueError) as exc:
        print(f"bench_fit: {exc}", file=sys.stderr)
        return 2
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    naive_settings = replace(settings, steps=min(args.naive_steps, settings.steps))
    bandwidth = copy_bandwidth(args.copy_mib)
    results: list[RunResult] = []
    common = {"lmbda": args.lmbda, "targets": args.targets, "eval_every": args.eval_every}
    for name, pixels in images.items():
        runs = [("fast", pixels, "fast", settings), ("naive", pixels, "naive", naive_settings)]
        if args.rpp:
            runs.append(("fast+RPP", permute_pixels(pixels, RPP_SEED), "fast", settings))
        for run, image, implementation, preset in runs:
            print(f"bench_fit: {name} {run} ({preset.steps} steps)", file=sys.stderr, flush=True)
            results.append(
                fit_once(name, run, image, implementation, preset, seed=args.seed, **common)
            )
    report = build_report(argv, args, settings, bandwidth, results)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
