"""Step actions of a sweep from the CAN bus expansion: speed and yaw rate (or steering) at the step midpoints.

``can_bus``: ``vehicle_monitor.vehicle_speed`` [km/h] and ``pose.rotation_rate[2]`` [rad/s], linearly
interpolated on ``utime`` at the step midpoints. ``can_steering``: the same speed; the yaw rate from the
steering-wheel angle (``steeranglefeedback`` [rad] when present, else ``vehicle_monitor.steering`` [deg];
positive left, per the CAN bus README) through the kinematic bicycle model. A scene the CAN data does not cover
raises :class:`~drivedreamer_env.data.ego_motion.SignalCoverageError`, so the caller can fall back to ego poses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivedreamer_env.data.ego_motion import SignalCoverageError, signal_at_step_midpoints
from drivedreamer_env.nuscenes.reader.sweep import Sweep
from drivedreamer_env.units import VehicleGeometry, kmh_to_mps, rad_to_deg, steering_wheel_deg_to_yaw_rate


class CanBusActions:
    """CAN-bus step actions of nuScenes sweeps; the devkit's ``NuScenesCanBus`` is loaded on first use.

    Args:
        can_bus_cls: the devkit's ``NuScenesCanBus`` class.
        dataroot: the folder holding ``can_bus/``.
    """

    def __init__(self, can_bus_cls: Any, dataroot: Path) -> None:
        self._cls, self._dataroot = can_bus_cls, dataroot
        self._can: Any = None
        self._error: str | None = None

    def _can_bus(self) -> Any:
        if self._can is None and self._error is None:
            try:
                self._can = self._cls(dataroot=str(self._dataroot))
            except Exception as err:  # the devkit raises a bare Exception for a missing can_bus folder
                self._error = str(err)
        if self._can is None:
            raise SignalCoverageError(self._error or "no CAN bus")
        return self._can

    def signal(self, sweep: Sweep, message: str, value: Callable[[dict], float], name: str) -> np.ndarray:
        """One CAN signal of the sweep's scene at its step midpoints; ``value(msg)`` picks the number."""
        try:
            msgs = self._can_bus().get_messages(sweep.name, message, print_warnings=False)
        except SignalCoverageError:
            raise
        except Exception as err:  # blacklisted scene (bare Exception), missing file, malformed scene name
            raise SignalCoverageError(f"{message}: {type(err).__name__}: {err}") from err
        try:
            msg_t = np.array([(m["utime"] - sweep.first_utime) / 1e6 for m in msgs], dtype=np.float64)
            values = np.array([value(m) for m in msgs], dtype=np.float64)
        except (KeyError, IndexError, TypeError) as err:
            raise SignalCoverageError(f"{message}: malformed message ({err!r})") from err
        return signal_at_step_midpoints(sweep.t_s, msg_t, values, name)

    def step_actions(self, sweep: Sweep, actions: str, geometry: VehicleGeometry) -> np.ndarray:
        """(T-1, 2) ``[speed m/s, yaw_rate rad/s]`` of each step, for ``actions`` ``can_bus`` or ``can_steering``.

        Raises:
            SignalCoverageError: no CAN bus, a blacklisted scene, a missing signal or one not covering the sweep.
        """
        speed = kmh_to_mps(self.signal(sweep, "vehicle_monitor", lambda m: m["vehicle_speed"], "vehicle_speed"))
        if actions == "can_bus":
            yaw_rate = self.signal(sweep, "pose", lambda m: m["rotation_rate"][2], "pose.rotation_rate")
        else:
            try:  # 100 Hz steering-wheel angle [rad] where it exists, else the 2 Hz vehicle_monitor one [deg]
                wheel_rad = self.signal(sweep, "steeranglefeedback", lambda m: m["value"], "steeranglefeedback")
                wheel_deg = rad_to_deg(wheel_rad)
            except SignalCoverageError:
                wheel_deg = self.signal(sweep, "vehicle_monitor", lambda m: m["steering"], "steering")
            yaw_rate = steering_wheel_deg_to_yaw_rate(wheel_deg, speed, geometry)
        return np.stack([speed, yaw_rate], axis=-1)
