"""``drivedreamer <verb>``: the command-line entry point.

Verbs: ``demo``, ``counterfactual``, ``play``, ``data``, ``train``, ``eval``, ``generate``, ``bench``. Each verb
imports what it needs when it runs, so ``--help`` and unrelated verbs stay fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from drivedreamer_env.config import load_config

DEFAULT_SIM_CONFIG = "configs/sim/default.yaml"
FINETUNE_CONFIG = "configs/world_model/finetune.yaml"  # `train world-model --init` without --config
TRAINER_OVERRIDES = ("accelerator", "devices", "strategy", "precision", "num_nodes")


def _sim_config(args: argparse.Namespace):
    from drivedreamer_env.sim.config import CameraConfig, SimConfig

    cfg = load_config(SimConfig, args.config) if args.config else SimConfig()
    if args.width or args.height:
        cam = cfg.camera
        cfg.camera = CameraConfig(
            **{**cam.__dict__, "width": args.width or cam.width, "height": args.height or cam.height}
        )
    return cfg


def cmd_data_sim(args: argparse.Namespace) -> int:
    """Record simulator episodes as clip shards or as a nuScenes-format dataset."""
    from tqdm import tqdm

    from drivedreamer_env.sim.record import record_episodes, write_shards

    cfg = _sim_config(args)
    seeds = list(range(args.seed_start, args.seed_start + args.episodes))
    t0 = time.perf_counter()
    with tqdm(total=len(seeds), desc="episodes", unit="ep") as bar:
        clips = record_episodes(cfg, seeds, args.steps, progress=bar.update)
        if args.format == "shards":
            episodes = write_shards(clips, args.out, cfg)
            frames = sum(e["frames"] for e in episodes)
        else:
            from drivedreamer_env.nuscenes.writer import export_nuscenes

            clips = list(clips)
            export_nuscenes(clips, args.out, version=args.version, geometry=cfg.geometry, overwrite=args.overwrite)
            episodes, frames = clips, sum(len(c) for c in clips)
    dt = time.perf_counter() - t0
    print(f"wrote {len(episodes)} episodes, {frames} frames ({args.format}) to {args.out} in {dt:.1f} s")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure and write benchmark JSON."""
    import json

    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.provenance import environment

    result = {"environment": environment("cpu")}  # both benchmarks run on the CPU
    if args.only in (None, "world-model"):
        from drivedreamer_env.bench.world_model import run_world_model_benchmark

        wm = run_world_model_benchmark(args.checkpoint, steps=args.env_steps, threads=args.threads)
        result.update(wm)
        result["device"] = result["environment"]["device"]
        result["commit"] = result["environment"]["commit"]
    if args.only in (None, "sim"):
        from drivedreamer_env.bench.sim import run_sim_benchmark

        result["sim"] = run_sim_benchmark(seeds=args.seeds, steps=args.steps)
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


def _train_config(cls, args: argparse.Namespace):
    """Load a training config and apply the command-line overrides shared by every `train` verb."""
    import torch

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
    if args.threads:
        torch.set_num_threads(args.threads)
    return cfg


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    """Train (or resume) the visual tokenizer."""

    from drivedreamer_env.training.tokenizer_module import TokenizerTrainConfig, train_tokenizer

    cfg = _train_config(TokenizerTrainConfig, args)
    summary = train_tokenizer(cfg, args.data, args.out, fast_dev_run=args.fast_dev_run)
    print(summary)
    return 0


def cmd_train_world_model(args: argparse.Namespace) -> int:
    """Train (or resume, or fine-tune with --init) the STPT world model on token shards."""

    from drivedreamer_env.training.world_model_module import WorldModelTrainConfig, train_world_model

    if args.config is None:
        if args.init is None:
            raise ValueError("--config is required (or --init CHECKPOINT to fine-tune with " + FINETUNE_CONFIG + ")")
        repo_config = Path(__file__).resolve().parents[1] / FINETUNE_CONFIG
        args.config = str(repo_config if repo_config.is_file() else FINETUNE_CONFIG)
    cfg = _train_config(WorldModelTrainConfig, args)
    summary = train_world_model(
        cfg, args.data, args.out, init=args.init, fast_dev_run=args.fast_dev_run, warm_start=args.warm_start
    )
    print(summary)
    return 0


