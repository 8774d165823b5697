"""Simulator throughput: env steps (physics + traffic + rendering) per second, single process."""

from __future__ import annotations

import time
from typing import Any

from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.policies import pure_pursuit
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import physical_to_normalized

RESOLUTIONS = ((64, 128), (128, 256))
GOALS_FPS = {"64x128": 500.0, "128x256": 150.0}


def measure_sim_fps(height: int, width: int, seeds: int = 8, steps: int = 150) -> dict[str, Any]:
    """Step ``seeds`` episodes for ``steps`` frames each, driven by a pure-pursuit lane keeper.

    Only ``Simulator.step`` (ego, traffic, labels, rendering) is timed; the controller is not.
    """
    sim = Simulator(SimConfig(camera=CameraConfig(width=width, height=height)))
    geo = sim.cfg.geometry
    total_s, frames, per_seed = 0.0, 0, []
    for seed in range(seeds):
        sim.reset(1000 + seed)
        lane_d = sim.state.d
        sim.step([0.0, 0.0])  # warm caches outside the timed loop
        seed_s, n = 0.0, 0
        for _ in range(steps):
            action = physical_to_normalized(pure_pursuit(sim, lane_d, max(6.0, sim.state.ego.speed)), 12.0, geo)
            t0 = time.perf_counter()
            result = sim.step(action)
            seed_s += time.perf_counter() - t0
            n += 1
            if result.terminated:
                break
        total_s += seed_s
        frames += n
        per_seed.append(n / seed_s)
    return {
        "resolution": f"{height}x{width}",
        "frames": frames,
        "seconds": round(total_s, 4),
        "fps": round(frames / total_s, 1),
        "fps_min_episode": round(min(per_seed), 1),
        "fps_max_episode": round(max(per_seed), 1),
    }


def run_sim_benchmark(seeds: int = 12, steps: int = 200) -> dict[str, Any]:
    results = {}
    for h, w in RESOLUTIONS:
        r = measure_sim_fps(h, w, seeds, steps)
        r["goal_fps"] = GOALS_FPS[r["resolution"]]
        r["meets_goal"] = r["fps"] >= r["goal_fps"]
        results[r["resolution"]] = r
    return {"benchmark": "sim", "single_process": True, "results": results}
