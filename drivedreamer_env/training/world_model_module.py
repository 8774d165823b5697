"""LightningModule, DataModule and entry point for training the STPT world model on token shards."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from drivedreamer_env.config import ConfigError, from_dict
from drivedreamer_env.data.shards import MANIFEST
from drivedreamer_env.data.tokens import TokenShardSource
from drivedreamer_env.io_utils import write_json
from drivedreamer_env.models.checkpoint import (
    CONFIG,
    CheckpointError,
    load_state_grow,
    load_state_strict,
    read_config,
    read_json,
    write_meta,
)
from drivedreamer_env.models.masking import (
    RESTYLE_MODES,
    build_inputs,
    own_prediction_context,
    proposal_inputs,
    sample_masks,
)
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.tokenizer import TokenizerConfig
from drivedreamer_env.sources.multi import describe, parse_data_specs
from drivedreamer_env.sources.token_cache import resolve_token_dir
from drivedreamer_env.training.loop import ResumeMixin, fit_resumable, warmup_cosine
from drivedreamer_env.training.token_data import TokenDataModule, frame_period
from drivedreamer_env.training.world_model_config import WorldModelTrainConfig


class WorldModelModule(ResumeMixin, L.LightningModule):
    """Masked-token prediction: cross-entropy on masked tokens, plus event-head BCE where labels exist."""

    def __init__(self, cfg: WorldModelTrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = STPT(cfg.model)
        self.step_count = 0
        self.started = time.monotonic()

    def components(self) -> dict:
        return {"world_model": (self.model, self.cfg.model)}

    def configure_optimizers(self):
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "emb" not in n]
        no_decay = [p for n, p in self.model.named_parameters() if not (p.ndim >= 2 and "emb" not in n)]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(0.9, 0.95))

    def _lr(self) -> float:
        c = self.cfg
        return warmup_cosine(self.step_count, c.lr, c.warmup_steps, c.max_steps)

    def _common_step(self, batch: dict[str, torch.Tensor], seed: int, dropout: bool) -> dict[str, torch.Tensor]:
        tokens = batch["tokens"]  # (B, T, h, w)
        b, t, h, w = tokens.shape
        g = torch.Generator().manual_seed(seed)
        masks, modes = sample_masks(b, t, h, w, self.cfg.masking, g, batch.get("has_paired"), batch.get("edge_energy"))
        shown = None
        if self.cfg.masking.self_context > 0:
            if batch.get("proposal") is None:
                raise ValueError("masking.self_context needs token shards with warp proposals: tokenize --proposals")
            shown = own_prediction_context(
                tokens, masks, modes, self.cfg.masking, g, lambda x, rows: self._one_pass(x, rows, batch, g),
                self.cfg.model.mask_id, batch["proposal"], batch["proposal_trusted"],
            )  # fmt: skip
        inputs = build_inputs(
            tokens, masks.to(tokens.device), modes, self.cfg.masking, self.cfg.model.mask_id, g,
            batch.get("proposal"), batch.get("proposal_trusted"), shown, batch.get("paired_tokens"),
        )  # fmt: skip
        inp, masks, targets = inputs.tokens, inputs.loss_mask, inputs.targets
        p = self.cfg.cond_dropout if dropout else 0.0
        drop_text = (torch.rand(b, generator=g) < p).to(tokens.device)
        drop_actions = (torch.rand(b, generator=g) < p).to(tokens.device)
        if "has_actions" in batch:  # clips without actions always take the null action
            drop_actions = drop_actions | ~batch["has_actions"].to(tokens.device)
        words = batch["words"]
        if "paired_words" in batch:  # a restyle sample is captioned with its twin's style (the target's)
            restyle = torch.isin(modes, torch.tensor(RESTYLE_MODES)).to(words.device)
            words = torch.where(restyle.view(-1, *[1] * (words.ndim - 1)), batch["paired_words"], words)
        text = self.model.encode_text(words)
        aligned = None
        if self.cfg.model.proposal_input:
            if batch.get("proposal") is None:
                raise ValueError("model.proposal_input needs token shards with warp proposals: tokenize --proposals")
            aligned = proposal_inputs(
                masks, modes, batch["proposal"], batch["proposal_trusted"], self.cfg.model.mask_id
            )
        out = self.model(
            inp, actions=batch["actions"], text=text, drop_text=drop_text, drop_actions=drop_actions, proposal=aligned
        )
        ce = F.cross_entropy(out.logits[masks].float(), targets[masks])
        acc = (out.logits[masks].argmax(-1) == targets[masks]).float().mean()
        terms = {"ce": ce, "acc": acc}
        loss = ce
        valid = batch["events_valid"]
        if out.events.shape[-1] and valid.any():
            pos_weight = torch.tensor(self.cfg.event_pos_weight, device=tokens.device)
            ev = F.binary_cross_entropy_with_logits(
                out.events[valid].float(), batch["events"][valid], pos_weight=pos_weight
            )
            terms["events"] = ev
            loss = loss + self.cfg.event_weight * ev
        elif out.events.shape[-1]:
            # no labels in this batch (e.g. nuScenes): a zero term keeps the event head in the graph, which DDP
            # needs (every parameter must get a gradient); its value and gradient are exactly zero
            loss = loss + 0.0 * out.events.sum()
        terms["loss"] = loss
        return terms

    def _one_pass(
        self, inputs: torch.Tensor, rows: torch.Tensor, batch: dict[str, torch.Tensor], g: torch.Generator
    ) -> torch.Tensor:
        """The model's one-pass tokens for ``inputs`` (n, T, h, w) of batch rows ``rows``: every masked token
        sampled at temperature 1 (as a one-step rollout samples it), the shown ones kept."""
        text = self.model.encode_text(batch["words"][rows])
        aligned = inputs.clone()  # frames 1.. show exactly their trusted proposals; frame 0 is a true frame
        aligned[:, 0] = self.cfg.model.mask_id
        out = self.model(inputs, actions=batch["actions"][rows], text=text, proposal=aligned)
        probs = torch.softmax(out.logits.float(), dim=-1)
        u = torch.rand(probs.shape[:-1], generator=g).to(probs.device)
        picked = torch.searchsorted(probs.cumsum(-1), u[..., None]).squeeze(-1).clamp_max(probs.shape[-1] - 1)
        return torch.where(inputs == self.cfg.model.mask_id, picked, inputs)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        for group in self.optimizers().param_groups:
            group["lr"] = self._lr()
        # each rank draws its own masks (rank 0 keeps the single-process sequence)
        seed = self.cfg.seed * 1_000_003 + self.step_count + 104_729 * self.global_rank
        terms = self._common_step(batch, seed=seed, dropout=True)
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, prog_bar=True)
        self.step_count += 1
        limit = self.cfg.max_minutes
        if limit is not None and (time.monotonic() - self.started) / 60 > limit:
            self.trainer.should_stop = True
        return terms["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        terms = self._common_step(batch, seed=batch_idx, dropout=False)
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, prog_bar=True, sync_dist=True)


def _copy_tokenizer(src: Path, out: Path) -> None:
    """Make the world-model checkpoint self-contained: tokenizer tensors and config section."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "tokenizer.safetensors").is_file():
        shutil.copyfile(src / "tokenizer.safetensors", out / "tokenizer.safetensors")
    cfg = (
        read_json(out / CONFIG) if (out / CONFIG).is_file() else {"format_version": read_config(src)["format_version"]}
    )
    if "tokenizer" not in cfg:
        write_json(out / CONFIG, {**cfg, "tokenizer": read_config(src)["tokenizer"]})


