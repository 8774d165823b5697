"""LightningModule and training entry point for the visual tokenizer."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch

from drivedreamer_env.config import ConfigError, from_dict
from drivedreamer_env.io_utils import atomic_path, write_json
from drivedreamer_env.models.checkpoint import (
    CONFIG,
    CheckpointError,
    load_state_strict,
    read_config,
    read_json,
    write_meta,
)
from drivedreamer_env.models.losses import PatchDiscriminator, gradient_l1, hinge_d_loss, ssim_loss
from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer, frames_to_float
from drivedreamer_env.training.loop import ResumeMixin, fit_resumable, warmup_cosine
from drivedreamer_env.training.state import STATE_DIR


@dataclass
class TokenizerTrainConfig:
    """Everything a tokenizer run needs (``configs/tokenizer/<size>.yaml``)."""

    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 5000
    max_minutes: float | None = None  # stop (and save) when the wall-clock budget is spent
    l1_weight: float = 1.0
    gradient_weight: float = 0.5
    ssim_weight: float = 0.2
    adversarial_weight: float = 0.0  # > 0 turns on the patch GAN after adversarial_start_step
    adversarial_start_step: int = 2000
    checkpoint_every: int = 500  # steps between resumable checkpoints
    val_fraction: float = 0.05  # share of the windows held out for validation (every clip's tail)
    replay_share: float = 0.3  # share of the training frames from the --replay sources (fine-tuning)
    log_every: int = 50  # steps between loss-curve rows and, when stdout is not a terminal, progress lines
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"


class TokenizerModule(ResumeMixin, L.LightningModule):
    """Reconstruction training with L1 + image-gradient + SSIM losses and an optional patch GAN."""

    def __init__(self, cfg: TokenizerTrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = VisualTokenizer(cfg.model)
        self.discriminator = PatchDiscriminator() if cfg.adversarial_weight > 0 else None
        self.automatic_optimization = False  # two optimizers when the GAN is on
        self.step_count = 0  # optimizer steps taken, across resumes
        self.started = time.monotonic()

    def components(self) -> dict:
        return {"tokenizer": (self.tokenizer, self.cfg.model)}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(
            self.tokenizer.parameters(), lr=self.cfg.lr, betas=(0.9, 0.99), weight_decay=self.cfg.weight_decay
        )
        if self.discriminator is None:
            return [opt]
        return [opt, torch.optim.AdamW(self.discriminator.parameters(), lr=self.cfg.lr, betas=(0.5, 0.9))]

    def _lr(self) -> float:
        c = self.cfg
        return warmup_cosine(self.step_count, c.lr, c.warmup_steps, c.max_steps)

    def _losses(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        x = frames_to_float(frames[:, None])  # (B, 1, 3, H, W)
        recon, enc = self.tokenizer(x)
        x2, r2 = x[:, 0], recon[:, 0]
        terms = {
            "l1": (r2 - x2).abs().mean(),
            "grad": gradient_l1(r2, x2),
            "ssim": ssim_loss(r2, x2),
            "aux": enc.aux_loss,
        }
        c = self.cfg
        loss = (
            c.l1_weight * terms["l1"] + c.gradient_weight * terms["grad"] + c.ssim_weight * terms["ssim"] + terms["aux"]
        )
        return loss, terms, x2, r2

    def training_step(self, frames: torch.Tensor, batch_idx: int) -> None:
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        for group in opts[0].param_groups:
            group["lr"] = self._lr()
        loss, terms, real, recon = self._losses(frames)
        gan_on = self.discriminator is not None and self.step_count >= self.cfg.adversarial_start_step
        if gan_on:
            terms["g_adv"] = -self.discriminator(recon).mean()
            loss = loss + self.cfg.adversarial_weight * terms["g_adv"]
        opts[0].zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opts[0].step()
        if gan_on:
            d_loss = hinge_d_loss(self.discriminator(real), self.discriminator(recon.detach()))
            opts[1].zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opts[1].step()
            terms["d"] = d_loss
        self.step_count += 1
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in terms.items()} | {"train/loss": loss.detach()}, prog_bar=True
        )
        if self.cfg.max_minutes is not None and (time.monotonic() - self.started) / 60 > self.cfg.max_minutes:
            self.trainer.should_stop = True

    def validation_step(self, frames: torch.Tensor, batch_idx: int) -> None:
        from drivedreamer_env.metrics import psnr

        loss, _, real, recon = self._losses(frames)
        self.log("val/loss", loss, prog_bar=True)
        self.log("val/psnr", psnr((recon.clamp(-1, 1) + 1) * 127.5, (real + 1) * 127.5).mean(), prog_bar=True)


def init_tokenizer_config(init: str | Path) -> TokenizerConfig:
    """The tokenizer architecture of checkpoint ``init`` (what ``--init`` fine-tunes).

    Raises:
        CheckpointError: ``init`` has no readable ``tokenizer`` section.
    """
    where = Path(init) / CONFIG
    section = read_config(init).get("tokenizer")
    if section is None:
        raise CheckpointError(f"{where} has no 'tokenizer' section to fine-tune from")
    try:
        return from_dict(TokenizerConfig, section, where=f"{where}:tokenizer")
    except (ConfigError, ValueError, TypeError) as err:
        raise CheckpointError(str(err)) from err


def _carry_world_model(init: Path, out: Path) -> None:
    """Copy ``init``'s world model (tensors and its config sections) into ``out`` unless it has one, so the
    fine-tuned tokenizer's directory is a whole checkpoint that ``train world-model --init OUT`` continues."""
    cfg = read_config(init)
    if "world_model" not in cfg or not (init / "world_model.safetensors").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    mine = read_json(out / CONFIG) if (out / CONFIG).is_file() else {"format_version": cfg["format_version"]}
    if "world_model" in mine:
        return
    with atomic_path(out / "world_model.safetensors") as tmp:
        shutil.copyfile(init / "world_model.safetensors", tmp)
    carried = {k: cfg[k] for k in ("world_model", "camera", "sampler") if k in cfg}
    write_json(out / CONFIG, {**mine, **carried})