def cmd_data_tokenize(args: argparse.Namespace) -> int:
    """Encode a clip source once with a tokenizer checkpoint into token shards."""
    from tqdm import tqdm

    from drivedreamer_env.models.checkpoint import load_tokenizer
    from drivedreamer_env.sources.tokenize import tokenize_source

    tokenizer = load_tokenizer(args.checkpoint)
    with tqdm(desc="clips", unit="clip") as bar:
        episodes = tokenize_source(
            tokenizer, args.data, args.out, str(args.checkpoint), fps=args.fps, progress=bar.update
        )
    print(f"wrote {len(episodes)} token clips, {sum(e['frames'] for e in episodes)} frames to {args.out}")
    return 0


def cmd_eval_tokenizer(args: argparse.Namespace) -> int:
    """Evaluate a tokenizer checkpoint on held-out frames."""
    from drivedreamer_env.eval.tokenizer_eval import evaluate_tokenizer

    result = evaluate_tokenizer(args.checkpoint, args.data, args.out, max_frames=args.max_frames)
    for key in ("psnr", "ssim", "code_usage", "encode_fps", "decode_fps"):
        print(f"{key:>12}: {result[key]}")
    print(f"wrote {args.out}")
    return 0


def cmd_eval_world_model(args: argparse.Namespace) -> int:
    """Evaluate a world-model checkpoint against the simulator on held-out seeds."""
    from drivedreamer_env.eval.world_model_eval import evaluate_world_model
    from drivedreamer_env.models.sampler import SamplerConfig

    sampler = SamplerConfig(steps=args.steps, temperature=args.temperature, guidance_scale=args.guidance)
    if args.data is not None:  # recorded clips (e.g. held-out nuScenes scenes) instead of the simulator
        from drivedreamer_env.eval.clip_eval import evaluate_clips

        result = evaluate_clips(
            args.checkpoint, args.data, args.out, args.context, args.horizon, args.max_windows, sampler, args.device
        )
    else:
        result = evaluate_world_model(args.checkpoint, args.episodes, args.out, sampler=sampler, device=args.device)
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:>32}: {value:.4f}")
    print(f"wrote {args.out}")
    return 0


