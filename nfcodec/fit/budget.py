"""What an encode will cost, from the image size and preset, and the size refused by default.

The constants are measured by scripts/bench_encode_size.py (numbers and machine in
eval/results/encode-size/NOTES.md): CPU time per optimiser step, the time outside the fit and
peak memory, each a straight line in the pixel count. Times are for one core and the fast
preset's batches; more cores or a GPU take less.
"""

from __future__ import annotations

from dataclasses import dataclass

from nfcodec.errors import InputError

# seconds per step = STEP_SECONDS[0] + STEP_SECONDS[1] * megapixels (CPU, one fit process)
STEP_SECONDS = (0.0047, 0.047)
# seconds outside the fit (start-up, quantisation search, own decode), same form
OTHER_SECONDS = (2.35, 13.0)
# peak resident memory in MB = PEAK_MB[0] + PEAK_MB[1] * megapixels while the latent tables
# grow with the image (dense finest level, up to 2**22 rows: about 4.2 Mpx) ...
PEAK_MB = (474.0, 437.0)
TABLES_STOP_GROWING_MPX = 4.19
# ... and this many MB per further megapixel once they are capped: issue 17 measured 3.8 GB
# for a 67 Mpx encode (fast preset), (3800 - 2305) / (67.1 - 4.19) MB per Mpx.
CAPPED_TABLES_MB_PER_MPX = 24.0
# Largest image encoded without --allow-large: 2048 x 2048.
DEFAULT_MAX_ENCODE_PIXELS = 1 << 22
SHOW_ESTIMATE_ABOVE_SECONDS = 60.0


@dataclass(frozen=True)
class EncodeEstimate:
    megapixels: float
    seconds: float
    peak_mb: float

    def describe(self) -> str:
        minutes = self.seconds / 60
        duration = f"{minutes:.0f} min" if minutes >= 2 else f"{self.seconds:.0f} s"
        return (
            f"{self.megapixels:.1f} Mpx: expect about {duration} on one CPU core and "
            f"{self.peak_mb / 1024:.1f} GB of memory"
        )


def estimate(pixels: int, steps: int) -> EncodeEstimate:
    megapixels = pixels / 1e6
    per_step = STEP_SECONDS[0] + STEP_SECONDS[1] * megapixels
    other = OTHER_SECONDS[0] + OTHER_SECONDS[1] * megapixels
    seconds = steps * per_step + other
    growing = min(megapixels, TABLES_STOP_GROWING_MPX)
    peak_mb = PEAK_MB[0] + PEAK_MB[1] * growing
    peak_mb += CAPPED_TABLES_MB_PER_MPX * max(0.0, megapixels - TABLES_STOP_GROWING_MPX)
    return EncodeEstimate(megapixels, seconds, peak_mb)


def check_encode_size(pixels: int, steps: int, allow_large: bool) -> EncodeEstimate:
    """The estimate; refused (InputError) above DEFAULT_MAX_ENCODE_PIXELS unless allowed."""
    cost = estimate(pixels, steps)
    if pixels > DEFAULT_MAX_ENCODE_PIXELS and not allow_large:
        raise InputError(
            f"image of {pixels} pixels is over the {DEFAULT_MAX_ENCODE_PIXELS}-pixel encode "
            f"limit ({cost.describe()}); pass --allow-large / allow_large=True to encode it"
        )
    return cost
