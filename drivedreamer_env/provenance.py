"""What every result file records about the run that produced it: the device it ran on and the commit it measured.

Ground floor: used by the evaluations, the benchmarks and the CLI alike. The device is the torch device the
measurement actually used (pass it in), so a CUDA run is labelled with its GPU, not with the host CPU.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The host CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(root: Path | None = None) -> str:
    """The checked-out commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    root = root or REPO_ROOT
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_record(device: torch.device | str = "cpu") -> dict[str, Any]:
    """The ``device`` entry of a result: kind, model, host cores and machine; for CUDA also the GPU count.

    Args:
        device: the torch device the measurement ran on (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
            ``torch.device``). For CUDA, ``model`` is the GPU's name and the host CPU moves to ``cpu_model``.
    """
    kind = str(device).split(":", 1)[0]
    record: dict[str, Any] = {
        "kind": kind,
        "model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "machine": platform.machine(),
    }
    if kind == "cuda":
        import torch

        dev = torch.device(device)
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        record.update(model=torch.cuda.get_device_name(index), cpu_model=record["model"])
        record.update(index=index, count=torch.cuda.device_count(), cuda=torch.version.cuda)
    return record


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Device and software facts for a result file.

    Args:
        device: the torch device the recorded measurement used (see :func:`device_record`).

    Returns:
        ``{"device": {...}, "python", "numpy", "commit", "date"}`` (date in UTC, ISO 8601).
    """
    import numpy as np

    return {
        "device": device_record(device),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
