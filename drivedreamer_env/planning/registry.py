"""Planner names and specs: the baselines from good to bad, and :func:`load_planner` for ``module:Class``,
Python callables, behaviour-cloning checkpoints and Stable-Baselines3 model files."""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivedreamer_env.planning.baselines import Drift, NoisyOracle, RandomPlanner, RouteOracle, Stop, Straight
from drivedreamer_env.planning.lane_keeper import CameraLaneKeeper
from drivedreamer_env.planning.protocol import FunctionPlanner, Planner

CHECKPOINTS = Path(__file__).resolve().parents[2] / "data" / "checkpoints"
BC_CHECKPOINT = CHECKPOINTS / "planner_bc"
BC_UNDERTRAINED_CHECKPOINT = CHECKPOINTS / "planner_bc_undertrained"
ORACLE_NOISE_LEVELS = {"low": 0.2, "mid": 0.3, "high": 0.5}  # normalised steering std


@dataclass
class PlannerSpec:
    """A named planner: ``factory()`` builds a fresh one for each episode."""

    name: str
    factory: Callable[[], Planner]


def _bc(directory: Path) -> Callable[[], Planner]:
    from drivedreamer_env.planning.bc import BCPlanner, load_bc_network

    holder: dict[str, Any] = {}

    def factory() -> Planner:
        if "net" not in holder:  # load once, when first used; every episode shares the network
            holder["net"] = load_bc_network(directory)
        return BCPlanner(holder["net"])

    return factory


BASELINES: dict[str, Callable[[], Callable[[], Planner]]] = {
    "oracle": lambda: RouteOracle,
    **{f"oracle-noise-{k}": (lambda v=v: lambda: NoisyOracle(v)) for k, v in ORACLE_NOISE_LEVELS.items()},
    "lane-keeper": lambda: CameraLaneKeeper,
    "bc": lambda: _bc(BC_CHECKPOINT),
    "bc-undertrained": lambda: _bc(BC_UNDERTRAINED_CHECKPOINT),
    "straight": lambda: Straight,
    "drift": lambda: Drift,
    "random": lambda: RandomPlanner,
    "stop": lambda: Stop,
}  # the baselines, from good to bad


def _from_object(obj: Any, name: str) -> PlannerSpec:
    """A class (built per episode), a planner instance (copied per episode) or a plain callable."""
    if inspect.isclass(obj):
        return PlannerSpec(name, obj)
    if hasattr(obj, "plan"):
        return PlannerSpec(name, lambda: copy.deepcopy(obj))
    if callable(obj):
        return PlannerSpec(name, lambda: FunctionPlanner(obj))
    raise TypeError(f"planner {name!r}: expected a class, an object with plan(obs), or a callable; got {obj!r}")


def load_planner(spec: Any, name: str | None = None) -> PlannerSpec:
    """A :class:`PlannerSpec` from a baseline name, ``"module:Attr"``, a BC checkpoint directory, an SB3 model
    file (``PATH.zip`` or ``sb3:ALGO:PATH``), or a Python class / planner / callable.

    Raises:
        ValueError: a string that is none of these (naming the accepted forms).
    """
    if isinstance(spec, PlannerSpec):
        return spec
    if not isinstance(spec, (str, Path)):
        return _from_object(spec, name or getattr(spec, "__name__", type(spec).__name__))
    text = str(spec)
    if text in BASELINES:
        return PlannerSpec(name or text, BASELINES[text]())
    if text.startswith("sb3:") or text.endswith(".zip"):
        from drivedreamer_env.planning.sb3 import sb3_factory

        return PlannerSpec(name or Path(text.split(":")[-1]).stem, sb3_factory(text))
    path = Path(text)
    if path.is_dir():
        return PlannerSpec(name or path.name, _bc(path))
    if ":" in text:
        module, _, attr = text.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"planner {text!r}: cannot load {attr!r} from module {module!r}: {err}") from err
        return _from_object(obj, name or attr)
    raise ValueError(
        f"unknown planner {text!r}: expected one of {list(BASELINES)}, 'module:Class', a planner checkpoint "
        "directory, or an SB3 model file (PATH.zip or sb3:ALGO:PATH)"
    )


def parse_planners(text: str) -> list[PlannerSpec]:
    """``"all"`` (every baseline) or a comma-separated list of :func:`load_planner` specs."""
    items = list(BASELINES) if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError("--planners: give 'all' or a comma-separated list, e.g. oracle,lane-keeper,stop")
    specs = [load_planner(item) for item in items]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"--planners: names must be unique, got {names}")
    return specs
