"""The observation both driving envs give: the camera frame, or with ``observation="dict"`` the frame and ego state.

``ProcDrive-v0`` and ``WorldDreamerDrive-v0`` build their observation space and their dict observations here, so a
policy trained in one world reads the other's observations unchanged.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

OBSERVATIONS = ("rgb", "dict")
DICT_KEYS = ("image", "speed", "yaw_rate", "pose")


def observation_space(height: int, width: int, observation: str) -> spaces.Space:
    """The observation space of an env rendering ``height`` x ``width`` frames.

    Args:
        height, width: the frame size [px].
        observation: "rgb" (``Box(0, 255, (H, W, 3), uint8)``) or "dict" (``image`` as that box, ``speed`` (1,)
            [m/s], ``yaw_rate`` (1,) [rad/s, + left] and ``pose`` (3,) ``[x m, y m, heading rad]``).
    """
    image = spaces.Box(0, 255, (height, width, 3), np.uint8)
    if observation == "rgb":
        return image
    if observation == "dict":
        return spaces.Dict({
            "image": image,
            "speed": spaces.Box(0.0, 100.0, (1,), np.float32),
            "yaw_rate": spaces.Box(-10.0, 10.0, (1,), np.float32),
            "pose": spaces.Box(-np.inf, np.inf, (3,), np.float32),
        })  # fmt: skip
    raise ValueError(f"observation must be 'rgb' or 'dict', got {observation!r}")


def dict_observation(
    frame: np.ndarray, speed_mps: float, yaw_rate_rps: float, x_m: float, y_m: float, heading_rad: float
) -> dict[str, np.ndarray]:
    """The ``observation="dict"`` observation of one env (the frame is copied)."""
    return {
        "image": frame.copy(),
        "speed": np.array([speed_mps], np.float32),
        "yaw_rate": np.array([yaw_rate_rps], np.float32),
        "pose": np.array([x_m, y_m, heading_rad], np.float32),
    }