def _add_train_overrides(p: argparse.ArgumentParser) -> None:
    """The overrides every `train` verb takes (applied by ``_train_config``)."""
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    p.add_argument("--max-minutes", type=float, default=None, help="override the config's wall-clock budget")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of train and val, nothing saved")
    p.add_argument("--batch-size", type=int, default=None, help="override the config's batch_size (per device)")
    trainer = p.add_argument_group("Lightning Trainer overrides (e.g. --trainer.devices 8 --trainer.strategy ddp)")
    trainer.add_argument("--trainer.accelerator", dest="trainer_accelerator", default=None, help="cpu, gpu, auto")
    trainer.add_argument("--trainer.devices", dest="trainer_devices", type=int, default=None, help="devices per node")
    trainer.add_argument("--trainer.strategy", dest="trainer_strategy", default=None, help="ddp, ddp_spawn, fsdp, auto")
    trainer.add_argument("--trainer.precision", dest="trainer_precision", default=None, help="32-true, bf16-mixed")
    trainer.add_argument("--trainer.num_nodes", dest="trainer_num_nodes", type=int, default=None, help="nodes")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drivedreamer", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)

    from drivedreamer_env.envs.cli import add_parsers as add_env_verbs

    add_env_verbs(sub)  # demo, counterfactual, play

    data = sub.add_parser("data", help="make datasets").add_subparsers(dest="what", required=True)
    sim = data.add_parser("sim", help="record simulator episodes")
    sim.add_argument("--episodes", type=int, required=True, help="number of episodes (one world each)")
    sim.add_argument("--steps", type=int, default=200, help="frames per episode (fewer if it ends early)")
    sim.add_argument("--out", required=True, help="output directory")
    sim.add_argument("--format", choices=("shards", "nuscenes"), default="shards")
    sim.add_argument("--version", default="v1.0-mini", help="nuScenes version folder name (--format nuscenes)")
    sim.add_argument("--seed-start", type=int, default=0, help="first episode seed")
    sim.add_argument("--config", default=None, help=f"SimConfig YAML (e.g. {DEFAULT_SIM_CONFIG})")
    sim.add_argument("--width", type=int, default=None, help="image width [px] (overrides the config)")
    sim.add_argument("--height", type=int, default=None, help="image height [px] (overrides the config)")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing nuScenes export in --out")
    sim.set_defaults(func=cmd_data_sim)

    from drivedreamer_env.nuscenes.cli import add_parser as add_data_nuscenes

    add_data_nuscenes(data)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    tok = train.add_parser("tokenizer", help="train the visual tokenizer (resumes from --out)")
    tok.add_argument("--config", required=True, help="configs/tokenizer/<size>.yaml")
    tok.add_argument("--data", required=True, help="clip source: sim:DIR, video:PATH, a shard dir or a frame folder")
    tok.add_argument("--out", default="outputs/tokenizer", help="checkpoint directory (resumed if it has state)")
    _add_train_overrides(tok)
    tok.set_defaults(func=cmd_train_tokenizer)

    ev = sub.add_parser("eval", help="evaluate a model").add_subparsers(dest="what", required=True)
    etok = ev.add_parser("tokenizer", help="PSNR, SSIM, code usage and speed on held-out frames")
    etok.add_argument("--checkpoint", required=True, help="checkpoint directory")
    etok.add_argument("--data", required=True, help="clip source of held-out frames")
    etok.add_argument("--out", required=True, help="result JSON (a side-by-side PNG is written next to it)")
    etok.add_argument("--max-frames", type=int, default=2000, help="frames to evaluate")
    etok.set_defaults(func=cmd_eval_tokenizer)

    tk = data.add_parser("tokenize", help="encode a clip source into token shards for world-model training")
    tk.add_argument("--checkpoint", required=True, help="checkpoint directory with a tokenizer")
    tk.add_argument("--data", required=True, help="clip source spec")
    tk.add_argument("--out", required=True, help="output directory")
    tk.add_argument("--fps", type=float, default=None, help="resample clips to this frame rate first")
    tk.set_defaults(func=cmd_data_tokenize)

    wm = train.add_parser("world-model", help="train the STPT world model (resumes from --out)")
    wm.add_argument(
        "--config", default=None,
        help=f"configs/world_model/<size>.yaml (with --init the default is {FINETUNE_CONFIG}; the architecture "
        "always comes from the --init checkpoint)",
    )  # fmt: skip
    wm.add_argument(
        "--data", required=True,
        help="token shards (tokens:DIR or DIR from `drivedreamer data tokenize`), or with --init a clip source such "
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

    from drivedreamer_env.tasks_cli import add_parser as add_generate

    add_generate(sub)

    ewm = ev.add_parser("world-model", help="fidelity, controllability and text control vs the simulator")
    ewm.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped model)")
    ewm.add_argument("--episodes", type=int, default=16, help="held-out simulator episodes")
    ewm.add_argument("--out", required=True, help="result JSON (contact sheets are written next to it)")
    ewm.add_argument("--steps", type=int, default=8, help="MaskGIT steps per frame")
    ewm.add_argument("--temperature", type=float, default=1.0)
    ewm.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale")
    ewm.add_argument("--device", default="auto")
    ewm.add_argument("--data", default=None, help="evaluate open-loop on the clips of this source (e.g. nuscenes:DIR)")
    ewm.add_argument("--context", type=int, default=4, help="real frames given (with --data)")
    ewm.add_argument("--horizon", type=int, default=8, help="frames dreamed after them (with --data)")
    ewm.add_argument("--max-windows", type=int, default=64, help="windows evaluated (with --data)")
    ewm.set_defaults(func=cmd_eval_world_model)

    bench = sub.add_parser("bench", help="measure speed and write JSON")
    bench.add_argument("--only", choices=("world-model", "sim"), default=None, help="run one benchmark")
    bench.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    bench.add_argument("--env-steps", type=int, default=60, help="timed single-env steps")
    bench.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    bench.add_argument("--out", default=None, help="result JSON path")
    bench.add_argument("--seeds", type=int, default=12, help="simulator episodes per measurement")
    bench.add_argument("--steps", type=int, default=200, help="simulator steps per episode")
    bench.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # bad input: one clear line, no traceback
        print(f"drivedreamer: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
