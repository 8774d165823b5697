"""Image starts ("photo.jpg"): does the first observation keep the photo, and does the dream turn the right way?

    python benchmarks/image_start.py --threads 1 --out benchmarks/results/image_start.json

No real footage is committed here, so the "photos" are held-out simulator frames (seeds >= 100000, outside the
shipped model's training seeds 0-399) rendered at twice the model's resolution (128 x 256), each in its own style and
re-rendered, same layout, in another style. Every photo starts the env three ways:

* ``dreamt_context`` (the behaviour before): the image plus context frames dreamt under 8 m/s, straight;
* ``stopped`` (the default): the image repeated as the whole context, a stopped ego (0 m/s, zero yaw rate);
* ``moving``: the image repeated under a constant 8 m/s, zero-yaw-rate history (frames that do not move).

Per start: the first observation's PSNR against the photo (at the model's resolution) beside the tokenizer's
reconstruction's; left / right branches (8 steps at steer +-0.5, speed command -0.2 = 8 m/s, the checkpoint's
sampler), their heading changes read off the dream by the counterfactual's estimator, the pair counted when left
turns left and right turns right, and each branch's agreement with the commanded turn (sign and size within
50 %, :func:`~drivedreamer_env.eval.counterfactual.turn_agreement`); and a ``hold`` branch (straight, speed
held at the start's) whose last frame is compared with the photo (drift). ``training_match`` measures how often
the training data's ego stands still for a whole context.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

CONTEXT_SPEED_MPS = {"dreamt_context": 8.0, "stopped": 0.0, "moving": 8.0}
TURN_STEER, SPEED_COMMAND, TURN_STEPS = 0.5, -0.2, 8
STILL_MPS = 0.5  # slower than this counts as standing still [m/s]
MOVING_MPS = 4.0  # at least this fast counts as moving [m/s]


def photos(seeds: list[int], scale: int) -> list[dict]:
    """Two photos per seed: its first frame in its own style and the same layout in the next style."""
    from drivedreamer_env.sim.config import TIMES_OF_DAY, WEATHERS, SimConfig
    from drivedreamer_env.sim.render import Renderer
    from drivedreamer_env.sim.simulator import Simulator

    base = SimConfig()
    cam = dataclasses.replace(base.camera, width=base.camera.width * scale, height=base.camera.height * scale)
    sim = Simulator(dataclasses.replace(base, camera=cam))
    styles = [(t, w) for t in TIMES_OF_DAY for w in WEATHERS]
    out = []
    for seed in seeds:
        frame, _ = sim.reset(seed)
        own = sim.world.style
        out.append({"seed": seed, "style": f"{own.time_of_day}, {own.weather}", "caption": sim.world.caption,
                    "image": frame})  # fmt: skip
        tod, weather = styles[(styles.index((own.time_of_day, own.weather)) + 1) % len(styles)]
        intensity = 0.0 if weather == "clear" else max(own.intensity, 0.6)
        sim.world = dataclasses.replace(sim.world, style=dataclasses.replace(own, time_of_day=tod, weather=weather,
                                                                             intensity=intensity))  # fmt: skip
        sim.renderer = Renderer(sim.camera, sim.world, cam.max_range_m)
        out.append({"seed": seed, "style": f"{tod}, {weather}", "caption": f"{tod}, {weather}", "image": sim.render()})
    return out


def training_match(seeds: list[int], context: int) -> dict:
    """How often the training episodes (seeds 0-299, the mixed policy) hold a stopped or a moving context."""
    from drivedreamer_env.sim.record import record_episode
    from drivedreamer_env.sim.simulator import Simulator

    sim = Simulator()
    steps, windows, change = 0, 0, {"stopped": [], "moving": []}
    for seed in seeds:
        clip = record_episode(sim, seed, 200)
        speed = clip.actions[:, 0]
        steps += len(speed)
        for t in range(len(speed) - context + 1):
            windows += 1
            history = speed[t : t + context - 1]  # the context's actions
            kind = "stopped" if (history < STILL_MPS).all() else "moving" if (history >= MOVING_MPS).all() else None
            if kind is not None:  # how much the frames change from one to the next [grey levels]
                f = clip.frames[t : t + context].astype(np.float32)
                change[kind].append(float(np.abs(np.diff(f, axis=0)).mean()))
    return {
        "episodes": len(seeds),
        "steps": steps,
        "context_windows": windows,
        "stopped_below_mps": STILL_MPS,
        "stopped_context_windows": len(change["stopped"]),
        "stopped_context_share": len(change["stopped"]) / windows,
        "stopped_context_frame_change_mean": float(np.mean(change["stopped"])) if change["stopped"] else None,
        "moving_from_mps": MOVING_MPS,
        "moving_context_windows": len(change["moving"]),
        "moving_context_frame_change_mean": float(np.mean(change["moving"])) if change["moving"] else None,
        "moving_context_frame_change_min": float(np.min(change["moving"])) if change["moving"] else None,
    }


def measure(env, wm, photo: dict, variant: str, seeds: list[int]) -> dict:
    """One photo under one context variant, every env seed."""
    import torch

    from drivedreamer_env.envs.starts import image_start
    from drivedreamer_env.eval.counterfactual import DEFAULT_HFOV_DEG, turn_agreement
    from drivedreamer_env.eval.frame_probes import estimate_yaw
    from drivedreamer_env.metrics import psnr
    from drivedreamer_env.units import VehicleGeometry, physical_to_normalized

    def db(a: np.ndarray, b: np.ndarray) -> float:
        return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())

    ref = wm.prepare(photo["image"])[0]  # the photo at the model's resolution
    recon = wm.decode(wm.encode(photo["image"])[None])[0, 0]
    start = image_start(photo["image"], photo["caption"], speed_mps=CONTEXT_SPEED_MPS[variant])
    if variant == "dreamt_context":
        start = dataclasses.replace(start, context_fill="dream")
    hold_speed = float(physical_to_normalized(0.0, CONTEXT_SPEED_MPS[variant], VehicleGeometry())[1])
    actions = np.array([[TURN_STEER, SPEED_COMMAND], [-TURN_STEER, SPEED_COMMAND], [0.0, hold_speed]])
    rows = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed, options={"start": start})
        dreams, poses = env.dream_branches(actions, TURN_STEPS)
        est = [float(estimate_yaw(d, DEFAULT_HFOV_DEG).sum()) for d in dreams]
        cmd = [float(p[-1, 2] - p[0, 2]) for p in poses]
        agree = [turn_agreement(est[b], cmd[b], cmd[b]).agrees for b in range(2)]
        rows.append({
            "env_seed": seed, "first_obs_psnr_db": db(obs, ref), "first_obs_is_reconstruction": bool(
                np.array_equal(obs, recon)), "left_est_rad": est[0], "right_est_rad": est[1],
            "left_commanded_rad": cmd[0], "right_commanded_rad": cmd[1], "pair_right_way": est[0] > 0 > est[1],
            "left_agrees": agree[0], "right_agrees": agree[1], "hold_last_psnr_db": db(dreams[2, -1], ref),
        })  # fmt: skip
    return {"recon_psnr_db": db(recon, ref), "rows": rows}


def summarise(results: list[dict]) -> dict:
    rows = [r for res in results for r in res["rows"]]
    recon = np.array([res["recon_psnr_db"] for res in results])
    first = np.array([np.mean([r["first_obs_psnr_db"] for r in res["rows"]]) for res in results])
    n = len(rows)
    return {
        "photos": len(results),
        "starts": n,
        "recon_psnr_db_mean": float(recon.mean()),
        "first_obs_psnr_db_mean": float(first.mean()),
        "first_obs_minus_recon_db_mean": float((first - recon).mean()),
        "first_obs_minus_recon_db_worst": float((first - recon).min()),
        "first_obs_is_reconstruction": sum(r["first_obs_is_reconstruction"] for r in rows),
        "pairs_right_way": sum(r["pair_right_way"] for r in rows),
        "pairs": n,
        "branches_agree_with_command": sum(r["left_agrees"] + r["right_agrees"] for r in rows),
        "branches": 2 * n,
        "left_est_deg_mean": float(np.rad2deg(np.mean([r["left_est_rad"] for r in rows]))),
        "right_est_deg_mean": float(np.rad2deg(np.mean([r["right_est_rad"] for r in rows]))),
        "left_commanded_deg_mean": float(np.rad2deg(np.mean([r["left_commanded_rad"] for r in rows]))),
        "right_commanded_deg_mean": float(np.rad2deg(np.mean([r["right_commanded_rad"] for r in rows]))),
        "hold_last_psnr_db_mean": float(np.mean([r["hold_last_psnr_db"] for r in rows])),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped model)")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(100_000, 100_006)),
                    help="held-out simulator seeds (two photos each)")  # fmt: skip
    ap.add_argument("--env-seeds", type=int, default=3, help="sampler seeds per photo and variant")
    ap.add_argument("--scale", type=int, default=2, help="photo size over the model's resolution (2: 128 x 256)")
    ap.add_argument("--train-episodes", type=int, default=40, help="training episodes for training_match")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", default="benchmarks/results/image_start.json")
    args = ap.parse_args()

    import torch

    from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv
    from drivedreamer_env.io_utils import write_json
    from drivedreamer_env.provenance import environment

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    env = WorldDreamerDriveEnv(checkpoint=args.checkpoint, device="cpu")
    wm = env.wm
    pics = photos(args.seeds, args.scale)
    seeds = list(range(args.env_seeds))
    variants = {}
    for variant in CONTEXT_SPEED_MPS:
        per_photo = [measure(env, wm, p, variant, seeds) for p in pics]
        listed = [{"seed": p["seed"], "style": p["style"], **res} for p, res in zip(pics, per_photo, strict=True)]
        variants[variant] = {"summary": summarise(per_photo), "photos": listed}
        print(variant, variants[variant]["summary"], flush=True)
    match = training_match(list(range(args.train_episodes)), env.core.context_frames)
    print("training_match", match, flush=True)
    s = env.sampler
    result = {
        "benchmark": "image_start",
        "command": "python " + " ".join(sys.argv),
        "args": vars(args),
        "environment": environment("cpu"),
        "settings": {
            "photo_size": list(pics[0]["image"].shape[:2]),
            "model_size": list(wm.resolution),
            "context_frames": env.core.context_frames,
            "turn_steer": TURN_STEER,
            "speed_command": SPEED_COMMAND,
            "turn_steps": TURN_STEPS,
            "sampler": {
                k: getattr(s, k)
                for k in ("steps", "temperature", "guidance_scale", "decoding", "warp_remask", "warp_anchor_every")
            },
        },
        "goal": "first-observation PSNR against the photo within 0.5 dB of the tokenizer's reconstruction PSNR",
        "goal_met": variants["stopped"]["summary"]["first_obs_minus_recon_db_worst"] >= -0.5,
        "variants": variants,
        "training_match": match,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(args.out, result)
    print(f"wrote {args.out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
