"""Visual styles: palettes, lighting and atmosphere for time of day and weather.

Every number here is an appearance choice, in RGB 0-255 or a unitless gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.world import Style

# ground classes of the road raster
TERRAIN, SIDEWALK, CURB, SHOULDER, ASPHALT, WHITE_LINE, YELLOW_LINE = range(7)
N_CLASSES = 7

# per class, in the order above: terrain, sidewalk, curb, shoulder, asphalt, white line, yellow line
_GROUND_DAY = {
    "rural": [[75, 115, 50], [150, 148, 140], [185, 185, 180], [122, 112, 96], [80, 80, 84], [228] * 3, [215, 175, 50]],
    "urban": [[92, 108, 70], [152, 150, 143], [190, 190, 185], [100, 99, 97], [76, 76, 80], [228] * 3, [215, 175, 50]],
}
# texture amplitude per class (std of the world-anchored noise, as a fraction of the colour)
TEXTURE = np.array([0.22, 0.06, 0.03, 0.12, 0.07, 0.02, 0.02])
LINE_CLASSES = (WHITE_LINE, YELLOW_LINE)


@dataclass
class Look:
    """Resolved appearance of one episode."""

    ground: np.ndarray  # (N_CLASSES, 3) lit ground colours
    sky_zenith: np.ndarray  # (3,)
    sky_horizon: np.ndarray  # (3,)
    hills: np.ndarray  # (3,)
    light_gain: np.ndarray  # (3,) multiplier on lit surfaces
    ambient: float  # fraction of light without headlights (1 by day)
    headlights: bool
    fog_color: np.ndarray  # (3,)
    fog_length_m: float  # extinction length: colour keeps exp(-distance / fog_length_m)
    rain: float  # streak density 0..1
    desaturate: float  # 0..1


def resolve_look(style: Style) -> Look:
    ground = np.array(_GROUND_DAY[style.environment], dtype=np.float64)
    tod = style.time_of_day
    if tod == "day":
        zenith, horizon, gain, ambient = [70, 130, 215], [185, 210, 235], [1.0, 1.0, 1.0], 1.0
        fog_color, hills = [200, 204, 210], [85, 105, 110]
    elif tod == "dusk":
        zenith, horizon, gain, ambient = [55, 50, 110], [245, 150, 80], [0.95, 0.72, 0.58], 1.0
        fog_color, hills = [175, 135, 120], [70, 55, 70]
    else:
        zenith, horizon, gain, ambient = [4, 5, 14], [22, 22, 38], [0.75, 0.8, 0.95], 0.1
        fog_color, hills = [18, 18, 24], [10, 10, 16]
    fog_length, rain, desat = 500.0, 0.0, 0.0
    if style.weather == "fog":
        fog_length = 60.0 - 45.0 * style.intensity
        zenith = horizon = fog_color
    elif style.weather == "rain":
        fog_length = 220.0 - 120.0 * style.intensity
        rain, desat = style.intensity, 0.35
        grey = np.array([125, 130, 140]) * (np.array(gain) if tod != "night" else 0.15)
        zenith, horizon = grey * 0.8, grey
        gain = list(np.array(gain) * 0.8)
        ground[ASPHALT] *= 0.75  # wet asphalt is darker
    return Look(
        ground=ground,
        sky_zenith=np.array(zenith, np.float64),
        sky_horizon=np.array(horizon, np.float64),
        hills=np.array(hills, np.float64),
        light_gain=np.array(gain, np.float64),
        ambient=ambient,
        headlights=tod in ("night", "dusk"),
        fog_color=np.array(fog_color, np.float64),
        fog_length_m=float(fog_length),
        rain=float(rain),
        desaturate=float(desat),
    )


def headlight_gain(x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    """Ego headlight illumination of a point at ego-frame (x, y) [m]: a forward cone with distance falloff."""
    x = np.maximum(np.asarray(x_m, np.float64), 0.1)
    angle = np.abs(np.arctan2(np.asarray(y_m, np.float64), x))
    cone = np.clip(1.0 - (angle / np.deg2rad(35.0)) ** 2, 0.0, 1.0)
    return 1.8 * cone / (1.0 + (x / 20.0) ** 2)
