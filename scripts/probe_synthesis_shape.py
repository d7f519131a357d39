"""Probe: how much a Cool-chic-shaped synthesis is worth, trained on the whole image.

Not part of the codec and writes no file. It fits a latent pyramid (one plane per 2x level), an
autoregressive Laplace model (mean and scale from the causal neighbours, trained jointly as the
rate term), 2x upsampling (learned 8-tap filters from a cubic start, or fixed) and a synthesis
of 1x1 layers then residual 3x3 convolutions, with C3's soft-rounding quantisation proxy (Kim et
al., "C3", CVPR 2024) and Cool-chic's latent gain (Ladune et al., Cool-chic v1-v5). It prints
PSNR and the model's ideal rate, so that shapes can be compared before one goes into the format.
Results: eval/results/recipe-probe/NOTES.md.

    python scripts/probe_synthesis_shape.py crop.png --lmbda 1e-3 --iters 2000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

# Catmull-Rom weights of a 2x upsampling, the two output phases interleaved (transposed conv).
CUBIC_2X = [-0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125,
            -0.0234375]  # fmt: skip


def causal_offsets(radius: int) -> list[tuple[int, int]]:
    return [
        (dy, dx)
        for dy in range(-radius, 1)
        for dx in range(-radius, radius + 1)
        if dy < 0 or dx < 0
    ]


class Arm(nn.Module):
    """Mean and log-scale of each latent from its causal neighbours (two layers, residual)."""

    def __init__(self, radius: int, hidden: int) -> None:
        super().__init__()
        self.radius = radius
        size = 2 * radius + 1
        self.index = [(dy + radius) * size + dx + radius for dy, dx in causal_offsets(radius)]
        self.l1 = nn.Linear(len(self.index), hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def bits(self, plane: torch.Tensor) -> torch.Tensor:
        r = self.radius
        columns = F.unfold(F.pad(plane, (r, r, r, r)), 2 * r + 1)[0, self.index].T
        h = F.relu(self.l1(columns))
        out = self.out(F.relu(self.l2(h)) + h)
        scale = torch.exp(out[:, 1].clamp(-4.6, 5.0))

        def cdf(v: torch.Tensor) -> torch.Tensor:
            z = (v - out[:, 0]) / scale
            return 0.5 + 0.5 * torch.sign(z) * (1 - torch.exp(-z.abs()))

        x = plane.flatten()
        return -torch.log2((cdf(x + 0.5) - cdf(x - 0.5)).clamp_min(2**-16)).sum()


class Upsample2x(nn.Module):
    """Separable 2x upsampling by a transposed 8-tap filter, replicate-padded."""

    def __init__(self, learned: bool) -> None:
        super().__init__()
        self.taps = nn.Parameter(torch.tensor(CUBIC_2X), requires_grad=learned)

    def along_rows(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        padded = F.pad(x.reshape(-1, 1, n), (2, 2), mode="replicate")
        y = F.conv_transpose1d(padded, self.taps.view(1, 1, 8), stride=2)
        return y[..., 7 : 7 + 2 * n].reshape(*x.shape[:-1], 2 * n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.along_rows(x)
        return self.along_rows(x.transpose(-1, -2)).transpose(-1, -2)


class Synthesis(nn.Module):
    """1x1 layers, then residual 3x3 convolutions started at zero (so they begin as identity)."""

    def __init__(self, inputs: int, hidden: int, convs: int) -> None:
        super().__init__()
        self.l1 = nn.Conv2d(inputs, hidden, 1)
        self.l2 = nn.Conv2d(hidden, 3, 1)
        self.convs = nn.ModuleList(
            nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate") for _ in range(convs)
        )
        for conv in self.convs:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.l2(F.relu(self.l1(z)))
        for i, conv in enumerate(self.convs):
            y = conv(x)
            x = x + (F.relu(y) if i < len(self.convs) - 1 else y)
        return x


def softround(y: torch.Tensor, t: float) -> torch.Tensor:
    floor = torch.floor(y)
    return floor + 0.5 + torch.tanh((y - floor - 0.5) / t) / (2 * math.tanh(1 / (2 * t)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image")
    p.add_argument("--lmbda", type=float, default=1e-3)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--levels", type=int, default=7)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--gain", type=float, default=16.0, help="latent learning-rate multiplier")
    p.add_argument("--context-radius", type=int, default=2)
    p.add_argument("--arm-hidden", type=int, default=16)
    p.add_argument("--synthesis-hidden", type=int, default=16)
    p.add_argument("--convs", type=int, default=2)
    p.add_argument("--upsampling", default="learned", choices=["learned", "cubic"])
    p.add_argument("--ste-fraction", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    rgb = np.asarray(Image.open(a.image).convert("RGB"), dtype=np.float32) / 255.0
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    height, width = image.shape[-2:]
    pixels = height * width
    shapes = [(math.ceil(height / 2**i), math.ceil(width / 2**i)) for i in range(a.levels)]
    latents = [nn.Parameter(torch.zeros(1, 1, h, w)) for h, w in shapes]
    arm = Arm(a.context_radius, a.arm_hidden)
    upsamplers = nn.ModuleList(Upsample2x(a.upsampling == "learned") for _ in shapes[1:])
    synthesis = Synthesis(a.levels, a.synthesis_hidden, a.convs)
    networks = [*arm.parameters(), *synthesis.parameters(), *upsamplers.parameters()]
    trained = [q for q in networks if q.requires_grad]
    optimiser = torch.optim.Adam(
        [
            {"params": latents, "gain": a.gain},
            {"params": trained, "gain": 1.0, "betas": (0.95, 0.95)},
        ],
        lr=a.lr,
    )
    soft_steps = a.iters - int(a.iters * a.ste_fraction)

    def quantise(y: torch.Tensor, step: int, mode: str) -> torch.Tensor:
        if mode == "round":
            return torch.round(y)
        if mode == "ste":
            return y + (torch.round(y) - y).detach()
        f = step / max(1, soft_steps)
        return softround(softround(y, 0.3 - 0.2 * f) + torch.randn_like(y) * (0.25 - 0.15 * f),
                         0.3 - 0.2 * f)  # fmt: skip

    def forward(step: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        planes = [quantise(y, step, mode) for y in latents]
        bits = sum(arm.bits(q) for q in planes)
        stacked = []
        for level, q in enumerate(planes):
            for j in range(level - 1, -1, -1):
                q = upsamplers[j](q)[..., : shapes[j][0], : shapes[j][1]]
            stacked.append(q)
        return synthesis(torch.cat(stacked, 1)), bits

    start = time.time()
    for step in range(a.iters):
        mode = "soft" if step < soft_steps else "ste"
        lr = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.iters)) if mode == "soft" else 1e-4
        for group in optimiser.param_groups:
            group["lr"] = max(lr, 1e-4) * group["gain"]
        out, bits = forward(step, mode)
        mse = F.mse_loss(out, image)
        loss = mse + a.lmbda * bits / pixels
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 200 == 0 or step == a.iters - 1:
            psnr = -10 * math.log10(mse.item())
            rate = bits.item() / pixels
            print(f"{step:5d} PSNR {psnr:.2f} dB, {rate:.4f} bpp, {time.time() - start:.0f} s")

    with torch.no_grad():
        out, bits = forward(0, "round")
        mse = F.mse_loss(torch.round(out.clamp(0, 1) * 255) / 255, image).item()
    parameters = sum(q.numel() for q in trained)
    print(f"final: PSNR {-10 * math.log10(mse):.3f} dB (8-bit), latents {bits.item() / pixels:.4f} "
          f"bpp (ideal code length), {parameters} network parameters (not counted), "
          f"{time.time() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
