"""The nuScenes writer: simulator episodes as a dataset in the nuScenes on-disk format (v1.0 + CAN bus).

The official devkit (``nuscenes.nuscenes.NuScenes`` and ``nuscenes.can_bus.can_bus_api.NuScenesCanBus``) loads
the result. This package writes plain JSON, JPEG and PNG and never imports the devkit (an optional extra).

Layout of the dataroot::

    <version>/*.json                    the 13 tables (instance and sample_annotation are empty)
    samples/CAM_FRONT/*.jpg             keyframes, about every ``keyframe_interval_s``
    sweeps/CAM_FRONT/*.jpg              every other frame
    maps/<token>.png                    semantic prior: 255 on the paved road, 0 elsewhere
    can_bus/<scene>_{pose,vehicle_monitor,route,meta}.json
    drivedreamer_export.json            provenance: global offset, map resolution, sources, fingerprint

Conventions: ego frame x forward, y left, z up with its origin on the ground under the rear axle; camera frame
x right, y down, z forward; quaternions ``[w, x, y, z]``; timestamps integer microseconds. The global frame is
the episodes' shared world frame shifted by one translation (``global_offset_m`` in the provenance file),
because the devkit's ``MapMask`` puts global (0, 0) at the bottom-left corner of the map raster.

Modules: ``constants`` (time slots, map settings, unit proxies; the table schema and vocabularies shared with
the reader are in :mod:`drivedreamer_env.nuscenes.schema`), ``naming`` (error, tokens, scene names), ``episode``
(clip validation and JPEG frames), ``map_raster`` (global offset and drivable-area PNG), ``tables`` (the 13 JSON
tables), ``can_bus`` (CAN expansion files), ``export`` (``export_nuscenes``, staging).
The public entry point is :func:`export_nuscenes`.
"""

from drivedreamer_env.nuscenes.writer.export import export_nuscenes
from drivedreamer_env.nuscenes.writer.naming import NuScenesExportError

__all__ = ["NuScenesExportError", "export_nuscenes"]
