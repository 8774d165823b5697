"""Collect ``rl_transfer.py`` runs that differ in one setting into one table (the issue's levers, side by side).

    python benchmarks/rl_transfer_ablation.py --out benchmarks/results/rl_transfer_ablation.json \\
        h400=benchmarks/results/rl_transfer_h400.json h20=benchmarks/results/rl_transfer.json ...

Each ROW=JSON is the result of one ``benchmarks/rl_transfer.py`` run (50 held-out simulator seeds, the same for
every run); the row keeps its settings (training seed, dream horizon, start jitter, start drive, the dream's
deviation limit), both arms' returns and the transfer ratio, the dream-trained policy's route completion, off-road
and collision rates, and its margin over random. Runs that share their simulator arm have the same
``sim_trained_sim_return``. ``settings`` groups the rows that differ only in the training seed: the mean, min and
max of their transfer ratios.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(path: Path) -> dict:
    from drivedreamer_env.rl.config import PolicyTrainConfig

    r = json.loads(path.read_text())
    dream = r["evaluations"]["dream_trained"]
    cfg = r["train_configs"]["dream"]
    horizon = cfg.get("dream_max_episode_steps", 0) or cfg["max_episode_steps"]
    return {
        "source": str(path),
        "seed": cfg["seed"],
        "dream_horizon_steps": horizon,
        "start_offset_m": cfg.get("start_offset_m", 0.0),
        "start_heading_rad": cfg.get("start_heading_rad", 0.0),
        "start_drive_s": cfg.get("start_drive_s", 0.0),
        # a run saved before the setting dreamt with the env's limit: from_dict knows which
        "dream_max_deviation_m": PolicyTrainConfig.from_dict(cfg).dream_max_deviation_m,
        "env_steps": r["env_steps"],
        "dream_trained_sim_return": r["dream_trained_sim_return"],
        "dream_trained_return_ci95": dream["return_ci95"],
        "sim_trained_sim_return": r["sim_trained_sim_return"],
        "random_sim_return": r["random_sim_return"],
        "transfer_ratio": r["transfer_ratio"],
        "dream_trained_minus_random": r["margins"]["dream_trained_minus_random"],
        "route_completion": dream["route_completion"],
        "off_road_rate": dream["off_road_rate"],
        "collision_rate": dream["collision_rate"],
        "collisions_with": dream.get("collisions_with"),  # (results evaluated before it was recorded: None)
        "mean_abs_lane_offset_m": dream.get("mean_abs_lane_offset_m"),
        "dream_train_wall_s": r["wall_s"]["dream_train"],
    }


SETTING_KEYS = ("dream_horizon_steps", "start_offset_m", "start_heading_rad", "start_drive_s", "dream_max_deviation_m")


def by_setting(rows: dict[str, dict]) -> list[dict]:
    """Rows grouped by their settings but the seed: the seeds, each ratio and return, and the ratios' mean."""
    groups: dict[tuple, list[str]] = {}
    for name, r in rows.items():
        groups.setdefault(tuple(r[k] for k in SETTING_KEYS), []).append(name)
    out = []
    for key, names in groups.items():
        ratios = [rows[n]["transfer_ratio"] for n in names]
        known = [x for x in ratios if x is not None]
        out.append(
            {
                **dict(zip(SETTING_KEYS, key, strict=True)),
                "rows": names,
                "seeds": [rows[n]["seed"] for n in names],
                "transfer_ratios": ratios,
                "dream_trained_sim_returns": [rows[n]["dream_trained_sim_return"] for n in names],
                "sim_trained_sim_returns": [rows[n]["sim_trained_sim_return"] for n in names],
                "transfer_ratio_mean": round(sum(known) / len(known), 4) if known else None,
                "transfer_ratio_min": min(known, default=None),
                "transfer_ratio_max": max(known, default=None),
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="+", help="NAME=rl_transfer result JSON")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from drivedreamer_env.io_utils import write_json

    rows = {}
    for spec in args.rows:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"give rows as NAME=JSON, got {spec!r}")
        rows[name] = row(Path(path))
        r = rows[name]
        print(f"{name:>12}: seed {r['seed']}, horizon {r['dream_horizon_steps']:>3}, jitter {r['start_offset_m']} m / "
              f"{r['start_heading_rad']} rad, drive {r['start_drive_s']} s, limit {r['dream_max_deviation_m']} m: "
              f"dream-trained {r['dream_trained_sim_return']:.2f} "
              f"(sim-trained {r['sim_trained_sim_return']:.2f}), ratio {r['transfer_ratio']}, completion "
              f"{r['route_completion']:.2f}, off-road {r['off_road_rate']:.2f}, "
              f"collision {r['collision_rate']:.2f}")  # fmt: skip
    write_json(args.out, {"benchmark": "rl_transfer_ablation", "rows": rows, "settings": by_setting(rows)})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
