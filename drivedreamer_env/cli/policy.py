"""``drivedreamer train policy`` and ``drivedreamer eval policy``: RL in the dream or the simulator (the rl extra).

Registered by :mod:`~drivedreamer_env.cli.train` and :mod:`~drivedreamer_env.cli.eval`; Stable-Baselines3 is
imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import dataclasses

EXPLICIT = ("world", "algo", "steps", "num_envs", "seed", "checkpoint", "device", "sampling_steps")


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_train_policy(args: argparse.Namespace) -> int:
    """Train (or resume) a PPO policy in the dream or the simulator."""
    from drivedreamer_env.rl.config import PolicyTrainConfig
    from drivedreamer_env.rl.train import train_policy

    fields = {f.name for f in dataclasses.fields(PolicyTrainConfig)}
    cfg = PolicyTrainConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
    _threads(args.threads)
    summary = train_policy(cfg, args.out, progress=not args.no_progress)
    for key, value in dataclasses.asdict(summary).items():
        print(f"{key:>26}: {value}")
    return 0


def cmd_eval_policy(args: argparse.Namespace) -> int:
    """Evaluate a policy (or the random / lane-keeper reference) on held-out simulator seeds."""
    from drivedreamer_env.envs.config import DreamConfig
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.provenance import environment
    from drivedreamer_env.rl.controllers import PolicyController, make_controller
    from drivedreamer_env.rl.evaluate import evaluate_controller, held_out_seeds

    _threads(args.threads)
    controller = make_controller(args.policy, seed=args.seed_start, device=args.device)
    resolution = None
    if isinstance(controller, PolicyController):
        resolution = (controller.spec.height, controller.spec.width)
    dream = DreamConfig(checkpoint=args.checkpoint, device=args.device, sampling_steps=args.sampling_steps,
                        max_episode_steps=args.max_episode_steps)  # fmt: skip
    seeds = held_out_seeds(args.episodes, args.seed_start)
    result = evaluate_controller(controller, args.world, seeds, dream, args.num_envs, resolution)
    for key, value in result.summary().items():
        print(f"{key:>18}: {value}")
    if args.out:
        write_json(args.out, {"policy": args.policy, "seeds": [seeds[0], seeds[-1]], "dream": dream.to_dict(),
                              **result.to_dict(), "environment": environment(args.device)})  # fmt: skip
        print(f"wrote {args.out}")
    return 0


def add_train_parser(train: argparse._SubParsersAction) -> None:
    """``train policy``: every :class:`~drivedreamer_env.rl.config.PolicyTrainConfig` field is a flag."""
    from drivedreamer_env.rl.config import ALGOS, WORLDS, PolicyTrainConfig

    defaults = PolicyTrainConfig()
    p = train.add_parser("policy", help="train a PPO policy in the dream or the simulator (resumes from --out)")
    p.add_argument("--world", choices=WORLDS, default=None, help="dream (WorldDreamerDrive-v0) or sim (ProcDrive-v0)")
    p.add_argument("--algo", choices=ALGOS, default=None, help="the SB3 algorithm (ppo)")
    p.add_argument("--steps", type=int, default=None, help=f"env steps, all sub-envs together ({defaults.steps})")
    p.add_argument("--num-envs", type=int, default=None, help=f"sub-envs stepped as one batch ({defaults.num_envs})")
    p.add_argument("--out", required=True, help="run directory: the policy checkpoint, logs and learning curve")
    p.add_argument("--seed", type=int, default=None, help="seeds the policy and the envs (0)")
    p.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (the policy and the dream)")
    p.add_argument("--sampling-steps", type=int, default=None,
                   help="MaskGIT steps per dreamt frame (default: the checkpoint's)")  # fmt: skip
    ppo = p.add_argument_group("PPO and run settings (SB3's names)")
    for f in dataclasses.fields(PolicyTrainConfig):
        if f.name not in EXPLICIT:
            default = getattr(defaults, f.name)
            ppo.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=None, help=f"({default})")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_policy)


def add_eval_parser(ev: argparse._SubParsersAction) -> None:
    """``eval policy``."""
    from drivedreamer_env.rl.config import EVAL_SEED_BASE

    p = ev.add_parser("policy", help="return, route completion, off-road and collision rates on held-out seeds")
    p.add_argument(
        "--policy",
        required=True,
        help="a `train policy --out` directory, or the references 'random' and 'lane_keeper' (sim only)",
    )
    p.add_argument("--world", choices=("sim", "dream"), default="sim", help="where to drive (sim)")
    p.add_argument("--episodes", type=int, default=50, help="held-out episodes (50)")
    p.add_argument("--seed-start", type=int, default=EVAL_SEED_BASE, help="the first held-out seed (2**31)")
    p.add_argument("--out", default=None, help="result JSON (metrics and every episode)")
    p.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--sampling-steps", type=int, default=2, help="MaskGIT steps per dreamt frame (2)")
    p.add_argument("--max-episode-steps", type=int, default=400, help="episode horizon (400 = 40 s)")
    p.add_argument("--num-envs", type=int, default=8, help="dream episodes run as one batch (8)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=cmd_eval_policy)
