"""Training logs that read well in a file: plain progress lines off a terminal, a CSV loss curve, quiet libraries.

- :class:`PlainProgress`: when stdout is not a terminal (``> train.log``, a batch job), Lightning's tqdm bar
  (megabytes of carriage returns) is off and this prints one line every ``every`` steps: step, loss, rate, ETA.
- :class:`LossCurve`: ``OUT/loss_curve.csv``, a row every ``every`` steps (the logged ``train/*`` values) and one
  per validation (``val/*``), keyed by the optimizer step across resumes; a resumed run drops the rows after the
  step it resumes from, so the curve has no duplicated steps. Rewritten atomically.
- :func:`quiet_third_party`: hides the notices a user cannot act on (Lightning's litlogger advert, the
  ``_pytree`` LeafSpec deprecation inside Lightning); every other warning stays.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L

from drivedreamer_env.io_utils import atomic_path

LOSS_CURVE = "loss_curve.csv"


def stdout_is_terminal() -> bool:
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k.startswith(prefix) and getattr(v, "numel", lambda: 1)() == 1}


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


class PlainProgress(L.Callback):
    """One progress line every ``every`` optimizer steps and after each validation (see the module docstring)."""

    def __init__(self, every: int, max_steps: int, max_minutes: float | None = None) -> None:
        self.every, self.max_steps, self.max_minutes = max(1, every), max_steps, max_minutes
        self.t0, self.step0 = time.monotonic(), 0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.t0, self.step0 = time.monotonic(), module.step_count

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = module.step_count
        if not trainer.is_global_zero or (step % self.every and step != self.max_steps):
            return
        elapsed = time.monotonic() - self.t0
        rate = (step - self.step0) / elapsed if elapsed > 0 else 0.0
        eta = (self.max_steps - step) / rate if rate > 0 else float("inf")
        if self.max_minutes is not None:
            eta = min(eta, max(self.max_minutes * 60 - elapsed, 0.0))
        loss = _scalars(trainer.callback_metrics, "train/loss").get("train/loss")
        loss_text = "n/a" if loss is None else f"{loss:.4f}"
        eta_text = "?" if eta == float("inf") else _duration(eta)
        print(f"step {step}/{self.max_steps}  loss {loss_text}  {rate:.2f} steps/s  ETA {eta_text}", flush=True)

    def on_validation_end(self, trainer, module) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            val = _scalars(trainer.callback_metrics, "val/")
            print(
                f"step {module.step_count} validation  " + "  ".join(f"{k} {v:.4f}" for k, v in val.items()), flush=True
            )


class LossCurve(L.Callback):
    """``out_dir/loss_curve.csv``: ``step``, ``elapsed_s`` and the logged ``train/*`` / ``val/*`` scalars."""

    def __init__(self, out_dir: str | Path, every: int) -> None:
        self.path, self.every = Path(out_dir) / LOSS_CURVE, max(1, every)
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.t0 = time.monotonic()
        if self.path.is_file():  # resumed: keep the curve up to the step the state was saved at
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= module.step_count]

    def _record(self, step: int, values: dict[str, float]) -> None:
        self.rows.append({"step": step, "elapsed_s": round(time.monotonic() - self.t0, 2), **values})
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            Path(tmp).write_text(buffer.getvalue())

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.is_global_zero and module.step_count % self.every == 0:
            self._record(module.step_count, _scalars(trainer.callback_metrics, "train/"))

    def on_validation_end(self, trainer, module) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self._record(module.step_count, _scalars(trainer.callback_metrics, "val/"))


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_third_party() -> None:
    """Hide third-party notices the user cannot act on; real warnings stay (see the module docstring)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)
    for name in ("lightning_utilities.core.rank_zero", "lightning.pytorch.utilities.rank_zero", "lightning.pytorch"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())
