"""How long the dream shows a policy what the simulator would: its actions on dreamt and on true frames, compared.

    python benchmarks/rl_dream_agreement.py --policy outputs/rl_transfer/sim --episodes 6 --steps 160 \\
        --out benchmarks/results/rl_dream_agreement.json

From the simulator scene of each held-out seed (``2**31 + 500 + k``), the policy drives the simulator in closed
loop on the true frames; the dream is stepped with the same actions from the same start, so the two egos move
identically and only the pictures differ. At every step the policy's steering on the dreamt frame is compared
with its steering on the true frame (``|d steer|``, normalised units, 1 = full lock), and the two frames by PSNR.
The reference is the policy's steering on the tokenizer's reconstruction of the true frame, which is what the
dream could show at best. The horizon over which ``|d steer|`` stays near the reference is how far a dream
episode can run before it teaches the policy from pictures the simulator would not show
(``train policy --dream-max-episode-steps``).
"""

from __future__ import annotations

import argparse
import copy
import json

import numpy as np

BINS = ((0, 5), (5, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, 320))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="a train policy --out directory")
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--steps", type=int, default=160)
    ap.add_argument("--checkpoint", default=None, help="world-model directory (default: the shipped model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="result JSON")
    args = ap.parse_args()

    import torch

    from drivedreamer_env.envs.starts import make_start
    from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.metrics import psnr
    from drivedreamer_env.provenance import environment
    from drivedreamer_env.rl.config import EVAL_SEED_BASE
    from drivedreamer_env.rl.controllers import PolicyController

    torch.set_num_threads(args.threads)
    policy = PolicyController(args.policy)
    env = WorldDreamerDriveEnv(checkpoint=args.checkpoint, observation="dict")
    wm = env.wm
    shape = (args.episodes, args.steps)
    d_dream, d_recon, frame_psnr = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)

    def steer(image: np.ndarray, speed: float, yaw_rate: float) -> float:
        obs = {"image": image[None], "speed": np.array([[speed]], np.float32),
               "yaw_rate": np.array([[yaw_rate]], np.float32)}  # fmt: skip
        return float(policy.act(obs)[0, 0])

    for k in range(args.episodes):
        seed = EVAL_SEED_BASE + 500 + k
        rng = np.random.default_rng(0)
        start = make_start(seed, wm.resolution, env.core.context_frames, None, rng, env.core.dt_s)
        sim = copy.deepcopy(start.sim)
        dreamt, _ = env.reset(seed=seed, options={"start": start})
        frame = start.frames[-1]
        for t in range(args.steps):
            e = sim.state.ego
            with torch.no_grad():
                recon = np.asarray(wm.decode(wm.encode(frame[None])[:, None])[0, 0])
            true_steer = steer(frame, e.speed, e.yaw_rate)
            d_dream[k, t] = abs(steer(dreamt["image"], e.speed, e.yaw_rate) - true_steer)
            d_recon[k, t] = abs(steer(recon, e.speed, e.yaw_rate) - true_steer)
            frame_psnr[k, t] = float(psnr(torch.from_numpy(dreamt["image"])[None], torch.from_numpy(frame)[None])[0])
            action = policy.act({"image": frame[None], "speed": np.array([[e.speed]], np.float32),
                                 "yaw_rate": np.array([[e.yaw_rate]], np.float32)})[0]  # fmt: skip
            result = sim.step(action)
            frame = result.frame
            dreamt, *_ = env.step(action)
            if result.terminated:
                break

    rows = []
    for lo, hi in BINS:
        if lo >= args.steps or np.all(np.isnan(d_dream[:, lo:hi])):
            continue
        rows.append({
            "steps": [lo, hi], "seconds": [round(lo * env.core.dt_s, 2), round(hi * env.core.dt_s, 2)],
            "abs_dsteer_dream": round(float(np.nanmean(d_dream[:, lo:hi])), 4),
            "abs_dsteer_reconstruction": round(float(np.nanmean(d_recon[:, lo:hi])), 4),
            "psnr_dream_vs_true": round(float(np.nanmean(frame_psnr[:, lo:hi])), 2),
            "samples": int(np.sum(~np.isnan(d_dream[:, lo:hi]))),
        })  # fmt: skip
        r = rows[-1]
        print(f"t {lo:3d}-{hi:3d}: |d steer| dream {r['abs_dsteer_dream']:.3f}, reconstruction "
              f"{r['abs_dsteer_reconstruction']:.3f}; psnr {r['psnr_dream_vs_true']:.2f} dB")  # fmt: skip
    result = {"benchmark": "rl_dream_agreement", "policy": args.policy, "checkpoint": args.checkpoint,
              "episodes": args.episodes, "seeds": [EVAL_SEED_BASE + 500, EVAL_SEED_BASE + 500 + args.episodes - 1],
              "bins": rows, "settings": vars(args), "environment": environment("cpu")}  # fmt: skip
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    else:
        print(json.dumps(result["bins"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
