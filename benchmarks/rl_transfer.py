"""Dream-to-simulator transfer: PPO trained in the dream and in ProcDrive-v0 for the same env steps, both driven in
ProcDrive-v0 on the same held-out seeds, beside the random policy and the simulator's lane keeper.

Arms (each a ``train policy`` run directory under ``--work``, resumed when run again, skipped once finished):
``dream`` (``--world dream``) and ``sim`` (``--world sim``), with the same seed, PPO settings, ``--steps`` and
``--num-envs``. Then every controller drives the ``--episodes`` held-out simulator episodes (seeds ``2**31 + k``,
never drawn in training). The result JSON has the issue's keys::

    dream_trained_sim_return, sim_trained_sim_return, random_sim_return, lane_keeper_sim_return  (mean returns)
    transfer_ratio = (dream_trained - random) / (sim_trained - random)   (None when sim_trained <= random)
    env_steps (per arm), wall_s (per arm's training, summed over resumed segments, and the evaluation)

plus the paired margins over random with 95 % intervals, every controller's summary and episodes, the training
speeds and the run's environment.

Usage (the full run; each arm about an hour on a 2-core CPU for the dream, minutes for the sim):
    OMP_NUM_THREADS=1 python benchmarks/rl_transfer.py --steps 57344 --work outputs/rl_transfer \\
        --out benchmarks/results/rl_transfer.json
``--arm dream`` / ``--arm sim`` train one arm only (e.g. as two background jobs), ``--arm eval`` only evaluates.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ARMS = ("dream", "sim")


def train_arm(world: str, args: argparse.Namespace) -> dict:
    from drivedreamer_env.rl.config import PolicyTrainConfig
    from drivedreamer_env.rl.train import train_policy

    deviation = {} if args.dream_max_deviation is None else {"dream_max_deviation_m": args.dream_max_deviation}
    cfg = PolicyTrainConfig(world=world, steps=args.steps, num_envs=args.num_envs, seed=args.seed,
                            checkpoint=args.checkpoint, device=args.device, sampling_steps=args.sampling_steps,
                            checkpoint_every=args.checkpoint_every, dream_max_episode_steps=args.dream_horizon,
                            start_offset_m=args.start_offset, start_heading_rad=args.start_heading,
                            start_drive_s=args.start_drive, **deviation)  # fmt: skip
    summary = train_policy(cfg, Path(args.work) / world, progress=not args.no_progress)
    print(f"{world}: {summary}")
    return vars(summary)


def evaluate(args: argparse.Namespace) -> dict:
    from drivedreamer_env.envs.config import DreamConfig
    from drivedreamer_env.provenance import environment
    from drivedreamer_env.rl.controllers import LaneKeeperController, PolicyController, RandomController
    from drivedreamer_env.rl.evaluate import evaluate_controller, held_out_seeds, paired_margin

    work = Path(args.work)
    meta = {arm: json.loads((work / arm / "meta.json").read_text()) for arm in ARMS}
    seeds = held_out_seeds(args.episodes)
    world = DreamConfig(checkpoint=args.checkpoint)  # the sim renders at its resolution
    controllers = {
        "dream_trained": PolicyController(work / "dream", args.device),
        "sim_trained": PolicyController(work / "sim", args.device),
        "random": RandomController(args.seed),
        "lane_keeper": LaneKeeperController(),
    }
    t0 = time.perf_counter()
    runs = {name: evaluate_controller(c, "sim", seeds, world) for name, c in controllers.items()}
    eval_s = time.perf_counter() - t0
    means = {name: run.summary()["mean_return"] for name, run in runs.items()}
    gain_dream, gain_sim = means["dream_trained"] - means["random"], means["sim_trained"] - means["random"]
    margins = {f"{name}_minus_random": paired_margin(runs[name], runs["random"]) for name in
               ("dream_trained", "sim_trained", "lane_keeper")}  # fmt: skip
    ratio = round(gain_dream / gain_sim, 4) if gain_sim > 0 else None
    dream_margin = margins["dream_trained_minus_random"]
    return {
        "benchmark": "rl_transfer",
        "dream_trained_sim_return": means["dream_trained"],
        "sim_trained_sim_return": means["sim_trained"],
        "random_sim_return": means["random"],
        "lane_keeper_sim_return": means["lane_keeper"],
        "transfer_ratio": ratio,
        "env_steps": {arm: meta[arm]["env_steps"] for arm in ARMS},
        "wall_s": {**{f"{arm}_train": meta[arm]["wall_s"] for arm in ARMS}, "eval": round(eval_s, 1)},
        "train_env_steps_per_s": {arm: round(meta[arm]["env_steps"] / meta[arm]["wall_s"], 2) for arm in ARMS},
        "margins": margins,
        "goals": {
            "transfer_ratio_at_least_0.8": None if ratio is None else ratio >= 0.8,
            "dream_trained_beats_random": dream_margin["ci95"] is not None and dream_margin["ci95"][0] > 0,
        },
        "episodes": args.episodes,
        "seeds": [seeds[0], seeds[-1]],
        "evaluations": {name: run.to_dict() for name, run in runs.items()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("arm", "no_progress")},
        "train_configs": {arm: json.loads((work / arm / "config.json").read_text())["train"] for arm in ARMS},
        "environment": environment(args.device),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, required=True, help="env steps per arm (rounded up to whole rollouts)")
    ap.add_argument("--num-envs", type=int, default=8, help="sub-envs per arm (8)")
    ap.add_argument("--episodes", type=int, default=50, help="held-out simulator episodes per controller (50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--sampling-steps", type=int, default=None, help="MaskGIT steps per dreamt frame (the checkpoint's)"
    )
    ap.add_argument("--checkpoint-every", type=int, default=4096, help="env steps between checkpoints (4096)")
    ap.add_argument(
        "--dream-horizon",
        type=int,
        default=20,
        help="the dream arm's episode truncation, PPO bootstrapping past it (20; 0 = 400, the sim's)",
    )
    ap.add_argument(
        "--start-offset",
        type=float,
        default=0.0,
        help="training episodes (both arms) start up to this many metres off the lane centre (0)",
    )
    ap.add_argument(
        "--start-heading",
        type=float,
        default=0.0,
        help="training episodes (both arms) start up to this many radians off the road heading (0)",
    )
    ap.add_argument(
        "--start-drive",
        type=float,
        default=0.0,
        help="the dream arm's episodes start after the lane keeper drove the scene U(0, this) seconds (0)",
    )
    ap.add_argument(
        "--dream-max-deviation",
        type=float,
        default=None,
        help="the dream arm's episodes end this many metres off the lane centre (train policy's 1.0; the env's: 4.0)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    ap.add_argument("--work", required=True, help="directory of the two arms' runs")
    ap.add_argument("--out", default=None, help="result JSON (written after the evaluation)")
    ap.add_argument("--arm", choices=(*ARMS, "eval", "all"), default="all")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()

    import torch

    from drivedreamer_env.io_utils import write_json

    torch.set_num_threads(args.threads)
    for arm in ARMS:
        if args.arm in (arm, "all"):
            train_arm(arm, args)
    if args.arm in ("eval", "all"):
        missing = [arm for arm in ARMS if not (Path(args.work) / arm / "meta.json").is_file()]
        if missing:
            raise SystemExit(f"train the arm(s) {missing} first (--arm {missing[0]} or --arm all)")
        result = evaluate(args)
        for key in ("dream_trained_sim_return", "sim_trained_sim_return", "random_sim_return",
                    "lane_keeper_sim_return", "transfer_ratio", "env_steps", "wall_s", "margins"):  # fmt: skip
            print(f"{key:>26}: {result[key]}")
        if args.out:
            write_json(args.out, result)
            print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
