"""Why dream episodes end: a trained policy in the dream, each sub-env's endings sorted by their cause.

    python benchmarks/rl_dream_terminations.py --policy outputs/rl_transfer/dream --envs 16 --steps 120

The dream is the one the policy trained in (its run's ``config.json``: the horizon and the reward, with its
deviation limit; ``--horizon`` overrides the horizon). A step ends an episode on the kinematic deviation
(``|deviation| > max_deviation_m``), on a learned event head above ``event_threshold`` (named), or at the time
limit (``truncated``), as ``sim/rewards.py`` defines them.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="a train policy --out directory")
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--horizon", type=int, default=None, help="episode truncation [steps] (the run's dream horizon)")
    ap.add_argument("--out", default=None, help="result JSON")
    args = ap.parse_args()

    import torch

    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.models.checkpoint import read_config
    from drivedreamer_env.rl.checkpoint import load_policy
    from drivedreamer_env.rl.config import POLICY_KEYS, PolicyTrainConfig
    from drivedreamer_env.rl.vec_env import DreamVecEnv
    from drivedreamer_env.rl.worlds import dream_config

    torch.set_num_threads(args.threads)
    policy, _ = load_policy(args.policy)
    config = dream_config(PolicyTrainConfig.from_dict(read_config(args.policy)["train"]))
    if args.horizon is not None:
        config = dataclasses.replace(config, max_episode_steps=args.horizon)
    reward = config.reward
    env = DreamVecEnv(args.envs, config=config, keys=POLICY_KEYS)
    env.seed(args.seed)
    obs = env.reset()
    causes: collections.Counter[str] = collections.Counter()
    lengths, age = [], np.zeros(args.envs, int)
    for _ in range(args.steps):
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, done, infos = env.step(action)
        age += 1
        for i in np.flatnonzero(done):
            info = infos[i]
            cause = [k for k, p in info["events"].items() if p > reward.event_threshold]
            if reward.max_deviation_m is not None and abs(info["deviation"]) > reward.max_deviation_m:
                cause.append("deviation")
            if info.get("TimeLimit.truncated"):
                cause = ["truncated"]
            causes["+".join(cause) or "other"] += 1
            lengths.append(int(age[i]))
            age[i] = 0
    mean_length = float(np.mean(lengths)) if lengths else None
    result = {"episodes": sum(causes.values()), "causes": dict(causes), "mean_length": mean_length,
              "horizon": config.max_episode_steps, "max_deviation_m": reward.max_deviation_m}  # fmt: skip
    print(json.dumps({**result, "settings": vars(args)}))
    if args.out:
        write_json(args.out, {"benchmark": "rl_dream_terminations", **result, "settings": vars(args)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
