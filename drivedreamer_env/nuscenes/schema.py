"""The nuScenes v1.0 on-disk schema that both the reader and the writer rely on: tables, vocabularies, scene names.

One definition, so the writer writes exactly the tables the reader checks for. Values are copied from the official
devkit (``nuscenes.utils.splits``, ``NuScenesCanBus``) so that the writer never imports it (an optional extra).
"""

from __future__ import annotations

CHANNEL = "CAM_FRONT"  # the one camera the writer exports and the reader's default channel
# the 13 tables of a version folder (<dataroot>/<version>/<table>.json), all required by the devkit
TABLES = (
    "attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
    "sample_annotation", "sample_data", "scene", "sensor", "visibility",
)  # fmt: skip
# which version a devkit split belongs to (by the version's suffix); every other split is *trainval
SPLIT_VERSIONS = {"mini_train": "mini", "mini_val": "mini", "test": "test"}
# nuscenes.utils.splits.mini_train + mini_val, in that order.
NUSCENES_MINI_SCENES = (
    "scene-0061", "scene-0553", "scene-0655", "scene-0757", "scene-0796", "scene-1077", "scene-1094",
    "scene-1100", "scene-0103", "scene-0916",
)  # fmt: skip
# NuScenesCanBus.can_blacklist (get_messages refuses these) and the scene it warns has no vehicle_monitor.
CAN_BLACKLIST = frozenset((*range(161, 169), *range(170, 177), *range(309, 315)))
CAN_WARNING_SCENES = frozenset({419})

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
