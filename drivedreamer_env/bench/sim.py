"""Simulator throughput: env steps (physics + traffic + rendering) per second, single process."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.simulator import Simulator

RESOLUTIONS = ((64, 128), (128, 256))
GOALS_FPS = {"64x128": 500.0, "128x256": 150.0}


def measure_sim_fps(height: int, width: int, seeds: int = 8, steps: int = 150) -> dict[str, Any]:
    """Step ``seeds`` episodes for ``steps`` frames each with a gentle weave; time only the steps."""
    sim = Simulator(SimConfig(camera=CameraConfig(width=width, height=height)))
    total_s, frames, per_seed = 0.0, 0, []
    for seed in range(seeds):
        sim.reset(1000 + seed)
        sim.step([0.0, 0.0])  # warm caches outside the timed loop
        t0 = time.perf_counter()
        n = 0
        for i in range(steps):
            result = sim.step([0.15 * np.sin(i / 15.0), -0.1])
            n += 1
            if result.terminated:
                break
        dt = time.perf_counter() - t0
        total_s += dt
        frames += n
        per_seed.append(n / dt)
    return {
        "resolution": f"{height}x{width}",
        "frames": frames,
        "seconds": round(total_s, 4),
        "fps": round(frames / total_s, 1),
        "fps_min_episode": round(min(per_seed), 1),
        "fps_max_episode": round(max(per_seed), 1),
    }


def run_sim_benchmark(seeds: int = 8, steps: int = 150) -> dict[str, Any]:
    results = {}
    for h, w in RESOLUTIONS:
        r = measure_sim_fps(h, w, seeds, steps)
        r["goal_fps"] = GOALS_FPS[r["resolution"]]
        r["meets_goal"] = r["fps"] >= r["goal_fps"]
        results[r["resolution"]] = r
    return {"benchmark": "sim", "single_process": True, "results": results}
