"""``--data`` specs -> clip sources: the one dispatch over shards, videos, frame folders and nuScenes.

Accepted forms::

    sim:DIR | shards:DIR          shard directory written by `drivedreamer data sim` (has manifest.json)
    video:PATH[?actions=F.csv&fps=10&start=180&end=18s&text=...&hfov=80&wheelbase=2.7&max_side=512]
                                  a video file or a folder of frame images, optional action CSV; start / end
                                  are frame indices (180) or seconds from the first frame (18s), end exclusive;
                                  fps resamples (below the source's rate only); hfov [deg] (with camera_height
                                  [m], camera_pitch [deg]) puts a pinhole camera into the clip's meta;
                                  wheelbase [m] converts a steering CSV column into yaw rates;
                                  actions=vo estimates the actions from the frames (visual odometry) through
                                  the camera hfov / camera_height / camera_pitch, the shipped camera's where
                                  not given (80 deg, 1.5 m, 3 deg down)
    nuscenes:DIR                  clip shards written by `drivedreamer data nuscenes` (has manifest.json)
    nuscenes:ROOT[?version=v1.0-mini&split=mini_train&actions=ego_pose&fps=10&frames=16&height=64&width=128]
                                  a nuScenes dataroot read through the devkit (version detected when ROOT has one)
    DIR                           a shard directory (has manifest.json) or a folder of frame images
    FILE.mp4 (.mov, .avi, ...)    a video file
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import MANIFEST, ShardSource
from drivedreamer_env.data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoSource
from drivedreamer_env.units import VehicleGeometry

ACCEPTED_FORMS = (
    "sim:DIR (or shards:DIR), a shard directory with manifest.json; "
    "video:PATH[?actions=FILE.csv|vo&fps=HZ&start=N|Ts&end=N|Ts&text=CAPTION&hfov=DEG&camera_height=M&"
    "camera_pitch=DEG&wheelbase=M&max_side=PX], a video file or a folder of frame images; "
    "nuscenes:DIR, clip shards from `drivedreamer data nuscenes`, or nuscenes:ROOT[?version=V&split=S&actions=A&"
    "fps=HZ&frames=N&height=PX&width=PX], a nuScenes dataroot; "
    "or a bare DIR (shards or frame images) or video FILE (" + ", ".join(VIDEO_EXTENSIONS) + ")"
)
_QUERY_KEYS = {
    "actions": ("actions_csv", str), "fps": ("fps", float), "max_side": ("max_side", int), "start": ("start", str),
    "end": ("end", str), "text": ("text", str), "hfov": ("hfov", float), "camera_height": ("camera_height", float),
    "camera_pitch": ("camera_pitch", float), "wheelbase": ("wheelbase", float),
}  # fmt: skip
_CAMERA_KEYS = ("hfov", "camera_height", "camera_pitch")
VISUAL_ODOMETRY = "vo"  # actions=vo: estimate the actions from the frames (a CSV literally named vo: ./vo)
_NUSCENES_KEYS = {
    "version": ("version", str), "split": ("split", str), "channel": ("channel", str), "actions": ("actions", str),
    "fps": ("fps", float), "frames": ("frames", int), "stride": ("stride", int), "height": ("height", int),
    "width": ("width", int),
}  # fmt: skip


class DataSpecError(ValueError):
    """A ``--data`` spec matches none of the accepted forms."""


@runtime_checkable
class ClipSource(Protocol):
    """Anything that yields clips and knows how many it will yield."""

    def __iter__(self) -> Iterator[Clip]: ...

    def __len__(self) -> int: ...


def _video_kwargs(spec: str, query: str, keys: dict[str, tuple[str, type]] = _QUERY_KEYS) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in keys:
            raise DataSpecError(f"{spec!r}: unknown option {key!r}; the options here are {sorted(keys)}")
        name, kind = keys[key]
        try:
            kwargs[name] = kind(value)
        except ValueError:
            raise DataSpecError(f"{spec!r}: option {key}={value!r} is not a {kind.__name__}") from None
    return kwargs


def _shards(spec: str, directory: str, kwargs: dict[str, Any]) -> ShardSource:
    if kwargs:
        raise DataSpecError(f"{spec!r}: options {sorted(kwargs)} apply only to video sources")
    return ShardSource(directory)


def _nuscenes(spec: str, rest: str, kwargs: dict[str, Any]) -> ClipSource:
    """Clip shards of `drivedreamer data nuscenes`, or a dataroot read through the devkit."""
    path, _, query = rest.partition("?")
    if (Path(path) / MANIFEST).is_file():
        if query:
            raise DataSpecError(f"{spec!r}: {path} holds clip shards; options apply only to a nuScenes dataroot")
        return _shards(spec, path, kwargs)
    from drivedreamer_env.nuscenes.reader import NuScenesSource, table_versions

    options = {**_video_kwargs(spec, query, _NUSCENES_KEYS), **kwargs}
    if "version" not in options:
        found = table_versions(path)
        if len(found) != 1:
            raise DataSpecError(
                f"{spec!r}: give ?version=... ({path} has version folders {found}); or point at a directory "
                f"written by `drivedreamer data nuscenes`"
            )
        options["version"] = found[0]
    if "height" in options or "width" in options:
        options["resolution"] = (options.pop("height", 64), options.pop("width", 128))
    return NuScenesSource(path, **options)


class CameraVideoSource(VideoSource):
    """A :class:`VideoSource` whose clips carry an assumed pinhole camera (``hfov``) in their meta.

    The camera is :meth:`CameraModel.from_hfov` at the decoded resolution, the same model as
    ``drivedreamer data tokenize --hfov``: ``meta["intrinsics"]`` (3x3) and ``meta["camera"]`` (mounting height,
    pitch, position), with ``meta["camera_assumed"] = True``.
    """

    def __init__(self, *args: Any, hfov: float, camera_height: float = 1.5, camera_pitch: float = 0.0, **kw: Any):
        if not 0.0 < hfov < 180.0:
            raise DataSpecError(f"hfov={hfov:g}: the horizontal field of view must be in (0, 180) degrees")
        if not camera_height > 0.0:
            raise DataSpecError(f"camera_height={camera_height:g}: the mounting height must be positive [m]")
        super().__init__(*args, **kw)
        self.hfov, self.camera_height, self.camera_pitch = hfov, camera_height, camera_pitch

    def load(self) -> Clip:
        from drivedreamer_env.models.reprojection import CameraModel

        clip = super().load()
        h, w = clip.resolution
        cam = CameraModel.from_hfov(w, h, self.hfov, self.camera_height, self.camera_pitch, 1.5)
        clip.meta["intrinsics"] = [[cam.fx, 0.0, cam.cx], [0.0, cam.fy, cam.cy], [0.0, 0.0, 1.0]]
        clip.meta["camera"] = {"height_m": cam.height_m, "pitch_rad": cam.pitch_rad, "x_m": cam.x_m}
        clip.meta["camera_assumed"] = True
        return clip


class VisualOdometryVideoSource(CameraVideoSource):
    """A :class:`CameraVideoSource` whose actions are estimated from its frames by visual odometry.

    :func:`~drivedreamer_env.sources.visual_odometry.estimate_actions` runs on the clip as loaded (after ``start`` /
    ``end`` and ``fps``) through the assumed camera. ``meta["has_actions"]`` is True,
    ``meta["actions_source"] = "visual_odometry"`` and ``meta["visual_odometry"]`` states the camera assumed
    (``hfov_deg``, ``camera_height_m``, ``camera_pitch_deg``) and whether it was ``given`` or the shipped
    ``default``.
    """

    def __init__(self, *args: Any, camera_given: bool, **kw: Any):
        super().__init__(*args, **kw)
        self.camera_given = camera_given

    def load(self) -> Clip:
        from drivedreamer_env.models.reprojection import CameraModel
        from drivedreamer_env.sources.visual_odometry import estimate_actions

        clip = super().load()
        if len(clip) < 2:
            raise DataSpecError(f"{self.path}: actions=vo needs at least two frames, the clip has {len(clip)}")
        camera = CameraModel.from_meta(clip.meta, clip.resolution)
        clip.actions = estimate_actions(clip.frames, clip.timestamps, camera)
        clip.meta.update(has_actions=True, actions_source="visual_odometry")
        clip.meta["visual_odometry"] = {
            "hfov_deg": self.hfov, "camera_height_m": self.camera_height, "camera_pitch_deg": self.camera_pitch,
            "camera": "given" if self.camera_given else "default",
        }  # fmt: skip
        return clip


def _visual_odometry(path: str | Path, options: dict[str, Any]) -> VideoSource:
    """``actions=vo``: the camera keys not given take the shipped camera's values (and a warning says so)."""
    if "wheelbase" in options:
        raise DataSpecError(
            "wheelbase converts a steering column of an action CSV; actions=vo estimates yaw rates directly"
        )
    from drivedreamer_env.sim.config import CameraConfig

    default = CameraConfig()
    shipped = {"hfov": default.hfov_deg, "camera_height": default.height_m, "camera_pitch": default.pitch_deg}
    given = {k: options.pop(k) for k in _CAMERA_KEYS if k in options}
    if "hfov" not in given:
        warnings.warn(
            f"{path}: actions=vo without hfov assumes the shipped camera's field of view, "
            f"{default.hfov_deg:g} deg; give hfov=DEG (and camera_height=M, camera_pitch=DEG) for this camera",
            stacklevel=4,  # the caller of open_source
        )
    return VisualOdometryVideoSource(path, **{**shipped, **given}, camera_given="hfov" in given, **options)


