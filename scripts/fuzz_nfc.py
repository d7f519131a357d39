"""Structure-aware mutation fuzzer for the .nfc decoder.

Mutations are made on a file's frames (header fields, section kinds and payloads) and the file is
reassembled with every CRC right, so most inputs get past the container and reach the entropy
decoders and synthesis; a share of raw byte mutations keeps the container's own checks covered.
Every input is decoded in-process with a small pixel limit (so a valid huge file is refused, not
rendered). The outcome of an input is one of:

* ``decoded``: a valid file;
* an error class of nfcodec.errors (expected), split into ``container`` (read_info refused it)
  and ``payload`` (the container was fine, decoding refused it);
* ``unexpected``: any other exception (a bug), or an NfcError whose message spans lines;
* ``slow``: an input that took longer than ``--slow-seconds`` (a hang in the making).

Unexpected and slow inputs are written to ``--crashes`` for replay. The exit status is 1 when
there was any. Usage:

    python scripts/fuzz_nfc.py --seconds 60 --seed 1 [--iterations N] [--report out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nfc_frames import RawFile, RawSection, assemble, parse, varint  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DIRS = (REPO_ROOT / "bitstream" / "vectors", REPO_ROOT / "bitstream" / "vectors" / "crafted")
FUZZ_MAX_PIXELS = 1 << 16  # valid files above this are refused by the limit, never rendered
INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 24, 25, 63, 64, 127, 128, 255, 256, 1000, 1001, 4096,
               16383, 16384, 16385, 1 << 20, 1 << 24, 1 << 26, (1 << 30) + 1, (1 << 31) - 1,
               1 << 32, (1 << 63) - 1, (1 << 64) - 1)


def load_seeds() -> list[bytes]:
    """Every committed file that decodes: the conformance vectors and the NaN vector."""
    seeds = []
    for folder in SEED_DIRS:
        for path in sorted(folder.glob("*.nfc")):
            if not path.name.startswith(("bad_", "bomb_")):
                seeds.append(path.read_bytes())
    return seeds


# ---------------------------------------------------------------------------------------------
# Mutators: each takes the parsed seed (and the raw bytes) and returns new bytes


def _number(rng: random.Random) -> int:
    return rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(1 << rng.randrange(65))


def header_value(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    index = rng.randrange(len(raw.header_fields))
    value = rng.randrange(256) if index == 0 else _number(rng)
    return assemble(raw.with_field(index, value))


def version(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    return assemble(replace(raw, major=rng.choice((0, 1, 2, 3, 255)), minor=rng.choice((0, 1, 2))))


def _payload_edit(raw: RawFile, rng: random.Random, edit: Callable[[bytes], bytes]) -> bytes:
    if not raw.sections:
        return assemble(raw)
    index = rng.randrange(len(raw.sections))
    sections = list(raw.sections)
    sections[index] = RawSection(sections[index].kind, edit(sections[index].payload))
    return assemble(replace(raw, sections=tuple(sections)))


def payload_flips(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    def edit(payload: bytes) -> bytes:
        out = bytearray(payload)
        for _ in range(rng.randint(1, 8)):
            if out:
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)

    return _payload_edit(raw, rng, edit)


def payload_overwrite(
    raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]
) -> bytes:
    def edit(payload: bytes) -> bytes:
        if not payload:
            return bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        start = rng.randrange(len(payload))
        fill = bytes(rng.choice((0, 0xFF, rng.randrange(256))) for _ in range(rng.randint(1, 32)))
        return payload[:start] + fill + payload[start + len(fill) :]

    return _payload_edit(raw, rng, edit)


def payload_resize(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    def edit(payload: bytes) -> bytes:
        if rng.random() < 0.5:
            return payload[: rng.randrange(len(payload) + 1)]
        return payload + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))

    return _payload_edit(raw, rng, edit)


def stream_head(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """Replace a varint near a payload's start: where the entropy streams keep their counts."""

    def edit(payload: bytes) -> bytes:
        at = rng.randrange(min(len(payload), 24) + 1)
        return payload[:at] + varint(_number(rng)) + payload[at + rng.randint(0, 5) :]

    return _payload_edit(raw, rng, edit)


def section_shuffle(
    raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]
) -> bytes:
    sections = list(raw.sections)
    choice = rng.randrange(4)
    if choice == 0 and sections:
        sections.pop(rng.randrange(len(sections)))
    elif choice == 1 and sections:
        sections.append(rng.choice(sections))
    elif choice == 2:
        rng.shuffle(sections)
    elif sections:
        index = rng.randrange(len(sections))
        sections[index] = RawSection(rng.choice((0, 1, 2, 3, 4, 255)), sections[index].payload)
    count = None if rng.random() < 0.9 else _number(rng) % 80
    return assemble(replace(raw, sections=tuple(sections), section_count=count))


