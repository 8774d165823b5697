"""Behaviour cloning of the planning network (:mod:`drivedreamer_env.models.planner_net`) on demonstrations,
through the same resumable Lightning fit as every other model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from drivedreamer_env.models.planner_net import PlannerNet, PlannerNetConfig
from drivedreamer_env.training.loop import ResumeMixin, fit_resumable, warmup_cosine

COMPONENT = "planner"  # ``planner.safetensors`` and the ``planner`` section of ``config.json``


@dataclass
class Demonstrations:
    """Behaviour-cloning samples, N of them.

    Attributes:
        frames: (N, H, W, 3) uint8.
        ego: (N, 2) float32 ``[speed m/s, yaw_rate rad/s]``.
        command: (N,) int64 route-command index.
        target: (N, poses, 3) float32 the expert's trajectory ``[x m, y m, heading rad]``.
        episodes: (N,) int64 the episode each sample comes from (validation holds out whole episodes).
    """

    frames: torch.Tensor
    ego: torch.Tensor
    command: torch.Tensor
    target: torch.Tensor
    episodes: torch.Tensor

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, mask: torch.Tensor) -> TensorDataset:
        return TensorDataset(self.frames[mask], self.ego[mask], self.command[mask], self.target[mask])


@dataclass
class PlannerTrainConfig:
    """Everything a behaviour-cloning run needs (``configs/planner/bc.yaml``)."""

    model: PlannerNetConfig = field(default_factory=PlannerNetConfig)
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    max_steps: int = 1500
    max_minutes: float | None = None
    checkpoint_every: int = 500
    val_fraction: float = 0.1  # share of the episodes held out for validation
    log_every: int = 50  # steps between loss-curve rows and, when stdout is not a terminal, progress lines
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"


class DemonstrationsModule(L.LightningDataModule):
    """Shuffled batches of the demonstrations; the last ``val_fraction`` of the episodes is validation."""

    def __init__(self, demos: Demonstrations, batch_size: int, val_fraction: float, seed: int) -> None:
        super().__init__()
        self.demos, self.batch_size, self.seed = demos, batch_size, seed
        episodes = torch.unique(demos.episodes)
        n_val = max(1, round(len(episodes) * val_fraction)) if len(episodes) > 1 else 0
        held = episodes[len(episodes) - n_val :]
        self.val_mask = torch.isin(demos.episodes, held)

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        data = self.demos.select(~self.val_mask)
        return DataLoader(data, batch_size=self.batch_size, shuffle=True, drop_last=len(data) > self.batch_size,
                          generator=g)  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.demos.select(self.val_mask), batch_size=256)


class PlannerModule(ResumeMixin, L.LightningModule):
    """Smooth-L1 loss between the predicted and the expert's normalised trajectory."""

    def __init__(self, cfg: PlannerTrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = PlannerNet(cfg.model)
        self.step_count = 0
        self.started = time.monotonic()

    def components(self) -> dict:
        return {COMPONENT: (self.net, self.cfg.model)}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def _common_step(self, batch: list[torch.Tensor]) -> torch.Tensor:
        frames, ego, command, target = batch
        return torch.nn.functional.smooth_l1_loss(self.net(frames, ego, command), target / self.net.scale)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        c = self.cfg
        for group in self.optimizers().param_groups:
            group["lr"] = warmup_cosine(self.step_count, c.lr, c.warmup_steps, c.max_steps)
        loss = self._common_step(batch)
        self.step_count += 1
        self.log("train/loss", loss.detach(), prog_bar=True)
        if c.max_minutes is not None and (time.monotonic() - self.started) / 60 > c.max_minutes:
            self.trainer.should_stop = True
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._common_step(batch), prog_bar=True)


def train_planner(
    cfg: PlannerTrainConfig, demos: Demonstrations, out_dir: str | Path, data: str, fast_dev_run: bool = False
) -> dict:
    """Train (or resume) the planning network on ``demos``; writes a checkpoint directory to ``out_dir``.

    Returns the summary written to ``meta.json`` under ``planner_training``; ``data`` describes the demos there.
    """
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = PlannerModule(cfg)

    def make_dm(start: int) -> DemonstrationsModule:
        return DemonstrationsModule(demos, cfg.batch_size, cfg.val_fraction, cfg.seed + start)

    return fit_resumable(module, make_dm, cfg, out_dir, data, "planner_training", fast_dev_run)
