"""``drivedreamer train <tokenizer|world-model|planner>``: train, resume or fine-tune a model (Lightning, imported
lazily).

Every verb loads a training config YAML and apply the same command-line overrides (steps, wall-clock budget,
batch size, threads and the Lightning Trainer's accelerator / devices / strategy / precision / nodes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

FINETUNE_CONFIG = "configs/world_model/finetune.yaml"  # `train world-model --init` without --config
TOKENIZER_FINETUNE_CONFIG = "configs/tokenizer/finetune.yaml"  # `train tokenizer --init` without --config
PLANNER_CONFIG = "configs/planner/bc.yaml"
TRAINER_OVERRIDES = ("accelerator", "devices", "strategy", "precision", "num_nodes")
REPO_ROOT = Path(__file__).resolve().parents[2]  # where configs/ lives in a source checkout


def _train_config(cls, args: argparse.Namespace):
    """Load a training config and apply the command-line overrides shared by every `train` verb."""
    import torch

    from drivedreamer_env.config import load_config

    cfg = load_config(cls, args.config)
    if args.max_steps is not None:
        cfg.max_steps = args.max_steps
    if args.batch_size is not None:
        cfg.batch_size = args.batch_size
    for name in TRAINER_OVERRIDES:
        value = getattr(args, f"trainer_{name}")
        if value is not None:
            if not hasattr(cfg, name):
                raise ValueError(f"--trainer.{name}: {cls.__name__} has no {name!r} setting")
            setattr(cfg, name, value)
    if args.max_minutes is not None:
        cfg.max_minutes = args.max_minutes
    for name in ("val_fraction", "log_every"):
        if getattr(args, name, None) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.threads:
        torch.set_num_threads(args.threads)
    return cfg


def _repo_config(relative: str) -> str:
    """A config shipped in configs/: the source checkout's copy, else the path relative to the working directory."""
    repo_config = REPO_ROOT / relative
    return str(repo_config if repo_config.is_file() else relative)


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    """Train (or resume) the visual tokenizer."""
    from drivedreamer_env.training.tokenizer_module import TokenizerTrainConfig, train_tokenizer

    if args.config is None:
        if args.init is None:
            raise ValueError(
                "--config is required (or --init CHECKPOINT to fine-tune with " + TOKENIZER_FINETUNE_CONFIG + ")"
            )
        args.config = _repo_config(TOKENIZER_FINETUNE_CONFIG)
    if args.replay and args.init is None:
        raise ValueError("--replay mixes in frames while fine-tuning: give --init CHECKPOINT too")
    cfg = _train_config(TokenizerTrainConfig, args)
    summary = train_tokenizer(
        cfg, args.data, args.out, fast_dev_run=args.fast_dev_run, init=args.init, replay=args.replay
    )
    print(summary)
    return 0


def cmd_train_world_model(args: argparse.Namespace) -> int:
    """Train (or resume, or fine-tune with --init) the STPT world model on token shards."""
    from drivedreamer_env.training.world_model_config import WorldModelTrainConfig
    from drivedreamer_env.training.world_model_module import train_world_model

    if args.config is None:
        if args.init is None:
            raise ValueError("--config is required (or --init CHECKPOINT to fine-tune with " + FINETUNE_CONFIG + ")")
        args.config = _repo_config(FINETUNE_CONFIG)
    cfg = _train_config(WorldModelTrainConfig, args)
    summary = train_world_model(
        cfg, args.data, args.out, init=args.init, fast_dev_run=args.fast_dev_run, warm_start=args.warm_start
    )
    print(summary)
    return 0


def cmd_train_planner(args: argparse.Namespace) -> int:
    """Record simulator demonstrations and train the behaviour-cloning planner on them."""
    from drivedreamer_env.planning.bc import DEMO_SEED0, record_demonstrations
    from drivedreamer_env.training.planner_module import PlannerTrainConfig, train_planner

    if args.config is None:
        args.config = _repo_config(PLANNER_CONFIG)
    cfg = _train_config(PlannerTrainConfig, args)
    demos = record_demonstrations(args.episodes, args.episode_steps, noise=args.noise)
    data = (f"simulator demonstrations: {args.episodes} episodes x {args.episode_steps} steps from seed "
            f"{DEMO_SEED0}, oracle steering noise {args.noise} ({len(demos)} frames)")  # fmt: skip
    print(train_planner(cfg, demos, args.out, data, fast_dev_run=args.fast_dev_run))
    return 0


