"""RD sweep harness: records, store durability, planning, executors, resume, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from nfcodec_eval.cli import sweep_command
from nfcodec_eval.jobs import SweepError, git_commit, plan_jobs
from nfcodec_eval.schema import SCHEMA_VERSION, Record, make_job_id
from nfcodec_eval.store import (
    RecordWriter,
    done_job_ids,
    load_records,
    recorded_job_ids,
    records_path,
)
from nfcodec_eval.sweep import run_sweep
from PIL import Image

from tests.sweep_fakes import MARKER_ENV, image_digest

REPO = Path(__file__).resolve().parents[1]
FAKE = "tests.sweep_fakes:FakeCodec"
SLOW = "tests.sweep_fakes:SlowFakeCodec"
FAILING = "tests.sweep_fakes:FailingCodec"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two tiny images: an RGB one and a grayscale one, in a folder named 'tiny'."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 40, dtype=np.float64)
    rgb = np.stack([np.add.outer(ramp[:24], ramp) / 2] * 3, axis=-1)
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "a_rgb.png")
    gray = rng.integers(0, 256, (20, 28), dtype=np.uint8)
    Image.fromarray(gray).save(folder / "b_gray.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """File the fake codecs append one line to per run (inherited by spawned workers)."""
    path = tmp_path / "marker.txt"
    monkeypatch.setenv(MARKER_ENV, str(path))
    return path


def marked(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def make_record(job_id: str = "j1", status: str = "ok", psnr: float = 30.0) -> Record:
    return Record(
        job_id=job_id,
        dataset="d",
        image="x.png",
        codec="fake",
        config={"q": 1},
        rate=2.0,
        status=status,  # type: ignore[arg-type]
        width=4,
        height=2,
        num_bytes=3,
        bpp=3.0,
        psnr=psnr,
    )


# ------------------------------------------------------------------ schema and store


def test_job_id_is_stable_and_canonical() -> None:
    a = make_job_id("kodak", "k1.png", "jpeg", {"b": 1, "a": "x"}, 75)
    assert a == make_job_id("kodak", "k1.png", "jpeg", {"a": "x", "b": 1}, 75.0)
    assert len(a) == 64
    assert a != make_job_id("kodak", "k1.png", "jpeg", {"a": "x", "b": 2}, 75)
    assert a != make_job_id("kodak", "k1.png", "jpeg", {"a": "x", "b": 1}, 76)


def test_record_json_round_trip_and_infinite_psnr() -> None:
    record = make_record()
    line = record.to_json()
    assert "\n" not in line
    assert Record.from_json(line) == record
    assert json.loads(line)["schema"] == SCHEMA_VERSION
    lossless = make_record(psnr=math.inf)
    assert json.loads(lossless.to_json())["psnr"] is None
    with pytest.raises(ValueError, match="newer"):
        Record.from_dict({**record.to_dict(), "schema": SCHEMA_VERSION + 1})


def test_store_ignores_torn_tail_and_prefers_last_ok(tmp_path: Path) -> None:
    with RecordWriter(tmp_path) as writer:
        writer.append(make_record("a", "failed"))
        writer.append(make_record("a", "ok", psnr=31.0))
        writer.append(make_record("b", "ok", psnr=20.0))
        writer.append(make_record("b", "failed"))
        writer.append(make_record("c", "failed"))
    with records_path(tmp_path).open("ab") as fh:  # a writer killed mid-line
        fh.write(make_record("d").to_json().encode()[:40])
    by_id = {r.job_id: r for r in load_records(tmp_path)}
    assert set(by_id) == {"a", "b", "c"}
    assert by_id["a"].psnr == 31.0 and by_id["b"].psnr == 20.0
    assert by_id["c"].status == "failed"
    assert done_job_ids(tmp_path) == {"a", "b"}
    assert recorded_job_ids(tmp_path) == {"a", "b", "c"}
    with RecordWriter(tmp_path) as writer:  # reopening starts a fresh line
        writer.append(make_record("e"))
    assert done_job_ids(tmp_path) == {"a", "b", "e"}


# ------------------------------------------------------------------------ planning


def test_git_commit_ignores_results_but_not_code(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    results = tmp_path / "eval" / "results"
    results.mkdir(parents=True)
    (results / "records.jsonl").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    clean = git_commit(results)
    assert clean is not None and len(clean) == 40

    (results / "records.jsonl").write_text("{}\n{}\n")  # a sweep appending its records
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(results) == clean + "-dirty"


def test_plan_jobs_subsets_images_and_rates(dataset: Path) -> None:
    jobs = plan_jobs(dataset, [FAKE])
    assert {j.image for j in jobs} == {"a_rgb.png", "b_gray.png"}
    assert len(jobs) == 4 and {j.dataset for j in jobs} == {"tiny"}
    only = plan_jobs(dataset, [FAKE, FAKE], images=["a_*"], rates=[3])
    assert [(j.image, j.rate) for j in only] == [("a_rgb.png", 3.0)]
    assert plan_jobs(dataset, [FAKE], images=["b_gray"])[0].image == "b_gray.png"
    with pytest.raises(SweepError, match="matches no image"):
        plan_jobs(dataset, [FAKE], images=["zzz*"])
    with pytest.raises(SweepError, match="unknown codec"):
        plan_jobs(dataset, ["no-such-codec"])
    with pytest.raises(SweepError, match="does not exist"):
        plan_jobs(dataset / "missing", [FAKE])


# --------------------------------------------------------------------------- sweeps


def test_local_sweep_records_and_resume(dataset: Path, tmp_path: Path, marker: Path) -> None:
    out = tmp_path / "out"
    rates = {"fake": [2.0, 5.0], "jpeg": [20.0, 80.0]}
    summary = run_sweep(dataset, out, [FAKE, "jpeg"], workers=2, rates=rates, quiet=True)
    assert (summary.planned, summary.ok, summary.failed, summary.skipped) == (8, 8, 0, 0)
    assert summary.all_ok
    records = load_records(out)
    assert len(records) == 8 and all(r.ok for r in records)
    assert len(marked(marker)) == 4  # fake runs happened in the spawned workers
    for r in records:
        assert r.dataset == "tiny"
        assert (r.width, r.height) == ((40, 24) if r.image == "a_rgb.png" else (28, 20))
        assert r.bpp == pytest.approx(r.num_bytes * 8 / (r.width * r.height))
        assert r.psnr is not None and 5 < r.psnr < 99 and 0 < (r.ms_ssim or 0) <= 1
        assert r.peak_mem_mb and r.peak_mem_mb > 1
        assert {"nfcodec", "numpy", "Pillow", "torch"} <= set(r.versions)
        assert r.host["cpu_count"] >= 1 and r.finished_at.endswith("+00:00")
    fake = sorted((r.image, r.rate, r.psnr) for r in records if r.codec == "fake")
    assert fake[0][2] < fake[1][2]  # more bits kept, higher PSNR
    assert all(r.versions.get("fakelib") == "1.0" for r in records if r.codec == "fake")

    again = run_sweep(dataset, out, [FAKE, "jpeg"], workers=2, rates=rates, quiet=True)
    assert (again.ok, again.failed, again.skipped) == (0, 0, 8)
    assert len(marked(marker)) == 4  # nothing re-ran
    assert len(records_path(out).read_text().splitlines()) == 8


def test_failed_jobs_are_recorded_and_retried(dataset: Path, tmp_path: Path, marker: Path) -> None:
    out = tmp_path / "out"
    summary = run_sweep(dataset, out, [FAKE, FAILING], executor="serial", quiet=True)
    assert (summary.ok, summary.failed) == (4, 4) and not summary.all_ok
    failed = [r for r in load_records(out) if not r.ok]
    assert len(failed) == 4
    expected = "RuntimeError: simulated encoder crash with a second line"
    assert all(expected in r.error for r in failed)
    assert all("\n" not in r.error and r.num_bytes == 0 for r in failed)

    kept = run_sweep(
        dataset, out, [FAKE, FAILING], executor="serial", quiet=True, retry_failed=False
    )
    assert (kept.ok, kept.failed, kept.skipped, kept.skipped_failed) == (0, 0, 8, 4)
    assert not kept.all_ok
    runs = len(marked(marker))
    retried = run_sweep(dataset, out, [FAKE, FAILING], executor="serial", quiet=True)
    assert (retried.failed, retried.skipped) == (4, 4)
    assert len(marked(marker)) == runs + 4


def test_dead_worker_fails_its_job_and_pool_recovers(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    codecs = ["tests.sweep_fakes:CrashingCodec", FAKE]
    summary = run_sweep(dataset, out, codecs, workers=1, images=["a_*"], quiet=True)
    assert (summary.ok, summary.failed) == (2, 2)
    by_codec = {(r.codec, r.status) for r in load_records(out)}
    assert by_codec == {("crashing", "failed"), ("fake", "ok")}
    assert all("worker process died" in r.error for r in load_records(out) if not r.ok)


def test_sweep_survives_sigkill_and_resumes(dataset: Path, tmp_path: Path, marker: Path) -> None:
    """Kill the driver mid-sweep: every finished job is on disk and is not run again."""
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        from nfcodec_eval.sweep import run_sweep
        run_sweep({str(dataset)!r}, {str(out)!r}, [{SLOW!r}], executor="serial", quiet=True)
        """
    )
    env = {**os.environ, MARKER_ENV: str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        path = records_path(out)
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and len(path.read_bytes().splitlines()) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "sweep finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    survived = load_records(out)
    assert 3 <= len(survived) < 12 and all(r.ok for r in survived)

    digests = {
        name: image_digest(np.asarray(Image.open(dataset / name)))
        for name in ("a_rgb.png", "b_gray.png")
    }
    finished = {(digests[r.image], f"{r.rate:g}") for r in survived}
    marker.unlink()
    summary = run_sweep(dataset, out, [SLOW], executor="serial", quiet=True)
    assert summary.skipped == len(survived)
    assert summary.ok == 12 - len(survived) and summary.all_ok
    rerun = {tuple(line.split()[1:]) for line in marked(marker)}
    assert not rerun & finished
    assert len(rerun) == 12 - len(survived)
    final = load_records(out)
    assert len(final) == 12 and all(r.ok for r in final)
    assert {r.job_id for r in survived} <= {r.job_id for r in final}


# ------------------------------------------------------------------------------ CLI


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(sweep_command, list(args))
    return result.exit_code, result.output


def test_cli_exit_codes_and_one_line_errors(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "out")
    base = ["--dataset", str(dataset), "--out", out, "--executor", "serial", "--quiet"]
    assert invoke(*base, "--codec", FAKE) == (0, "")
    code, text = invoke(*base, "--codec", f"{FAKE},{FAILING}")
    assert code == 1
    assert len(load_records(out)) == 8

    code, text = invoke(*base, "--codec", "no-such-codec")
    assert code == 2 and "unknown codec" in text and "Traceback" not in text
    code, text = invoke("--dataset", str(tmp_path / "nope"), "--out", out, "--codec", FAKE)
    assert code == 2 and "does not exist" in text
    code, text = invoke(*base, "--codec", FAKE, "--images", "zzz*")
    assert code == 2 and "matches no image" in text

    monkeypatch.setitem(sys.modules, "ray", None)  # simulate Ray not installed
    code, text = invoke(*base[:-3], "--codec", FAKE, "--executor", "ray", "--quiet")
    assert code == 1 and "install nfcodec[ray]" in text