def _video(path: str | Path, options: dict[str, Any]) -> VideoSource:
    """A video source from parsed options: ``wheelbase`` becomes the geometry, ``hfov`` adds the camera,
    ``actions=vo`` estimates the actions."""
    options = dict(options)
    if str(options.get("actions_csv")) == VISUAL_ODOMETRY:
        options.pop("actions_csv")
        return _visual_odometry(path, options)
    if "wheelbase" in options:
        wheelbase = options.pop("wheelbase")
        if not wheelbase > 0:
            raise DataSpecError(f"wheelbase={wheelbase:g}: the wheelbase must be positive [m]")
        base = options.get("geometry", VehicleGeometry())
        options["geometry"] = dataclasses.replace(base, wheelbase_m=wheelbase)
    camera = {k: options.pop(k) for k in _CAMERA_KEYS if k in options}
    if camera and "hfov" not in camera:
        raise DataSpecError(f"{sorted(camera)} describe the camera of hfov=DEG; give hfov too")
    return CameraVideoSource(path, **camera, **options) if camera else VideoSource(path, **options)


def _is_image_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


def open_source(spec: str, **kwargs: Any) -> ClipSource:
    """Open the clip source a ``--data`` spec names (forms in the module docstring).

    Args:
        spec: the spec string, e.g. ``"sim:outputs/sim"`` or ``"video:drive.mp4?actions=drive.csv"``.
        **kwargs: passed to :class:`VideoSource` (``actions_csv``, ``"vo"`` for visual odometry, ``fps``,
            ``geometry``, ``max_side``, ``start``, ``end``, ``text``; ``wheelbase`` and ``hfov`` / ``camera_height`` /
            ``camera_pitch`` as in the spec); they override options given in the spec's query string. Rejected for
            shard sources.

    Returns:
        A :class:`ShardSource`, :class:`VideoSource` (:class:`VisualOdometryVideoSource` for ``actions=vo``) or
        :class:`~drivedreamer_env.nuscenes.reader.NuScenesSource`.

    Raises:
        DataSpecError: the spec matches no accepted form (the message lists them).
        NuScenesError: a ``nuscenes:`` dataroot that is missing or incomplete.
    """
    prefix, _, rest = spec.partition(":")
    if prefix in ("sim", "shards") and rest:
        return _shards(spec, rest, kwargs)
    if prefix == "video" and rest:
        path, _, query = rest.partition("?")
        return _video(path, {**_video_kwargs(spec, query), **kwargs})
    if prefix == "nuscenes" and rest:
        return _nuscenes(spec, rest, kwargs)
    path = Path(spec)
    if (path / MANIFEST).is_file():
        return _shards(spec, spec, kwargs)
    if (path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS) or _is_image_folder(path):
        return _video(path, kwargs)
    problem = "no such file or directory" if not path.exists() else "not a recognised data source"
    raise DataSpecError(f"--data {spec!r}: {problem}; accepted forms: {ACCEPTED_FORMS}")