def _add_train_overrides(p: argparse.ArgumentParser) -> None:
    """The overrides every `train` verb takes (applied by ``_train_config``)."""
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--max-minutes", type=float, default=None, help="override the config's wall-clock budget")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of train and val, nothing saved")
    p.add_argument("--batch-size", type=int, default=None, help="override the config's batch_size (per device)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of the windows held out for validation, from every clip's tail (default 0.05)",
    )
    p.add_argument(
        "--log-every",
        type=int,
        default=None,
        help="steps between progress lines (when stdout is not a terminal) and loss-curve rows (default 50)",
    )
    trainer = p.add_argument_group("Lightning Trainer overrides (e.g. --trainer.devices 8 --trainer.strategy ddp)")
    trainer.add_argument("--trainer.accelerator", dest="trainer_accelerator", default=None, help="cpu, gpu, auto")
    trainer.add_argument("--trainer.devices", dest="trainer_devices", type=int, default=None, help="devices per node")
    trainer.add_argument("--trainer.strategy", dest="trainer_strategy", default=None, help="ddp, ddp_spawn, fsdp, auto")
    trainer.add_argument("--trainer.precision", dest="trainer_precision", default=None, help="32-true, bf16-mixed")
    trainer.add_argument("--trainer.num_nodes", dest="trainer_num_nodes", type=int, default=None, help="nodes")


def _add_tokenizer(train: argparse._SubParsersAction) -> None:
    tok = train.add_parser("tokenizer", help="train the visual tokenizer (resumes from --out)")
    tok.add_argument(
        "--config", default=None,
        help=f"configs/tokenizer/<size>.yaml (with --init the default is {TOKENIZER_FINETUNE_CONFIG}; the "
        "architecture always comes from the --init checkpoint)",
    )  # fmt: skip
    tok.add_argument(
        "--init", default=None,
        help="checkpoint directory whose tokenizer to fine-tune (e.g. data/checkpoints/default); its world model "
        "is copied into --out unchanged",
    )  # fmt: skip
    tok.add_argument(
        "--replay", action="append", default=None,
        help="(with --init; repeatable) frames to keep replaying so the tokenizer does not forget them, e.g. "
        "sim:DIR from `drivedreamer data sim`; they make up the config's replay_share (default 0.3) of the "
        "training frames, or SPEC@SHARE sets it",
    )  # fmt: skip
    tok.add_argument(
        "--data",
        required=True,
        action="append",
        help="clip source: sim:DIR, video:PATH, a shard dir or a "
        "frame folder; repeat the flag or give a comma list for several, SPEC@W weights their share",
    )
    tok.add_argument("--out", default="outputs/tokenizer", help="checkpoint directory (resumed if it has state)")
    _add_train_overrides(tok)
    tok.set_defaults(func=cmd_train_tokenizer)


def _add_world_model(train: argparse._SubParsersAction) -> None:
    wm = train.add_parser("world-model", help="train the STPT world model (resumes from --out)")
    wm.add_argument(
        "--config", default=None,
        help=f"configs/world_model/<size>.yaml (with --init the default is {FINETUNE_CONFIG}; the architecture "
        "always comes from the --init checkpoint)",
    )  # fmt: skip
    wm.add_argument(
        "--data", required=True, action="append",
        help="(repeatable, or a comma list; SPEC@W weights a source's share) token shards (tokens:DIR or DIR from "
        "`drivedreamer data tokenize`), or with --init a clip source such "
        "as nuscenes:DIR (from `drivedreamer data nuscenes`), encoded once with the --init tokenizer and cached",
    )  # fmt: skip
    wm.add_argument("--out", default="outputs/world_model", help="checkpoint directory (resumed if it has state)")
    wm.add_argument("--init", default=None, help="checkpoint directory to fine-tune from")
    wm.add_argument(
        "--warm-start", default=None,
        help="checkpoint directory of a smaller architecture to start from (e.g. the shipped model before "
        "action_input): its tensors are loaded into --config's model, new ones keep their initialisation",
    )  # fmt: skip
    _add_train_overrides(wm)
    wm.set_defaults(func=cmd_train_world_model)


def _add_planner(train: argparse._SubParsersAction) -> None:
    pl = train.add_parser("planner", help="behaviour-cloning planner on simulator demonstrations (resumes from --out)")
    pl.add_argument("--config", default=None, help=f"PlannerTrainConfig YAML (default {PLANNER_CONFIG})")
    pl.add_argument("--out", default="outputs/planner_bc", help="checkpoint directory (resumed if it has state)")
    pl.add_argument("--episodes", type=int, default=150, help="demonstration episodes (simulator seeds from 20,000)")
    pl.add_argument("--episode-steps", type=int, default=100, help="steps per demonstration episode")
    pl.add_argument("--noise", type=float, default=0.2, help="steering noise of the demonstrating oracle")
    _add_train_overrides(pl)
    pl.set_defaults(func=cmd_train_planner)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` and its ``tokenizer``, ``world-model``, ``planner`` and ``policy`` sub-verbs."""
    from drivedreamer_env.cli import policy

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    _add_tokenizer(train)
    _add_world_model(train)
    _add_planner(train)
    policy.add_train_parser(train)
