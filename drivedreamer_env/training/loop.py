"""A resumable Lightning fit shared by every model: safetensors state every N steps, resume, summary in meta.json.

A module taking part sets ``step_count`` (optimizer steps across resumes), ``resume_dir`` (restores the
optimizers at train start, see ``ResumeMixin``) and ``components()`` (name -> (nn.Module, config dataclass)
written into the checkpoint directory).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from drivedreamer_env.models.checkpoint import CONFIG, read_json, save_component, write_meta
from drivedreamer_env.training.progress import LossCurve, PlainProgress, quiet_third_party, stdout_is_terminal
from drivedreamer_env.training.state import STATE_DIR, load_optimizer_states, load_training_state, save_training_state


def warmup_cosine(step: int, lr: float, warmup_steps: int, max_steps: int, floor: float = 0.1) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine decay to ``floor * lr`` at ``max_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    t = min((step - warmup_steps) / max(max_steps - warmup_steps, 1), 1.0)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


class ResumeMixin:
    """For LightningModules: restore optimizer states once the trainer has created the optimizers."""

    step_count: int = 0
    resume_dir: Path | None = None

    def on_train_start(self) -> None:
        if self.resume_dir is not None:
            load_optimizer_states(self.resume_dir, self.trainer.optimizers)

    def components(self) -> dict[str, tuple[torch.nn.Module, Any]]:
        raise NotImplementedError


class SaveEvery(L.Callback):
    """Write the resumable state every ``every`` steps, at the end, and on Ctrl-C."""

    def __init__(self, out_dir: Path, every: int, extra: dict, seconds_before: float) -> None:
        self.out_dir, self.every, self.extra = out_dir, every, extra
        self.seconds_before, self.t0 = seconds_before, time.monotonic()

    def save(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:  # every rank holds the same weights; one writes them
            return
        seconds = self.seconds_before + time.monotonic() - self.t0
        extra = {**self.extra, "train_seconds": round(seconds, 1)}
        save_training_state(self.out_dir, module, trainer.optimizers, module.step_count, extra)
        for name, (component, config) in module.components().items():
            save_component(self.out_dir, name, component, config)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.step_count % self.every == 0:
            self.save(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.save(trainer, module)

    def on_exception(self, trainer, module, exception) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.save(trainer, module)


def _resume_state(module: L.LightningModule, out: Path) -> dict[str, Any] | None:
    """The saved training state of ``out`` loaded into ``module`` (None when there is none to resume).

    Raises:
        ValueError: ``out`` was trained with another config for one of the module's components.
    """
    if not (out / STATE_DIR / "state.json").is_file():
        return None
    saved = read_json(out / CONFIG)
    for name, (_, config) in module.components().items():
        want = json.loads(json.dumps(dataclasses.asdict(config)))
        if name in saved and saved[name] != want:
            raise ValueError(f"{out / CONFIG} holds a different {name} config; use a new --out or the same config")
    return load_training_state(out, module)


def _trainer(cfg: Any, remaining: int, fast_dev_run: bool, callbacks: list[L.Callback]) -> L.Trainer:
    """A Trainer for ``remaining`` optimizer steps that validates every ``cfg.checkpoint_every`` and logs nothing
    itself (the callbacks save and log; Lightning's own checkpointing is off). Off a terminal the tqdm bar is
    replaced by plain progress lines."""
    terminal = stdout_is_terminal()
    if not terminal:
        every = getattr(cfg, "log_every", 50)
        callbacks = [*callbacks, PlainProgress(every, cfg.max_steps, getattr(cfg, "max_minutes", None))]
    return L.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=getattr(cfg, "strategy", "auto"),
        num_nodes=getattr(cfg, "num_nodes", 1), precision=cfg.precision, max_steps=remaining, max_epochs=-1,
        logger=False, enable_checkpointing=False, enable_progress_bar=terminal,
        fast_dev_run=fast_dev_run, val_check_interval=min(cfg.checkpoint_every, remaining),
        check_val_every_n_epoch=None, limit_val_batches=8, num_sanity_val_steps=0, enable_model_summary=False,
        callbacks=callbacks,
    )  # fmt: skip


def _write_summary(
    module: L.LightningModule, trainer: L.Trainer, cfg: Any, out: Path, data: str, summary_key: str
) -> dict[str, Any]:
    """The run's summary (command, steps read back from the saved state, wall time, device) into meta.json."""
    state = read_json(out / STATE_DIR / "state.json")
    summary = {
        "command": " ".join(shlex.quote(a) for a in ["drivedreamer", *sys.argv[1:]]),
        "data": data,
        "steps": int(state["step"]),
        "batch_size": cfg.batch_size,
        "wall_time_s": state.get("train_seconds"),
        "device": str(module.device),
        "devices": cfg.devices,
    }
    if getattr(cfg, "strategy", "auto") != "auto" or getattr(cfg, "num_nodes", 1) != 1:
        summary.update(strategy=cfg.strategy, num_nodes=getattr(cfg, "num_nodes", 1), world_size=trainer.world_size)
    if cfg.precision != "32-true":
        summary["precision"] = cfg.precision
    write_meta(out, {summary_key: summary})
    return summary


def fit_resumable(
    module: L.LightningModule,
    make_datamodule: Callable[[int], L.LightningDataModule],
    cfg: Any,
    out_dir: str | Path,
    data: str,
    summary_key: str,
    fast_dev_run: bool = False,
) -> dict[str, Any]:
    """Fit ``module`` until ``cfg.max_steps`` optimizer steps, resuming from ``out_dir/train_state`` if present.

    ``cfg`` needs ``max_steps``, ``checkpoint_every``, ``accelerator``, ``devices``, ``precision`` and may have
    ``strategy`` and ``num_nodes``. ``make_datamodule(start_step)`` builds the data (seeded by the start step so a
    resumed run sees new batches). Returns (and writes under ``summary_key`` in meta.json) the run's summary.
    Under DDP only global rank 0 writes; the summary's step count is read back from the saved state, so it is
    right under ``ddp_spawn`` too, where the steps happen in child processes. With ``fast_dev_run`` (one batch
    of train and val) nothing is read or saved, and the summary is ``{"steps": 1}``.
    """
    quiet_third_party()
    out = Path(out_dir)
    info = None if fast_dev_run else _resume_state(module, out)
    start = int(info["step"]) if info else 0
    module.step_count, module.resume_dir = start, (out if info else None)
    remaining = cfg.max_steps - start
    if remaining <= 0 and not fast_dev_run:
        print(f"{out}: already trained for {start} steps (max_steps {cfg.max_steps})")
        return read_json(out / "meta.json").get(summary_key, {}) if (out / "meta.json").is_file() else {}
    dm = make_datamodule(start)
    seconds_before = float(info.get("train_seconds", 0.0)) if info else 0.0
    saver = SaveEvery(out, cfg.checkpoint_every, {"data": data, "config": dataclasses.asdict(cfg)}, seconds_before)
    curve = LossCurve(out, getattr(cfg, "log_every", 50))
    trainer = _trainer(cfg, remaining, fast_dev_run, callbacks=[] if fast_dev_run else [saver, curve])
    trainer.fit(module, datamodule=dm)
    if fast_dev_run:
        return {"steps": module.step_count}
    if not trainer.is_global_zero:
        return {"steps": module.step_count, "global_rank": trainer.global_rank}
    return _write_summary(module, trainer, cfg, out, data, summary_key)