def train_tokenizer(
    cfg: TokenizerTrainConfig,
    data: str | Sequence[str],
    out_dir: str | Path,
    fast_dev_run: bool = False,
    init: str | Path | None = None,
    replay: str | Sequence[str] | None = None,
) -> dict:
    """Train (or resume, or with ``init`` fine-tune) a tokenizer on Clip source(s) ``data``.

    Args:
        cfg: the run's config. With ``init`` its ``model`` section is replaced by the checkpoint's architecture.
        data: one spec, a comma list or a list of specs, each with an optional weight ``SPEC@W``
            (:mod:`drivedreamer_env.sources.multi`).
        out_dir: the checkpoint directory written (``tokenizer.safetensors`` + ``config.json``, ``meta.json``);
            if ``out_dir/train_state`` exists the run resumes from it (the model config must match).
        fast_dev_run: one batch of train and val, nothing saved.
        init: a checkpoint directory whose tokenizer the run starts from (its world model, if any, is copied
            along unchanged, so ``out_dir`` is a whole checkpoint).
        replay: sources replayed during fine-tuning (e.g. ``sim:DIR`` from ``drivedreamer data sim``) that make
            up ``cfg.replay_share`` of the training frames (or their ``@W`` shares).

    Returns:
        The summary written to ``meta.json`` under ``tokenizer_training``.
    """
    from drivedreamer_env.sources.multi import describe, parse_data_specs
    from drivedreamer_env.training.frames_data import FramesDataModule, replay_share_of

    out = Path(out_dir)
    specs = [str(s) for s in parse_data_specs(data)]
    replay_specs = parse_data_specs(replay) if replay else []
    share = replay_share_of(replay_specs, cfg.replay_share) if replay_specs else 0.0
    described = describe(parse_data_specs(specs))
    if init is not None:
        cfg.model = init_tokenizer_config(init)
        if not replay_specs:
            print(
                "fine-tuning without --replay: nothing reminds the tokenizer of the frames it was trained on, so "
                "it may forget them; give --replay sim:DIR (from `drivedreamer data sim`)",
                flush=True,
            )
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = TokenizerModule(cfg)
    resuming = (out / STATE_DIR / "state.json").is_file()
    if init is not None and (fast_dev_run or not resuming):  # a resumed run restores its own weights
        load_state_strict(module.tokenizer, Path(init) / "tokenizer.safetensors", Path(init) / CONFIG)
        if not fast_dev_run:
            _carry_world_model(Path(init), out)
    box: dict = {}

    def make_dm(start: int) -> FramesDataModule:
        m = cfg.model
        replayed = [str(s) for s in replay_specs]
        box["dm"] = FramesDataModule(
            specs, m.height, m.width, cfg.batch_size, cfg.val_fraction, cfg.seed + start, replayed, share
        )
        return box["dm"]

    summary = fit_resumable(module, make_dm, cfg, out, described, "tokenizer_training", fast_dev_run)
    if "dm" in box and box["dm"].train is not None and not fast_dev_run:
        extra = {"train_frames": len(box["dm"].train)}
        if init is not None:
            extra["init"] = str(init)
        if replay_specs:
            extra.update(replay=describe(replay_specs), replay_share=share)
        summary = write_meta(out, {"tokenizer_training": {**summary, **extra}})["tokenizer_training"]
    return summary
