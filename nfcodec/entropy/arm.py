"""The autoregressive latent entropy model of format 2 (numpy + numba; no torch).

Every latent plane is coded in raster order. For each latent, a small integer MLP reads the
already-decoded neighbours in the 5x5 causal window (`CONTEXT_OFFSETS`) and their magnitudes
(activity, which sets the scale on sparse levels, is a sum of magnitudes that a narrow ReLU
layer cannot form from signed inputs alone) and predicts a mean (in
1/16 units) and a scale class; the symbol is coded with rANS under the discretised Laplace of that
mean and scale, from integer tables built here by integer arithmetic only. Values more than
`RADIUS` from the mean's integer part escape to an Exp-Golomb code of equiprobable bits.
The idea is Cool-chic's ARM (Ladune et al., "COOL-CHIC", ICCV 2023; fixed-point inference as in
their later releases); the rules here are this project's, and bitstream/SPEC.md is normative.

This module owns the context rule and the coder calls. The training-time rate of the same
model (float, differentiable) lives in `nfcodec.fit.arm_rate`, which reads its constants here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from nfcodec.entropy.rans import (
    PRECISION,
    rans_advance,
    rans_encode,
    rans_slot,
    rans_start,
)
from nfcodec.errors import CorruptStream, InputError

# (row, column) offsets of the causal context, in input order: two full rows above, two left.
CONTEXT_OFFSETS = np.array(
    [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
     (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
     (0, -2), (0, -1)],
    dtype=np.int64,
)  # fmt: skip
CONTEXT_SIZE = len(CONTEXT_OFFSETS)
INPUT_SIZE = 2 * CONTEXT_SIZE  # the neighbours, then their magnitudes
WEIGHT_EXPONENT = 8  # every ARM parameter is an integer in units of 2**-8
MAX_HIDDEN = 32
MAX_PARAMETER = 1 << 16  # |integer parameter| bound, so no sum can overflow int64
CONTEXT_CLIP = 1 << 15  # neighbours are clipped to +-this before the MLP
HIDDEN_CLIP = 1 << 35
MAX_LATENT = 1 << 20  # |coded latent| bound
MU_STEPS = 16  # mean resolution: 1/16
MU_LIMIT = MAX_LATENT * MU_STEPS
NUM_SCALES = 64
SCALE_OFFSET = 24  # class k has scale 2 ** ((k - 24) / 4)
LOG2_SCALE_MIN = -SCALE_OFFSET / 4
LOG2_SCALE_MAX = (NUM_SCALES - 1 - SCALE_OFFSET) / 4
RADIUS = 63  # symbols code d = q - floor(mean) in [-RADIUS, RADIUS]; others escape
ALPHABET = 2 * RADIUS + 3  # escape-low, the 2R+1 values, escape-high
MAX_ESCAPE_PREFIX = 21  # Exp-Golomb prefix length bound (values below 2**21)
TOTAL = 1 << PRECISION

# DECAY_Q32[k] = round(2**32 * exp(-1 / (16 * b_k))), b_k = 2 ** ((k - 24) / 4): the Laplace
# tail ratio per 1/16 step. Normative integers, so the tables below need no floating point.
DECAY_Q32 = np.array([
    78665070, 148652826, 253857248, 398132550, 581260615, 799036310, 1044178424, 1307656790,
    1580030169, 1852521207, 2117713904, 2369882518, 2605029347, 2820730047, 3015876649,
    3190386796, 3344923893, 3480652712, 3599040369, 3701703250, 3790295335, 3866431115,
    3931635878, 3987316692, 4034748382, 4075069962, 4109287957, 4138284039, 4162825044,
    4183574096, 4201101925, 4215897841, 4228380000, 4238904802, 4247775344, 4255248918,
    4261543595, 4266843974, 4271306145, 4275061981, 4278222805, 4280882540, 4283120382,
    4285003080, 4286586875, 4287919135, 4289039749, 4289982295, 4290775039, 4291441769,
    4292002499, 4292474072, 4292870656, 4293204170, 4293484642, 4293720503, 4293918848,
    4294085643, 4294225905, 4294343854, 4294443040, 4294526447, 4294596584, 4294655564,
], dtype=np.int64)  # fmt: skip


@dataclass(frozen=True)
class ArmWeights:
    """Integer ARM parameters (units of 2**-8): one MLP shared by all planes, biases per plane.

    w1 (hidden, INPUT_SIZE), b1 (hidden,), w2 (2, hidden), b2 (planes, 2); output 0 is the
    mean, output 1 the log2 scale.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @property
    def hidden(self) -> int:
        return int(self.w1.shape[0])

    @property
    def planes(self) -> int:
        return int(self.b2.shape[0])

    def tensors(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w2, self.b2]

    @staticmethod
    def shapes(hidden: int, planes: int) -> list[tuple[int, ...]]:
        return [(hidden, INPUT_SIZE), (hidden,), (2, hidden), (planes, 2)]

    @classmethod
    def from_tensors(cls, tensors: list[np.ndarray], hidden: int, planes: int) -> ArmWeights:
        """Build from flat or shaped integer arrays; out-of-range values are CorruptStream."""
        shaped = []
        for values, shape in zip(tensors, cls.shapes(hidden, planes), strict=True):
            array = np.asarray(values, dtype=np.int64).reshape(shape)
            if array.size and int(np.abs(array).max()) > MAX_PARAMETER:
                raise CorruptStream(f"ARM parameter beyond +-{MAX_PARAMETER}")
            shaped.append(np.ascontiguousarray(array))
        return cls(*shaped)


