"""Episode worlds: a road, its roadside objects, traffic, a visual style and a caption, all from one seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.config import ENVIRONMENTS, TIMES_OF_DAY, WEATHERS, SimConfig
from drivedreamer_env.sim.road import Road, generate_road
from drivedreamer_env.sim.traffic import Traffic, spawn_traffic

START_S_M = 50.0  # ego start along the road [m]
CAPTION_LOOKAHEAD_M = 250.0  # the stretch of road a caption describes [m]

# object kinds (also index the shading palette)
TRUNK, CANOPY, POLE, BUILDING, WALL, VEHICLE = range(6)


@dataclass
class Style:
    time_of_day: str  # day | dusk | night
    weather: str  # clear | fog | rain
    intensity: float  # 0..1: fog density or rain strength (0 for clear)
    environment: str  # rural | urban


@dataclass
class Boxes:
    """Static oriented boxes standing on (or above) the ground."""

    xy: np.ndarray  # (N, 2) centre [m]
    z0: np.ndarray  # (N,) bottom height [m]
    size: np.ndarray  # (N, 3) length (along yaw), width, height [m]
    yaw: np.ndarray  # (N,) [rad]
    color: np.ndarray  # (N, 3) RGB
    kind: np.ndarray  # (N,) int
    s: np.ndarray  # (N,) road coordinate, for culling [m]


@dataclass
class World:
    road: Road
    boxes: Boxes
    traffic: Traffic
    style: Style
    caption: str
    seed: int


def sample_style(rng: np.random.Generator, cfg: SimConfig) -> Style:
    tod = cfg.time_of_day or str(rng.choice(TIMES_OF_DAY, p=[0.5, 0.25, 0.25]))
    weather = cfg.weather or str(rng.choice(WEATHERS, p=[0.5, 0.25, 0.25]))
    env = cfg.environment or str(rng.choice(ENVIRONMENTS))
    intensity = 0.0 if weather == "clear" else float(rng.uniform(0.2, 1.0))
    return Style(tod, weather, intensity, env)


def _place(road: Road, s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy, heading = road.pose_at(s, d)
    return xy, heading


def roadside_boxes(rng: np.random.Generator, road: Road, urban: bool) -> Boxes:
    """Trees, poles, buildings and walls on both sides, beyond the paved area (and sidewalk)."""
    parts: list[tuple] = []  # (s, d, z0, l, w, h, yaw_offset, color, kind)
    base = road.paved_half_width_m + road.sidewalk_m
    for side in (-1.0, 1.0):
        s = rng.uniform(0.0, 10.0)
        while s < road.length_m:
            r = rng.random()
            if urban and r < 0.45:  # building block
                length, depth, height = rng.uniform(8, 25), rng.uniform(6, 15), rng.uniform(5, 20)
                d = side * (base + rng.uniform(1.0, 4.0) + depth / 2)
                color = rng.uniform([120, 90, 70], [210, 200, 190])
                parts.append((s + length / 2, d, 0.0, length, depth, height, 0.0, color, BUILDING))
                s += length + rng.uniform(2, 10)
                continue
            if r < 0.7:  # tree: trunk plus canopy
                d = side * (base + rng.uniform(1.0, 8.0))
                h_trunk = rng.uniform(1.5, 3.0)
                canopy = rng.uniform(2.0, 4.5)
                green = rng.uniform([30, 80, 25], [70, 140, 60])
                parts.append((s, d, 0.0, 0.4, 0.4, h_trunk, 0.0, np.array([90.0, 60, 35]), TRUNK))
                parts.append((s, d, h_trunk, canopy, canopy, canopy * 1.1, rng.uniform(0, 1.5), green, CANOPY))
            elif r < 0.88:  # pole
                d = side * (road.paved_half_width_m + rng.uniform(0.5, 1.5))
                parts.append((s, d, 0.0, 0.25, 0.25, rng.uniform(5, 8), 0.0, np.array([140.0, 140, 145]), POLE))
            else:  # wall segment along the road
                length = rng.uniform(10, 30)
                d = side * (base + rng.uniform(1.0, 3.0))
                color = rng.uniform([110, 100, 90], [180, 170, 160])
                parts.append((s + length / 2, d, 0.0, length, 0.4, rng.uniform(1.0, 2.5), 0.0, color, WALL))
                s += length
            s += rng.uniform(6.0, 20.0) if not urban else rng.uniform(4.0, 12.0)
    n = len(parts)
    s_arr = np.array([p[0] for p in parts])
    d_arr = np.array([p[1] for p in parts])
    xy, heading = _place(road, s_arr, d_arr)
    return Boxes(
        xy=xy,
        z0=np.array([p[2] for p in parts]),
        size=np.array([[p[3], p[4], p[5]] for p in parts]).reshape(n, 3),
        yaw=heading + np.array([p[6] for p in parts]),
        color=np.array([p[7] for p in parts], dtype=np.float64).reshape(n, 3),
        kind=np.array([p[8] for p in parts], dtype=np.int64),
        s=s_arr,
    )


_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four", 6: "six"}


def describe_road(road: Road, s0: float, length_m: float = CAPTION_LOOKAHEAD_M) -> str:
    """'straight', 'curving left', 'curving right' or 'winding' for the road ahead of ``s0``."""
    i0, i1 = int(s0 / 0.5), int(min(s0 + length_m, road.length_m) / 0.5)
    kappa = road.curvature[i0:i1]
    left = float(np.sum(np.clip(kappa, 0, None)) * 0.5)  # total left turn [rad]
    right = float(-np.sum(np.clip(kappa, None, 0)) * 0.5)
    big = np.deg2rad(25.0)
    if left < big and right < big:
        return "straight"
    if left >= big and right >= big and min(left, right) > 0.5 * max(left, right):
        return "winding"
    return "curving left" if left > right else "curving right"


def make_caption(style: Style, road: Road, density: float, s0: float) -> str:
    """E.g. 'dusk, light fog, rural two-lane road curving left, light traffic'."""
    if style.weather == "clear":
        weather = "clear"
    else:
        strength = "light" if style.intensity < 0.6 else ("dense" if style.weather == "fog" else "heavy")
        weather = f"{strength} {style.weather}"
    lanes = _NUMBER[2 * road.lanes_per_direction]
    setting = style.environment
    traffic = "light traffic" if density < 0.8 else ("moderate traffic" if density < 1.6 else "heavy traffic")
    return f"{style.time_of_day}, {weather}, {setting} {lanes}-lane road {describe_road(road, s0)}, {traffic}"


def generate_world(seed: int, cfg: SimConfig) -> World:
    """Build the world of episode ``seed`` (deterministic)."""
    rng = np.random.default_rng(seed)
    style = sample_style(rng, cfg)
    lanes = cfg.lanes_per_direction or int(rng.integers(1, 4))
    urban = style.environment == "urban"
    road = generate_road(rng, cfg.road_length_m, lanes, cfg.lane_width_m, urban, cfg.max_curvature_1pm)
    boxes = roadside_boxes(rng, road, urban)
    density = cfg.traffic_density if cfg.traffic_density is not None else float(rng.uniform(0.2, 2.2))
    traffic = spawn_traffic(rng, road, density, START_S_M)
    return World(road, boxes, traffic, style, make_caption(style, road, density, START_S_M), seed)
