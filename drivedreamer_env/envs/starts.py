"""Where a dream episode begins: a simulator scene, a Clip, or a single image (+ text).

A :class:`Start` holds the context frames at the model's resolution, the canonical actions between them, the
caption, the ego state at the last frame and the reference route. Starts with fewer frames than the
environment's context are completed in one of two ways (``Start.context_fill``):

* ``"dream"`` (clips shorter than the context): the world model dreams the missing frames itself
  (image-to-video with the held action);
* ``"repeat"`` (a single image, :func:`image_start`): the image's tokens are repeated with a zero-motion action
  history, so the first observation is exactly the tokenizer's reconstruction of the image and nothing is dreamt
  before the first action.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.envs.route import Route
from drivedreamer_env.sim.config import CameraConfig, SimConfig
from drivedreamer_env.sim.ego import EgoState, integrate_pose
from drivedreamer_env.sim.policies import LaneKeeper, current_lane, pure_pursuit
from drivedreamer_env.sim.simulator import Simulator
from drivedreamer_env.units import VehicleGeometry, physical_to_normalized, yaw_rate_to_steering

SCENARIO_KEYS = ("seed", "lane", "speed", "time_of_day", "weather", "area", "drive_s")
IMAGE_START_SPEED_MPS = 0.0  # an image start's ego speed [m/s]: stopped (see image_start for why)
CONTEXT_FILLS = ("dream", "repeat")
ROUTE_STEP_M = 2.0
START_DRIVE_STREAM = 2  # the seed sequence [seed, 2] draws how long a scene is driven before its start


@dataclass
class Start:
    """Context of a dream episode (see the module docstring).

    Attributes:
        frames: uint8 (C, H, W, 3), C >= 1, at the model's resolution.
        actions: float32 (C - 1, 2) ``[speed m/s, yaw_rate rad/s]`` driving frame t -> t+1.
        text: caption.
        ego: the ego state at the last frame.
        route: the reference route.
        hold_action: canonical action used to fill missing context frames.
        sim: for simulator starts, the simulator positioned at the last frame (ground truth); else None.
        info: provenance (kind, seed, ...).
        context_fill: how missing context frames are filled: ``"dream"`` (the world model dreams them under
            ``hold_action``, the ego moving along) or ``"repeat"`` (the last frame's tokens repeated, with
            ``hold_action`` as their action history and the ego left where it is).
    """

    frames: np.ndarray
    actions: np.ndarray
    text: str
    ego: EgoState
    route: Route
    hold_action: np.ndarray
    sim: Simulator | None = None
    info: dict[str, Any] = field(default_factory=dict)
    context_fill: str = "dream"

    def __post_init__(self) -> None:
        if self.context_fill not in CONTEXT_FILLS:
            raise ValueError(f"Start.context_fill must be one of {CONTEXT_FILLS}, got {self.context_fill!r}")


def lane_keep_action(sim: Simulator, speed_mps: float) -> np.ndarray:
    """Normalised action of a pure-pursuit lane keeper holding the current lateral position at ``speed_mps``."""
    steer = pure_pursuit(sim, sim.state.d, max(6.0, sim.state.ego.speed))
    return physical_to_normalized(steer, speed_mps, sim.cfg.geometry)


def sim_start(
    scenario: dict[str, Any], resolution: tuple[int, int], context_frames: int, base: SimConfig | None = None
) -> Start:
    """Render a simulator scene: reset ``scenario["seed"]``, then lane-keep for ``context_frames - 1`` steps.

    ``scenario`` keys: ``seed`` (required), ``lane``, ``speed`` [m/s], ``time_of_day``, ``weather``, ``area``,
    ``drive_s``: seconds the simulator's :class:`~drivedreamer_env.sim.policies.LaneKeeper` drives the scene
    before the context (default 0: the scene's first frame), so that the start lies anywhere along the drive, as a
    start cut from a logged drive does (it stops early should the scene end the drive).
    """
    unknown = set(scenario) - set(SCENARIO_KEYS)
    if unknown or "seed" not in scenario:
        raise ValueError(f"scenario needs 'seed' and may hold {list(SCENARIO_KEYS)}; got keys {sorted(scenario)}")
    base = base or SimConfig()
    h, w = resolution
    cam = CameraConfig(**{**base.camera.__dict__, "width": w, "height": h})
    overrides = {k: scenario[k] for k in ("time_of_day", "weather", "area") if scenario.get(k) is not None}
    sim = Simulator(SimConfig(**{**base.__dict__, "camera": cam, **overrides}))
    frame, _ = sim.reset(int(scenario["seed"]), lane=scenario.get("lane"), speed_mps=scenario.get("speed"))
    drive_s = float(scenario.get("drive_s") or 0.0)
    if not np.isfinite(drive_s) or drive_s < 0:
        raise ValueError(f"scenario 'drive_s' must be a finite time >= 0 s, got {drive_s}")
    if drive_s > 0:
        keeper = LaneKeeper(sim, max(sim.state.ego.speed, 1.0))  # cruising at the start speed (a stopped one moves)
        for _ in range(round(drive_s / sim.cfg.dt_s)):
            if sim.step(keeper(), render=False).terminated:
                break
        frame = sim.render()
    speed = sim.state.ego.speed
    frames, actions = [frame], []
    for _ in range(context_frames - 1):
        frames.append(sim.step(lane_keep_action(sim, speed)).frame)
        actions.append((sim.state.ego.speed, sim.state.ego.yaw_rate))
    road = sim.world.road
    s = np.arange(0.0, road.length_m, ROUTE_STEP_M)
    xy, _ = road.pose_at(s, road.lane_center_d(current_lane(sim)))  # the lane's centre, as ProcDrive scores it
    info = {"kind": "sim", "seed": int(scenario["seed"]), "caption": sim.world.caption, "drive_s": drive_s}
    return Start(
        np.stack(frames), np.array(actions, np.float32).reshape(-1, 2), sim.world.caption, sim.state.ego.copy(),
        Route.from_points(xy), np.array([speed, 0.0], np.float32), sim, info,
    )  # fmt: skip


def clip_start(clip: Clip, context_frames: int, geometry: VehicleGeometry | None = None) -> Start:
    """The first ``context_frames`` frames of ``clip``; the route is its logged path (``meta["poses"]`` when
    present, else integrated from its actions), the ego state its pose and action at the last context frame."""
    geometry = geometry or VehicleGeometry()
    n = min(context_frames, len(clip))
    poses = clip.meta.get("poses")
    if poses is not None:
        poses = np.asarray(poses, dtype=np.float64)
        if poses.shape != (len(clip), 3):
            raise ValueError(f"clip meta['poses'] must have shape ({len(clip)}, 3) [x, y, yaw], got {poses.shape}")
    else:
        poses = np.zeros((len(clip), 3))
        dt = np.diff(clip.timestamps) if len(clip) > 1 else np.array([])
        for t in range(1, len(clip)):
            speed, yaw_rate = clip.actions[t - 1]
            poses[t] = integrate_pose(*poses[t - 1], float(speed), float(yaw_rate), float(dt[t - 1]))
    speed, yaw_rate = (float(v) for v in clip.actions[n - 1])
    x, y, yaw = poses[n - 1]
    steer = float(yaw_rate_to_steering(yaw_rate, speed, geometry.wheelbase_m))
    ego = EgoState(float(x), float(y), float(yaw), speed, steer, yaw_rate)
    path = poses[:, :2]
    moved = len(path) > 1 and np.linalg.norm(path[-1] - path[0]) > 1.0
    route = Route.from_points(path) if moved else Route.straight(x, y, yaw)
    info = {"kind": "clip", "scene": clip.meta.get("scene", ""), "frames": len(clip)}
    return Start(
        clip.frames[:n], clip.actions[: n - 1].copy(), clip.text, ego, route, clip.actions[n - 1].copy(), None, info
    )


def load_image(image: np.ndarray | str | Path) -> np.ndarray:
    """An RGB uint8 (H, W, 3) image from an array or a file path."""
    if isinstance(image, (str, Path)):
        import imageio.v3 as iio

        try:
            image = iio.imread(image)
        except Exception as exc:  # imageio raises several types for unreadable files
            raise ValueError(f"cannot read start image {str(image)!r}: {exc}") from exc
        image = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"start image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    return image


def image_start(image: np.ndarray | str | Path, text: str = "", speed_mps: float = IMAGE_START_SPEED_MPS) -> Start:
    """A single image (a photo): the ego at the origin facing +x at ``speed_mps``, the route straight ahead.

    The context is the image repeated (``context_fill="repeat"``) under the action ``[speed_mps, 0]``, so the
    first observation is exactly the tokenizer's reconstruction of the image and the model dreams nothing
    before the first action. The default is a stopped ego (``speed_mps = 0``) because it is what training
    shows: a stopped car records near-identical frames, and 3.4 % of the training data's contexts are stopped
    (the mixed policy's speed targets reach 0 m/s), while no moving training context is anywhere near as still.
    The ego then accelerates under the speed command, so the first steps turn less than from a moving start
    (``speed_mps > 0``: identical frames under a moving history). Both, and the dreamt context used before, are
    measured in ``benchmarks/results/image_start.json`` (``benchmarks/image_start.py``).

    Args:
        image: uint8 (H, W, 3) RGB array or an image file path (any size: resized and centre-cropped to the
            model's resolution).
        text: the caption to condition on.
        speed_mps: the ego speed of the start and of the context's action history [m/s], >= 0.

    Raises:
        ValueError: an unreadable file, a non-RGB-uint8 array, or a negative or non-finite speed.
    """
    if not np.isfinite(speed_mps) or speed_mps < 0.0:
        raise ValueError(f"image start speed_mps must be a finite speed >= 0 m/s, got {speed_mps}")
    frame = load_image(image)
    ego = EgoState(0.0, 0.0, 0.0, float(speed_mps), 0.0, 0.0)
    hold = np.array([speed_mps, 0.0], np.float32)
    info = {"kind": "image", "context": "repeated", "speed_mps": float(speed_mps)}
    return Start(frame[None], np.zeros((0, 2), np.float32), text, ego, Route.straight(0, 0, 0), hold, None, info,
                 context_fill="repeat")  # fmt: skip


def make_start(
    spec: Any,
    resolution: tuple[int, int],
    context_frames: int,
    text: str | None,
    np_random: np.random.Generator,
    dt_s: float | None = None,
    sim_config: SimConfig | None = None,
    drive_s: float = 0.0,
) -> Start:
    """A :class:`Start` from the forms ``start=`` / ``reset(options=...)`` accept.

    ``spec``: None (a simulator scene with a seed drawn from ``np_random``), an int seed, a scenario dict, a
    :class:`Clip`, an image (uint8 array or file path), or a :class:`Start` (used as it is). ``text`` overrides
    the caption. ``dt_s``: the simulator's step for simulator scenes (the model's frame period; None: the
    simulator's default). ``sim_config``: the simulator settings of simulator scenes (e.g. their start jitter,
    ``SimConfig.start_offset_m``); its ``dt_s`` is replaced by ``dt_s`` when that is given. ``drive_s``: simulator
    scenes whose scenario sets no ``drive_s`` are driven for U(0, drive_s) seconds before the start, drawn from the
    scene seed (its own stream: the same seed gives the same start).
    """
    base = sim_config
    if dt_s is not None:
        base = dataclasses.replace(sim_config or SimConfig(), dt_s=dt_s)
    if isinstance(spec, Start):  # prepared by the caller (e.g. shared with a simulator run); never mutated
        return spec if text is None else dataclasses.replace(spec, text=text)
    if spec is None or isinstance(spec, (int, np.integer, dict)):
        scenario = dict(spec) if isinstance(spec, dict) else {} if spec is None else {"seed": int(spec)}
        scenario.setdefault("seed", int(np_random.integers(0, 2**31 - 1)))
        if drive_s > 0 and "drive_s" not in scenario:
            rng = np.random.default_rng([int(scenario["seed"]), START_DRIVE_STREAM])
            scenario["drive_s"] = float(rng.uniform(0.0, drive_s))
        start = sim_start(scenario, resolution, context_frames, base)
    elif isinstance(spec, Clip):
        start = clip_start(spec, context_frames)
    elif isinstance(spec, (np.ndarray, str, Path)):
        start = image_start(spec, text or "")
    else:
        raise TypeError(
            f"start must be None, a seed (int), a scenario dict {list(SCENARIO_KEYS)}, a Clip, an image "
            f"(uint8 (H, W, 3) array or file path) or a Start; got {type(spec).__name__}"
        )
    if text is not None:
        start.text = text
    return start
