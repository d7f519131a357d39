"""Wall time of the `nfcodec` command line as whole processes, beside baselines from the same run.

Times, each a fresh interpreter started with `subprocess` (start-up, imports, work, exit):
- `python -c pass` (the floor any Python tool pays on this machine);
- Pillow opening and decoding a PNG of the same picture (what users compare a decoder with);
- `nfcodec --help`, `nfcodec info x.nfc`, `nfcodec decode x.nfc out.png`;
- the same decode with one thread (`NUMBA_NUM_THREADS=1`), which wins on a busy machine.

Runs alternate between commands so a load change hits all of them alike; the report gives the
median and the minimum of `--repeats` runs, the ratio of each median to `python -c pass`, and
the issue-15 targets (decode <= 1.0 s, info and --help <= 0.3 s, judged on the median).

With `--compare-tree DIR` (an export of another commit, e.g. `git archive <commit> | tar -x -C
DIR`), the same three commands of that tree run in the same loop, labelled "before".

The .nfc comes from `--nfc`, or is encoded once from `--image` at `--preset` (not timed).

    PYTHONPATH=. python scripts/bench_cli.py [--image kodim15.png] [--repeats 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "datasets" / "kodak" / "kodim15.png"
TARGETS_S = {"nfcodec decode": 1.0, "nfcodec info": 0.3, "nfcodec --help": 0.3}
PILLOW = "from PIL import Image; Image.open({!r}).load()"
CLI_MAIN = "from nfcodec.cli import main; main()"


def commands(
    nfc: Path, png: Path, out: Path, compare_tree: Path | None
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv, environment overrides)."""
    python = sys.executable
    decode_args = ["decode", str(nfc), str(out), "--quiet"]
    runs = {
        "python -c pass": [python, "-c", "pass"],
        "Pillow PNG decode": [python, "-c", PILLOW.format(str(png))],
        "nfcodec --help": [python, "-m", "nfcodec", "--help"],
        "nfcodec info": [python, "-m", "nfcodec", "info", str(nfc)],
        "nfcodec decode": [python, "-m", "nfcodec", *decode_args],
        "nfcodec decode (1 thread)": [python, "-m", "nfcodec", *decode_args],
    }
    here = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    timed = {name: (argv, {"PYTHONPATH": here}) for name, argv in runs.items()}
    timed["nfcodec decode (1 thread)"][1]["NUMBA_NUM_THREADS"] = "1"
    if compare_tree is not None:
        console_entry = (compare_tree / "nfcodec" / "cli_process.py").exists()
        # trees from before the console entry point (`nfcodec.cli.run`) are timed through main()
        cli = [python, "-m", "nfcodec"] if console_entry else [python, "-c", CLI_MAIN]
        before = {"PYTHONPATH": str(compare_tree)}
        timed["before: nfcodec --help"] = ([*cli, "--help"], before)
        timed["before: nfcodec info"] = ([*cli, "info", str(nfc)], before)
        timed["before: nfcodec decode"] = ([*cli, *decode_args], before)
    return timed


def time_once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds one process takes; run in `cwd` (not the repository, which `python -c` would put
    first on sys.path) with `env` added to the environment."""
    start = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return seconds


def package_used(env: dict[str, str], cwd: Path) -> str:
    """Where `import nfcodec` resolves under `env`: proof of which tree a row timed."""
    done = subprocess.run(
        [sys.executable, "-c", "import nfcodec; print(nfcodec.__file__)"],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd,
    )
    return str(Path(done.stdout.strip()).parent.parent)


def prepare_nfc(image: Path, preset: str, work: Path) -> Path:
    import nfcodec

    nfc = work / f"{image.stem}.nfc"
    nfcodec.encode_image(image, nfc, preset=preset, device="cpu")
    return nfc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--nfc", type=Path, default=None, help="skip the encode, time this file")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write results.json here")
    parser.add_argument("--compare-tree", type=Path, default=None, help="time this tree too")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        nfc = args.nfc or prepare_nfc(args.image, args.preset, work)
        png = work / "reference.png"
        from nfcodec.io import read_image, write_png

        write_png(read_image(args.image), png)
        runs = commands(nfc, png, work / "decoded.png", args.compare_tree)
        trees = {name.split(":")[0] if ":" in name else "this tree": package_used(env, work)
                 for name, (_, env) in runs.items() if "nfcodec" in name}
        for argv_, env in runs.values():  # warm the file cache and numba's on-disk cache
            time_once(argv_, env, work)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, (argv_, env) in runs.items():
                times[name].append(time_once(argv_, env, work))

    base = statistics.median(times["python -c pass"])
    for label, tree in trees.items():
        print(f"{label}: nfcodec from {tree}")
    print(f"{args.image.name} ({nfc.name}), {args.repeats} runs each, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, "
          f"load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"{'command':<30}{'median s':>10}{'min s':>9}{'x pass':>9}  target")
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS_S.get(name)
        verdict = ""
        if target is not None:
            verdict = f"<= {target} s: {'met' if median <= target else 'NOT met'}"
        print(f"{name:<30}{median:>10.3f}{min(values):>9.3f}{median / base:>9.1f}  {verdict}")
        rows.append({"command": name, "median_s": median, "min_s": min(values),
                     "runs_s": values, "target_s": target})
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"image": args.image.name, "repeats": args.repeats, "rows": rows,
                  "machine": platform.machine(), "cpus": os.cpu_count(),
                  "python": platform.python_version(), "load_average_start": load_start,
                  "load_average_end": os.getloadavg(),
                  "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default")}
        (args.out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