def build_cdf_tables() -> np.ndarray:
    """cdf[k, f, a]: cumulative frequencies (sum 2**24) of symbol a for scale class k, mean f/16.

    Integer arithmetic only: G(n) = DECAY**n in Q32 by repeated rounded multiplication; the
    Laplace CDF at t = n/16 is G(-n)/2 for n <= 0 and 1 - G(n)/2 for n > 0 (Q32). Each symbol
    gets 1 + floor(mass * (2**24 - ALPHABET) / 2**32) and the remainder goes to d = 0.
    """
    span = MU_STEPS * (RADIUS + 1) + MU_STEPS  # largest |n| needed
    powers = np.empty((NUM_SCALES, span + 1), dtype=np.uint64)
    powers[:, 0] = np.uint64(1 << 32)
    decay = DECAY_Q32.astype(np.uint64)
    half = np.uint64(1 << 31)
    for n in range(1, span + 1):
        powers[:, n] = (powers[:, n - 1] * decay + half) >> np.uint64(32)
    powers = powers.astype(np.int64)

    def cdf_at(n: np.ndarray) -> np.ndarray:  # (NUM_SCALES, ...) Q32 CDF at t = n / 16
        g = powers[:, np.abs(n)]
        return np.where(n <= 0, g >> 1, (1 << 32) - (g >> 1))

    fractions = np.arange(MU_STEPS)[:, None]
    d = np.arange(-RADIUS, RADIUS + 1)[None, :]
    upper = cdf_at(MU_STEPS * d + MU_STEPS // 2 - fractions)  # (K, F, 2R+1)
    lower = cdf_at(MU_STEPS * d - MU_STEPS // 2 - fractions)
    low_edge = cdf_at(-MU_STEPS * RADIUS - MU_STEPS // 2 - fractions[:, 0])  # (K, F)
    high_edge = cdf_at(MU_STEPS * RADIUS + MU_STEPS // 2 - fractions[:, 0])
    mass = np.concatenate(
        [low_edge[..., None], upper - lower, ((1 << 32) - high_edge)[..., None]], axis=-1
    )
    freqs = 1 + ((mass * (TOTAL - ALPHABET)) >> 32)
    freqs[..., RADIUS + 1] += TOTAL - freqs.sum(axis=-1)
    cdf = np.zeros((NUM_SCALES, MU_STEPS, ALPHABET + 1), dtype=np.int64)
    np.cumsum(freqs, axis=-1, out=cdf[..., 1:])
    return cdf


CDF = build_cdf_tables()


@njit(inline="always")
def _predict(plane, height, width, i, j, w1, b1, w2, b2m, b2s, ctx, zero):
    """(floor of the mean, its sixteenths, scale class) of latent (i, j) from its context;
    `zero` is that triple for an all-zero context, which most latents of sparse planes have."""
    nonzero = False
    for k in range(CONTEXT_OFFSETS.shape[0]):
        ii = i + CONTEXT_OFFSETS[k, 0]
        jj = j + CONTEXT_OFFSETS[k, 1]
        v = np.int64(0)
        if ii >= 0 and jj >= 0 and jj < width:
            v = np.int64(plane[ii, jj])
            v = min(max(v, -CONTEXT_CLIP), CONTEXT_CLIP)
        ctx[k] = v
        nonzero = nonzero or v != 0
    if not nonzero:
        return zero[0], zero[1], zero[2]
    return _network(w1, b1, w2, b2m, b2s, ctx)


@njit(inline="always")
def _network(w1, b1, w2, b2m, b2s, ctx):
    """The integer MLP of SPEC 14.3 on one context."""
    out_mu = b2m << 8
    out_scale = b2s << 8
    for a in range(w1.shape[0]):
        acc = b1[a]
        for k in range(ctx.shape[0]):
            acc += w1[a, k] * ctx[k] + w1[a, CONTEXT_SIZE + k] * abs(ctx[k])
        acc = min(max(acc, 0), HIDDEN_CLIP)
        out_mu += w2[0, a] * acc
        out_scale += w2[1, a] * acc
    mu16 = min(max((out_mu + 2048) >> 12, -MU_LIMIT), MU_LIMIT)
    scale = min(max(((out_scale * 4 + 32768) >> 16) + SCALE_OFFSET, 0), NUM_SCALES - 1)
    return mu16 >> 4, mu16 & 15, scale


@njit(inline="always")
def _zero_context(w1, b1, w2, b2m, b2s):
    """The prediction for an all-zero context, computed once per plane."""
    return _network(w1, b1, w2, b2m, b2s, np.zeros(CONTEXT_OFFSETS.shape[0], dtype=np.int64))


@njit(parallel=True, cache=True)
def _plane_models(plane, w1, b1, w2, b2m, b2s):
    """Every latent's (floor mean, fraction, class) when the whole plane is known (encoder)."""
    height, width = plane.shape
    out = np.empty((height, width, 3), dtype=np.int64)
    zero = _zero_context(w1, b1, w2, b2m, b2s)
    for i in prange(height):
        ctx = np.empty(CONTEXT_OFFSETS.shape[0], dtype=np.int64)
        for j in range(width):
            m, f, s = _predict(plane, height, width, i, j, w1, b1, w2, b2m, b2s, ctx, zero)
            out[i, j, 0] = m
            out[i, j, 1] = f
            out[i, j, 2] = s
    return out


@njit(inline="always")
def _symbol(d: np.int64):
    """(alphabet index, escaped value v >= 1 or 0 when none) of offset d from the mean."""
    if d < -RADIUS:
        return 0, -d - RADIUS
    if d > RADIUS:
        return ALPHABET - 1, d - RADIUS
    return d + RADIUS + 1, np.int64(0)


@njit(inline="always")
def _prefix_length(v: np.int64) -> np.int64:
    """n with 2**n <= v < 2**(n+1): the Exp-Golomb prefix of v >= 1."""
    n = np.int64(0)
    while (v >> (n + 1)) > 0:
        n += 1
    return n


@njit(cache=True)
def _entries(planes_q, models, cdf, starts, freqs, count):
    """Append the coder entries of one plane (symbol, then any escape bits) at `count`."""
    half = np.int64(1 << (PRECISION - 1))
    flat_q = planes_q.ravel()
    flat_m = models.reshape(-1, 3)
    for idx in range(flat_q.size):
        m, f, s = flat_m[idx, 0], flat_m[idx, 1], flat_m[idx, 2]
        a, v = _symbol(np.int64(flat_q[idx]) - m)
        starts[count] = cdf[s, f, a]
        freqs[count] = cdf[s, f, a + 1] - cdf[s, f, a]
        count += 1
        if v > 0:
            n = _prefix_length(v)
            for _ in range(n):  # n zeros, a one, then the n low bits of v
                starts[count] = 0
                freqs[count] = half
                count += 1
            starts[count] = half
            freqs[count] = half
            count += 1
            for b in range(n - 1, -1, -1):
                starts[count] = half * ((v >> b) & 1)
                freqs[count] = half
                count += 1
    return count


@njit(inline="always")
def _latent_cost(q, m, f, s, cdf):
    """Bits of latent q under (m, f, s): its table symbol plus any escape bits."""
    a, v = _symbol(np.int64(q) - m)
    extra = 2 * _prefix_length(v) + 1 if v > 0 else 0
    return PRECISION - np.log2(cdf[s, f, a + 1] - cdf[s, f, a]) + extra


@njit(parallel=True, cache=True)
def _plane_cost(plane, w1, b1, w2, b2m, b2s, cdf):
    """Exact bits of one plane, predicted and priced in one pass (encoder-side estimate)."""
    height, width = plane.shape
    row_bits = np.zeros(height)
    zero = _zero_context(w1, b1, w2, b2m, b2s)
    for i in prange(height):
        ctx = np.empty(CONTEXT_OFFSETS.shape[0], dtype=np.int64)
        total = 0.0
        for j in range(width):
            m, f, s = _predict(plane, height, width, i, j, w1, b1, w2, b2m, b2s, ctx, zero)
            total += _latent_cost(plane[i, j], m, f, s, cdf)
        row_bits[i] = total
    return row_bits.sum()


@njit(cache=True)
def _decode_planes(words, shapes, w1, b1, w2, b2, cdf, out, offsets):
    """Decode every plane in order into `out`; returns 0, or a negative error code."""
    if words.size < 2:
        return -1
    x = rans_start(words)
    pos = np.int64(2)
    half = np.int64(1 << (PRECISION - 1))
    ctx = np.empty(CONTEXT_OFFSETS.shape[0], dtype=np.int64)
    for p in range(shapes.shape[0]):
        height, width = shapes[p, 0], shapes[p, 1]
        plane = out[offsets[p] : offsets[p] + height * width].reshape(height, width)
        zero = _zero_context(w1, b1, w2, b2[p, 0], b2[p, 1])
        for i in range(height):
            for j in range(width):
                m, f, s = _predict(
                    plane, height, width, i, j, w1, b1, w2, b2[p, 0], b2[p, 1], ctx, zero
                )
                row = cdf[s, f]
                slot = rans_slot(x)
                lo, hi = 0, ALPHABET  # largest a with row[a] <= slot
                while hi - lo > 1:
                    mid = (lo + hi) >> 1
                    if row[mid] <= slot:
                        lo = mid
                    else:
                        hi = mid
                a = lo
                x, pos = rans_advance(x, row[a], row[a + 1] - row[a], words, pos)
                if pos < 0:
                    return -2
                if a == 0 or a == ALPHABET - 1:
                    n = 0
                    while True:  # prefix: zeros up to the first one
                        bit = rans_slot(x) >= half
                        x, pos = rans_advance(x, half if bit else 0, half, words, pos)
                        if pos < 0:
                            return -2
                        if bit:
                            break
                        n += 1
                        if n > MAX_ESCAPE_PREFIX:
                            return -3
                    v = np.int64(1)
                    for _ in range(n):
                        bit = rans_slot(x) >= half
                        x, pos = rans_advance(x, half if bit else 0, half, words, pos)
                        if pos < 0:
                            return -2
                        v = (v << 1) | np.int64(bit)
                    d = -(RADIUS + v) if a == 0 else RADIUS + v
                else:
                    d = a - RADIUS - 1
                q = m + d
                if q < -MAX_LATENT or q > MAX_LATENT:
                    return -4
                plane[i, j] = q
    if pos != words.size or x != np.uint64(1 << 31):
        return -5
    return 0


_ERRORS = {
    -1: "latent stream shorter than its rANS state",
    -2: "latent stream ends before its last symbol",
    -3: "latent escape code longer than allowed",
    -4: "decoded latent outside the allowed range",
    -5: "latent stream does not end where its symbols do",
}


def _split_biases(weights: ArmWeights) -> tuple[np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(weights.b2[:, 0]), np.ascontiguousarray(weights.b2[:, 1]))


def _check_planes(planes: list[np.ndarray], weights: ArmWeights) -> list[np.ndarray]:
    if len(planes) != weights.planes:
        raise InputError(f"{len(planes)} planes for an ARM with {weights.planes} plane biases")
    checked = []
    for plane in planes:
        array = np.ascontiguousarray(plane, dtype=np.int64)
        if array.ndim != 2:
            raise InputError(f"latent planes must be 2-D, got shape {array.shape}")
        if array.size and int(np.abs(array).max()) > MAX_LATENT:
            raise InputError(f"latent beyond +-{MAX_LATENT} cannot be coded")
        checked.append(array)
    return checked


def _models(planes: list[np.ndarray], weights: ArmWeights) -> list[np.ndarray]:
    means, scales = _split_biases(weights)
    return [
        _plane_models(plane, weights.w1, weights.b1, weights.w2, int(means[p]), int(scales[p]))
        for p, plane in enumerate(planes)
    ]


def latent_bits(planes: list[np.ndarray], weights: ArmWeights) -> float:
    """Coded size in bits of `planes` (integer latents) under `weights`, without coding."""
    planes = _check_planes(planes, weights)
    means, scales = _split_biases(weights)
    return float(
        sum(
            _plane_cost(q, weights.w1, weights.b1, weights.w2, int(means[p]), int(scales[p]), CDF)
            for p, q in enumerate(planes)
        )
    )


def encode_planes(planes: list[np.ndarray], weights: ArmWeights) -> bytes:
    """The rANS payload of all planes in order (little-endian uint32 words)."""
    planes = _check_planes(planes, weights)
    models = _models(planes, weights)
    capacity = sum(q.size for q in planes)
    for q, m in zip(planes, models, strict=True):
        excess = np.abs(q - m[..., 0]) - RADIUS - 1
        excess = excess[excess >= 0]
        capacity += int(sum(2 * int(v + 1).bit_length() - 1 for v in excess))
    starts = np.empty(capacity, dtype=np.int64)
    freqs = np.empty(capacity, dtype=np.int64)
    count = 0
    for q, m in zip(planes, models, strict=True):
        count = _entries(q, m, CDF, starts, freqs, count)
    words = rans_encode(starts[:count], freqs[:count])
    return words.astype("<u4").tobytes()


def decode_planes(
    payload: bytes, shapes: list[tuple[int, int]], weights: ArmWeights
) -> list[np.ndarray]:
    """Inverse of `encode_planes`; any inconsistency is CorruptStream."""
    if len(payload) % 4:
        raise CorruptStream("latent stream length is not a whole number of 32-bit words")
    if len(shapes) != weights.planes:
        raise CorruptStream("latent model has the wrong number of plane biases")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    shape_array = np.array(shapes, dtype=np.int64).reshape(-1, 2)
    sizes = shape_array[:, 0] * shape_array[:, 1]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    out = np.zeros(int(offsets[-1]), dtype=np.int64)
    code = _decode_planes(
        words, shape_array, weights.w1, weights.b1, weights.w2, weights.b2, CDF, out, offsets
    )
    if code:
        raise CorruptStream(_ERRORS.get(code, "latent stream is corrupt"))
    return [
        out[offsets[p] : offsets[p + 1]].reshape(shapes[p]).astype(np.int32)
        for p in range(len(shapes))
    ]
