"""Fixed values of the nuScenes export that only the writer needs: time slots, file and map settings, CAN proxies.

The schema shared with the reader (tables, vocabularies, scene names) is :mod:`drivedreamer_env.nuscenes.schema`.
"""

from __future__ import annotations

from drivedreamer_env.units import VehicleGeometry

MARKER_FILE = "drivedreamer_export.json"
BASE_UTIME_US = 1_533_081_600_000_000  # 2018-08-01 00:00:00 UTC, first scene start
SCENE_SPACING_US = 1_000_000_000  # scenes start on 1000 s boundaries and never overlap in time
JPEG_QUALITY = 95
NATIVE_MAP_RESOLUTION_M = 0.1  # the devkit's MapMask assumes the PNG has 0.1 m/px
MAP_MARGIN_M = 10.0  # empty border around the mapped roads [m]
ROUTE_RADIUS_M = 60.0  # road further than this from every ego pose is left off the map and the route [m]
FALLBACK_HALF_WIDTH_M = 3.5  # drivable corridor around the ego path of a clip without a road [m]
GRAVITY_MPS2 = 9.81  # CAN pose accel carries gravity on z, as the real pose messages do
BRAKE_BAR_PER_MPS2 = 126.0 / 8.0  # proxy brake pressure: full (126 bar) at 8 m/s^2 deceleration
THROTTLE_PER_MPS2 = 1000.0 / 3.0  # proxy pedal position: full (1000) at 3 m/s^2 acceleration
GEAR_DRIVE = 7
DEFAULT_GEOMETRY = VehicleGeometry()  # frozen, so safe as a default argument
