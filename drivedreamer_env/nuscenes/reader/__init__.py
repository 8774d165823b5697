"""The nuScenes reader: front-camera sweeps -> ``Clip`` s of frames, ego-motion actions and captions, via the devkit.

The only package that imports the devkit (``pip install 'drivedreamer-env[nuscenes]'``), and only when a
:class:`NuScenesSource` is built (:func:`~drivedreamer_env.nuscenes.reader.dataroot.load_devkit`), so
``import drivedreamer_env`` stays fast. Modules: ``dataroot`` (errors, version folders, table checks, the lazy
devkit import), ``sweep`` (one scene's frame chain from the tables), ``can`` (CAN-bus step actions),
``source`` (:class:`NuScenesSource`).

How the visual-text-action triplets are made:

- **Walk.** Every sample_data of the camera channel of a scene, keyframes and sweeps, in time order through
  ``prev`` / ``next`` (about 12 Hz for CAM_FRONT, unevenly spaced). Times are the real ``timestamp`` s.
- **Actions** ``[speed m/s, yaw_rate rad/s]`` of each step between consecutive frames, estimated at the step's
  midpoint (:mod:`drivedreamer_env.data.ego_motion`):

  - ``ego_pose``: the ego pose of each sample_data (global frame; quaternion ``[w, x, y, z]`` -> yaw); speed from
    position differences over real time, yaw rate from the unwrapped yaw, both central differences about the
    midpoint. A left turn is a positive yaw rate (z up).
  - ``can_bus``: ``vehicle_monitor.vehicle_speed`` [km/h] and ``pose.rotation_rate[2]`` [rad/s] of the CAN bus
    expansion, linearly interpolated on ``utime`` at the step midpoints.
  - ``can_steering``: the same speed; yaw rate from the steering-wheel angle (``steeranglefeedback`` [rad] when
    present, else ``vehicle_monitor.steering`` [deg]; positive left, per the CAN bus README) through the
    kinematic bicycle model of ``geometry`` (wheelbase, steering ratio;
    :func:`drivedreamer_env.units.steering_wheel_deg_to_yaw_rate`).
  - A scene without usable CAN data (no ``can_bus`` folder, no files, blacklisted, not covering the sweep) falls
    back to ``ego_pose`` with a :class:`NuScenesWarning`; the fallback is recorded in :attr:`NuScenesSource.report`.
- **Captions** from the scene description, optionally with time-of-day and weather words normalised into the
  simulator's caption vocabulary (:mod:`drivedreamer_env.data.captions`).
- **Images** resized and centre-cropped to ``resolution`` as they are read (intrinsics adjusted alike); then the
  clip is resampled to ``fps`` (nearest frames, exactly time-averaged actions) and, with ``frames``, cut into
  windows. A missing image file is skipped, counted and reported; its step is merged with the next.
"""

from drivedreamer_env.nuscenes.reader.dataroot import NuScenesError, NuScenesWarning, check_dataroot, table_versions
from drivedreamer_env.nuscenes.reader.source import ACTION_SOURCES, NuScenesReport, NuScenesSource

__all__ = [
    "ACTION_SOURCES",
    "NuScenesError",
    "NuScenesReport",
    "NuScenesSource",
    "NuScenesWarning",
    "check_dataroot",
    "table_versions",
]
