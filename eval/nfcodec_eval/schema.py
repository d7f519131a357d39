"""One measured rate–distortion point, as stored in ``records.jsonl``.

Records are plain JSON objects so that results stay readable without this
package; the ``schema`` field lets later readers migrate old files instead of
guessing which fields exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1

Scalar = str | int | float
Status = Literal["ok", "failed"]


def canonical_json(value: Any) -> str:
    """Serialise with sorted keys and no whitespace, so equal configs hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def make_job_id(
    dataset: str, image: str, codec: str, config: Mapping[str, Scalar], rate: float
) -> str:
    """Stable identity of a job: the same inputs give the same id in every run.

    The rate goes through ``repr(float)`` so that ``75`` and ``75.0`` are one job.
    """
    key = canonical_json(
        {
            "dataset": dataset,
            "image": image,
            "codec": codec,
            "config": dict(config),
            "rate": repr(float(rate)),
        }
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def one_line(text: str, limit: int = 500) -> str:
    """Squash an error message onto one bounded line so each record stays one JSONL line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN/inf, so an undefined metric is stored as null.

    This also covers the PSNR of a lossless result (+inf); such a record still has
    ``status == "ok"`` and readers can tell it apart from a failure.
    """
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Record:
    """Result of one job (dataset × image or clip × codec config × rate point).

    For a clip, ``bpp`` is bytes × 8 / (width × height × frames) and ``decode_s`` covers all
    frames (decode frames per second = ``frames / decode_s``).

    ``peak_mem_mb`` is the peak resident set size of the process that ran the job,
    measured over that job only where the OS lets us reset the high-water mark
    (Linux ``/proc/self/clear_refs``); elsewhere it is the worker's lifetime peak
    (``ru_maxrss``), an upper bound. It includes the Python interpreter and any
    libraries the codec loaded (torch alone is a few hundred MB).
    """

    job_id: str
    dataset: str
    image: str
    codec: str
    config: dict[str, Scalar]
    rate: float
    status: Status
    error: str = ""
    width: int = 0
    height: int = 0
    num_bytes: int = 0
    bpp: float = 0.0
    psnr: float | None = None
    ms_ssim: float | None = None
    encode_s: float = 0.0
    decode_s: float = 0.0
    peak_mem_mb: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    host: dict[str, Scalar] = field(default_factory=dict)
    finished_at: str = ""
    schema: int = SCHEMA_VERSION
    # video clips only (None for still images): frames coded, and PSNR-RGB of the MSE pooled
    # over all of them; `psnr` is then the mean of per-frame PSNR and `bpp` counts every frame
    frames: int | None = None
    psnr_pooled: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite metrics become null)."""
        data = dataclasses.asdict(self)
        data["psnr"] = _finite_or_none(self.psnr)
        data["ms_ssim"] = _finite_or_none(self.ms_ssim)
        data["peak_mem_mb"] = _finite_or_none(self.peak_mem_mb)
        data["psnr_pooled"] = _finite_or_none(self.psnr_pooled)
        return data

    def to_json(self) -> str:
        """One line of JSON without a trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Build a record from a stored dict, ignoring unknown keys from newer writers."""
        version = int(data.get("schema", 1))
        if version > SCHEMA_VERSION:
            raise ValueError(f"record schema {version} is newer than supported {SCHEMA_VERSION}")
        status = data["status"]
        if status not in ("ok", "failed"):
            raise ValueError(f"bad record status {status!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["rate"] = float(kwargs["rate"])
        kwargs["config"] = dict(kwargs.get("config") or {})
        kwargs["versions"] = dict(kwargs.get("versions") or {})
        kwargs["host"] = dict(kwargs.get("host") or {})
        return cls(**kwargs)

    @classmethod
    def from_json(cls, line: str) -> Record:
        return cls.from_dict(json.loads(line))
