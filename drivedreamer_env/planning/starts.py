"""The starts of planner episodes: held-out simulator scenes, rendered at the world model's resolution and
driven through its context frames, so that the dream and the simulator begin at the same moment."""

from __future__ import annotations

from typing import Any

from drivedreamer_env.envs.starts import Start, sim_start

START_SEED0 = 300_000  # held out: the shipped model saw seeds 0-299, `eval world-model` uses 100,000-104,400


def start_shape(dream_settings: dict[str, Any] | None) -> tuple[tuple[int, int], int]:
    """(resolution, context frames) of the world model the dream runs: the starts are rendered to match it."""
    from drivedreamer_env.models.checkpoint import read_config
    from drivedreamer_env.models.world_model import DEFAULT_CHECKPOINT

    settings = dream_settings or {}
    cfg = read_config(settings.get("checkpoint") or DEFAULT_CHECKPOINT)
    context = settings.get("context_frames") or cfg["world_model"]["context_frames"]
    return (cfg["tokenizer"]["height"], cfg["tokenizer"]["width"]), int(context)


def make_starts(count: int, dream_settings: dict[str, Any] | None = None, seed0: int = START_SEED0) -> list[Start]:
    """``count`` held-out simulator starts (seeds ``seed0``, ``seed0 + 1``, ...)."""
    if count < 1:
        raise ValueError(f"starts must be >= 1, got {count}")
    resolution, context = start_shape(dream_settings)
    return [sim_start({"seed": seed0 + k}, resolution, context) for k in range(count)]