def _write_camera_and_sampler(out: Path, camera: dict | None, decoding: str, frame_dt_s: float | None) -> None:
    """Record the frames' camera (warp decoding needs it), the decoding the model was trained for and its frame
    period [s] (what the evaluation and the env step at)."""
    cfg = read_json(out / CONFIG)
    updates: dict = {"sampler": {"decoding": decoding}}
    if camera is not None:
        updates["camera"] = camera
    if frame_dt_s is not None:
        updates["frame_dt_s"] = round(frame_dt_s, 6)
    if any(cfg.get(k) != v for k, v in updates.items()):
        write_json(out / CONFIG, {**cfg, **updates})


def _init_model_config(init: str | Path, codebook_size: int, grid: tuple[int, int], tokens: Path) -> STPTConfig:
    """The architecture of the checkpoint being fine-tuned, checked against the token shards' tokenizer."""
    where = Path(init) / CONFIG
    section = read_config(init).get("world_model")
    if section is None:
        raise CheckpointError(f"{where} has no 'world_model' section to fine-tune from")
    try:
        model = from_dict(STPTConfig, section, where=f"{where}:world_model")
    except (ConfigError, ValueError, TypeError) as err:
        raise CheckpointError(str(err)) from err
    if (model.codebook_size, (model.grid_h, model.grid_w)) != (codebook_size, grid):
        raise CheckpointError(
            f"{where}: the world model predicts {model.codebook_size} codes on a {model.grid_h}x{model.grid_w} grid, "
            f"but the token shards in {tokens} have {codebook_size} codes on {grid[0]}x{grid[1]} (another tokenizer)"
        )
    return model


