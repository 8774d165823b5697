"""Fixed values of the nuScenes export: table names, scene-name rules, unit proxies and the standard vocabularies."""

from __future__ import annotations

from drivedreamer_env.units import VehicleGeometry

CHANNEL = "CAM_FRONT"
MARKER_FILE = "drivedreamer_export.json"
TABLES = (
    "attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
    "sample_annotation", "sample_data", "scene", "sensor", "visibility",
)  # fmt: skip
# nuscenes.utils.splits.mini_train + mini_val, in that order (copied so the devkit stays optional).
NUSCENES_MINI_SCENES = (
    "scene-0061", "scene-0553", "scene-0655", "scene-0757", "scene-0796", "scene-1077", "scene-1094",
    "scene-1100", "scene-0103", "scene-0916",
)  # fmt: skip
# NuScenesCanBus.can_blacklist (get_messages refuses these) and the scene it warns has no vehicle_monitor.
CAN_BLACKLIST = frozenset((*range(161, 169), *range(170, 177), *range(309, 315)))
CAN_WARNING_SCENES = frozenset({419})

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

CATEGORIES = (
    ("human.pedestrian.adult", "Adult pedestrian moving around the cityscape."),
    ("human.pedestrian.child", "Child pedestrian moving around the cityscape."),
    ("human.pedestrian.wheelchair", "Wheelchair user."),
    ("human.pedestrian.stroller", "Stroller, with or without a child in it."),
    ("human.pedestrian.personal_mobility", "Small electric or self-propelled vehicle ridden by a person."),
    ("human.pedestrian.police_officer", "Police officer."),
    ("human.pedestrian.construction_worker", "Construction worker."),
    ("animal", "Any animal."),
    ("vehicle.car", "Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, SUVs, vans."),
    ("vehicle.motorcycle", "Gasoline or electric powered 2-wheeled vehicle."),
    ("vehicle.bicycle", "Human or electric powered 2-wheeled vehicle designed to travel at lower speeds."),
    ("vehicle.bus.bendy", "Bendy bus subcategory."),
    ("vehicle.bus.rigid", "Rigid bus subcategory."),
    ("vehicle.truck", "Vehicle primarily designed to haul cargo."),
    ("vehicle.construction", "Vehicle designed for construction work."),
    ("vehicle.emergency.ambulance", "Ambulance."),
    ("vehicle.emergency.police", "Police vehicle."),
    ("vehicle.trailer", "Trailer, hauled by a vehicle."),
    ("movable_object.barrier", "Temporary road barrier placed in the scene to redirect traffic."),
    ("movable_object.trafficcone", "Temporary cone placed to redirect traffic."),
    ("movable_object.pushable_pullable", "Object that a pedestrian may push or pull, e.g. a trolley."),
    ("movable_object.debris", "Debris or movable object left on the road."),
    ("static_object.bicycle_rack", "Area or device intended to park or secure bicycles."),
)
ATTRIBUTES = (
    ("vehicle.moving", "Vehicle is moving."),
    ("vehicle.stopped", "Vehicle, with a driver in it, is stationary but intends to move."),
    ("vehicle.parked", "Vehicle is stationary, usually for longer, with no immediate intent to move."),
    ("cycle.with_rider", "There is someone on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is nobody on the bicycle or motorcycle."),
    ("pedestrian.sitting_lying_down", "The human is sitting or lying down."),
    ("pedestrian.standing", "The human is standing."),
    ("pedestrian.moving", "The human is moving."),
)
VISIBILITIES = (
    ("1", "v0-40", "visibility of whole object is between 0 and 40%"),
    ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
    ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
    ("4", "v80-100", "visibility of whole object is between 80 and 100%"),
)