def splice(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """A header from one seed with sections from another."""
    donor = parse(rng.choice(others))
    return assemble(replace(raw, sections=donor.sections))


def raw_bytes(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """Byte-level damage with no CRC repair: flips, truncation, junk appended."""
    out = bytearray(data)
    choice = rng.randrange(3) if out else 2
    if choice == 0:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del out[rng.randrange(len(out) + 1) :]
    else:
        out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(out)


def random_file(raw: RawFile, data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """A self-consistent file of random, mostly in-bounds fields and random payloads."""
    kind = rng.choice((1, 2))
    if kind == 1:
        params = (rng.randint(1, 4), rng.randint(1, 3), rng.randint(4, 10), rng.randint(1, 8),
                  rng.randint(1, 64), rng.randint(1, 16), rng.randint(0, 3), rng.randint(0, 2),
                  rng.randint(0, 1))
    else:
        params = (rng.randint(1, 3), rng.randint(0, 1), rng.randint(1, 16), rng.randint(0, 3),
                  rng.randint(1, 1000))
    fields = (rng.choice((1, 3, 0x11, 0x13)), rng.randint(1, 40), rng.randint(1, 40),
              rng.randrange(1 << 16), kind, *params)
    kinds = rng.sample((1, 2, 3), rng.randint(1, 3))
    sections = tuple(
        RawSection(k, bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))) for k in kinds
    )
    return assemble(RawFile(rng.choice((1, 2)), rng.choice((0, 1, 0)), fields, sections))


MUTATORS: tuple[tuple[Callable[..., bytes], int], ...] = (
    (header_value, 3), (version, 1), (payload_flips, 4), (payload_overwrite, 3),
    (payload_resize, 2), (stream_head, 3), (section_shuffle, 2), (splice, 1), (raw_bytes, 2),
    (random_file, 1),
)


def mutate(seed: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """One structure-aware mutation of `seed`, sometimes stacked on another.

    Input that does not split into frames (a fuzzer's own mutant) gets byte-level damage.
    """
    functions, weights = zip(*MUTATORS, strict=True)
    data = seed
    for _ in range(1 if rng.random() < 0.8 else 2):
        try:
            raw = parse(data)
            data = rng.choices(functions, weights)[0](raw, data, rng, others)
        except (ValueError, IndexError):
            data = raw_bytes(RawFile(0, 0, (0,)), data, rng, others)
    return data


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Tally:
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    slowest: float = 0.0

    def report(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "seconds": round(self.seconds, 2),
            "inputs_per_second": round(self.inputs / max(self.seconds, 1e-9), 1),
            "slowest_input_seconds": round(self.slowest, 3),
            "unexpected": self.outcomes["unexpected"],
            "slow": self.outcomes["slow"],
            "outcomes": dict(sorted(self.outcomes.items())),
            "problems": self.problems,
        }


def default_decode(data: bytes) -> object:
    import nfcodec

    return nfcodec.decode(data, max_pixels=FUZZ_MAX_PIXELS)


def classify(data: bytes, decode: Callable[[bytes], object]) -> str:
    """The outcome of one input (see the module docstring); never raises for an input."""
    from nfcodec.container import read_info
    from nfcodec.errors import NfcError

    stage = "payload"
    try:
        read_info(data)
    except NfcError:
        stage = "container"
    try:
        decode(data)
    except NfcError as exc:
        if "\n" in str(exc):
            return "unexpected"
        return f"{stage}:{type(exc).__name__}"
    except Exception:  # noqa: BLE001 - any other exception is exactly what we hunt
        return "unexpected"
    return "decoded"


def run(
    seeds: Sequence[bytes],
    *,
    seed: int,
    iterations: int | None,
    seconds: float | None,
    slow_seconds: float = 5.0,
    crashes: Path | None = None,
    decode: Callable[[bytes], object] = default_decode,
    progress_every: int = 0,
) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for warm in seeds:  # compile the decoder's kernels first: JIT time is no input's fault
        classify(warm, decode)
    start = time.perf_counter()
    while (iterations is None or tally.inputs < iterations) and (
        seconds is None or time.perf_counter() - start < seconds
    ):
        data = mutate(rng.choice(seeds), rng, seeds)
        began = time.perf_counter()
        outcome = classify(data, decode)
        took = time.perf_counter() - began
        tally.slowest = max(tally.slowest, took)
        if took > slow_seconds and outcome != "unexpected":
            outcome = "slow"
        tally.inputs += 1
        tally.outcomes[outcome] += 1
        if outcome in ("unexpected", "slow"):
            name = f"{outcome}-{seed}-{tally.inputs}.nfc"
            tally.problems.append({"file": name, "outcome": outcome, "seconds": f"{took:.2f}"})
            if crashes is not None:
                crashes.mkdir(parents=True, exist_ok=True)
                (crashes / name).write_bytes(data)
        if progress_every and tally.inputs % progress_every == 0:
            print(f"{tally.inputs} inputs, {time.perf_counter() - start:.0f} s, "
                  f"{dict(tally.outcomes)}", file=sys.stderr, flush=True)
    tally.seconds = time.perf_counter() - start
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same run each time")
    parser.add_argument("--iterations", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--report", type=Path, default=None, help="write the summary as JSON")
    parser.add_argument("--progress-every", type=int, default=0, help="a stderr line per N inputs")
    args = parser.parse_args(argv)
    if args.iterations is None and args.seconds is None:
        parser.error("give --iterations or --seconds")
    import torch

    torch.set_num_threads(1)
    seeds = load_seeds()
    default_decode(seeds[0])  # compile the numba kernels before timing inputs
    tally = run(seeds, seed=args.seed, iterations=args.iterations, seconds=args.seconds,
                slow_seconds=args.slow_seconds, crashes=args.crashes,
                progress_every=args.progress_every)
    summary = {"seed": args.seed, "seed_files": len(seeds), **tally.report()}
    text = json.dumps(summary, indent=2)
    print(text)
    if args.report is not None:
        args.report.write_text(text + "\n")
    return 1 if tally.outcomes["unexpected"] or tally.outcomes["slow"] else 0


if __name__ == "__main__":
    sys.exit(main())
