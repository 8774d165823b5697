"""``--data`` specs -> clip sources: the one dispatch over shards, videos, frame folders and nuScenes.

Accepted forms::

    sim:DIR | shards:DIR          shard directory written by `drivedreamer data sim` (has manifest.json)
    video:PATH[?actions=F.csv&fps=10&max_side=512]
                                  a video file or a folder of frame images, optional action CSV
    nuscenes:DIR                  clip shards written by `drivedreamer data nuscenes` (has manifest.json)
    nuscenes:ROOT[?version=v1.0-mini&split=mini_train&actions=ego_pose&fps=10&frames=16&height=64&width=128]
                                  a nuScenes dataroot read through the devkit (version detected when ROOT has one)
    DIR                           a shard directory (has manifest.json) or a folder of frame images
    FILE.mp4 (.mov, .avi, ...)    a video file
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.shards import MANIFEST, ShardSource
from drivedreamer_env.data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoSource

ACCEPTED_FORMS = (
    "sim:DIR (or shards:DIR), a shard directory with manifest.json; "
    "video:PATH[?actions=FILE.csv&fps=HZ&max_side=PX], a video file or a folder of frame images; "
    "nuscenes:DIR, clip shards from `drivedreamer data nuscenes`, or nuscenes:ROOT[?version=V&split=S&actions=A&"
    "fps=HZ&frames=N&height=PX&width=PX], a nuScenes dataroot; "
    "or a bare DIR (shards or frame images) or video FILE (" + ", ".join(VIDEO_EXTENSIONS) + ")"
)
_QUERY_KEYS = {"actions": ("actions_csv", str), "fps": ("fps", float), "max_side": ("max_side", int)}
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


def _is_image_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


def open_source(spec: str, **kwargs: Any) -> ClipSource:
    """Open the clip source a ``--data`` spec names (forms in the module docstring).

    Args:
        spec: the spec string, e.g. ``"sim:outputs/sim"`` or ``"video:drive.mp4?actions=drive.csv"``.
        **kwargs: passed to :class:`VideoSource` (``actions_csv``, ``fps``, ``geometry``, ``max_side``);
            they override options given in the spec's query string. Rejected for shard sources.

    Returns:
        A :class:`ShardSource`, :class:`VideoSource` or :class:`~drivedreamer_env.nuscenes.reader.NuScenesSource`.

    Raises:
        DataSpecError: the spec matches no accepted form (the message lists them).
        NuScenesError: a ``nuscenes:`` dataroot that is missing or incomplete.
    """
    prefix, _, rest = spec.partition(":")
    if prefix in ("sim", "shards") and rest:
        return _shards(spec, rest, kwargs)
    if prefix == "video" and rest:
        path, _, query = rest.partition("?")
        return VideoSource(path, **{**_video_kwargs(spec, query), **kwargs})
    if prefix == "nuscenes" and rest:
        return _nuscenes(spec, rest, kwargs)
    path = Path(spec)
    if (path / MANIFEST).is_file():
        return _shards(spec, spec, kwargs)
    if (path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS) or _is_image_folder(path):
        return VideoSource(path, **kwargs)
    problem = "no such file or directory" if not path.exists() else "not a recognised data source"
    raise DataSpecError(f"--data {spec!r}: {problem}; accepted forms: {ACCEPTED_FORMS}")