def train_world_model(
    cfg: WorldModelTrainConfig,
    data: str | Sequence[str],
    out_dir: str | Path,
    init: str | None = None,
    fast_dev_run: bool = False,
    warm_start: str | None = None,
) -> dict:
    """Train (or resume) the STPT; with ``init``, fine-tune that checkpoint.

    Args:
        cfg: the run's config. With ``init`` its ``model`` section is replaced by the checkpoint's architecture.
        data: token shards (``tokens:DIR`` or DIR), or any clip source (``nuscenes:DIR``, ``sim:DIR``, ...), which
            is encoded once with ``init``'s tokenizer and cached (see :mod:`drivedreamer_env.sources.token_cache`);
            several sources as a list or comma list, with optional weights ``SPEC@W``
            (:mod:`drivedreamer_env.sources.multi`). They must share one tokenizer.
        out_dir: checkpoint directory; resumed when it holds training state.
        init: checkpoint directory whose world model (and tokenizer) the run starts from.
        fast_dev_run: one batch of train and val, nothing saved.
        warm_start: checkpoint directory of a smaller architecture (e.g. without ``action_input``): the config's
            model is built and every tensor of that checkpoint loaded into it; the new tensors start from their
            initialisation. Unlike ``init`` the architecture comes from ``cfg``.
    """
    if init is not None and warm_start is not None:
        raise ValueError("give --init (fine-tune that architecture) or --warm-start (grow it), not both")
    out = Path(out_dir)
    specs = parse_data_specs(data)
    data = describe(specs)
    directories = [resolve_token_dir(s.spec, init, out) for s in specs]
    directory = directories[0]
    manifest = TokenShardSource(directory).manifest
    for other in directories[1:]:
        if TokenShardSource(other).manifest["tokenizer"] != manifest["tokenizer"]:
            raise ValueError(f"--data: the token shards in {other} and {directory} come from different tokenizers")
    shares = None if specs[0].weight is None else [s.weight / sum(t.weight for t in specs) for s in specs]
    tok = from_dict(TokenizerConfig, manifest["tokenizer"], where=f"{directory / MANIFEST}:tokenizer")
    codebook, grid = tok.codebook_size, tok.grid
    if init is not None:
        cfg.model = _init_model_config(init, codebook, grid, directory)
    cfg.model.codebook_size, (cfg.model.grid_h, cfg.model.grid_w) = codebook, grid
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = WorldModelModule(cfg)
    if init is not None and not (out / "train_state").exists():
        load_state_strict(module.model, Path(init) / "world_model.safetensors", Path(init) / CONFIG)
    new_tensors: list[str] = []
    if warm_start is not None:
        _init_model_config(warm_start, codebook, grid, directory)  # same tokenizer grid and codebook
        grown = STPT(cfg.model) if (out / "train_state").exists() else module.model  # resuming: only the names
        levels = cfg.model.factorised_head
        convert = (lambda t: STPT.factorise_joint_head(t, levels)) if levels else None
        new_tensors = load_state_grow(grown, Path(warm_start) / "world_model.safetensors", convert)
    rank_zero = rank_zero_only.rank == 0  # set from the launcher's environment before the Trainer exists
    uncalibrated = [d for d in directories if TokenShardSource(d).manifest.get("camera") is None]
    if cfg.decoding == "warp" and uncalibrated:
        raise ValueError(
            f"decoding 'warp' needs token shards with a camera: {uncalibrated[0]} was not tokenized --proposals"
        )
    if not fast_dev_run and rank_zero:
        _copy_tokenizer(Path(manifest["tokenizer_checkpoint"]), out)
        fps = manifest.get("fps")
        first = None if fps else next(iter(TokenShardSource(directory)), None)
        period = 1.0 / fps if fps else frame_period([first] if first is not None else [])
        frame_dt = None if period is None else period * cfg.frame_stride
        _write_camera_and_sampler(out, manifest.get("camera"), cfg.decoding, frame_dt)
    summary = fit_resumable(
        module, lambda start: TokenDataModule([str(d) for d in directories], cfg, cfg.seed + start, shares), cfg,
        out, data,
        "world_model_training", fast_dev_run,
    )  # fmt: skip
    if (init or warm_start) is not None and not fast_dev_run and rank_zero_only.rank == 0:
        extra = (
            {"init": str(init), "tokens": ",".join(str(d) for d in directories)}
            if init
            else {"warm_start": str(warm_start)}
        )
        if warm_start is not None:
            meta_path = Path(warm_start) / "meta.json"
            previous = read_json(meta_path).get("world_model_training", {}) if meta_path.is_file() else {}
            extra.update(warm_start_steps=previous.get("steps"), warm_start_wall_time_s=previous.get("wall_time_s"))
            if new_tensors:
                extra["new_tensors"] = new_tensors
        summary = write_meta(out, {"world_model_training": {**summary, **extra}})["world_model_training"]
    return summary
