"""Clip source over a video file or a folder of frame images, with an optional per-frame action CSV.

Action CSV (header row; one row per sample; extra columns are ignored)::

    timestamp,speed,yaw_rate               # [s], [m/s], [rad/s]
    0.00,8.2,0.01
    0.10,8.3,0.02

``timestamp`` [s] is required; speed is ``speed`` [m/s] or ``speed_kmh`` [km/h]; turning is ``yaw_rate``
[rad/s, + left], ``steering_angle`` [rad, road-wheel, + left], ``steering_angle_deg`` [deg, road-wheel,
+ left] or ``steering_wheel_deg`` [deg, CAN-bus steering-wheel angle]. Steering angles become yaw rates
through the kinematic bicycle model of the source's :class:`VehicleGeometry`.

Frame times: when the CSV has exactly one row per frame its timestamps are the frame times; otherwise frame
``i`` is at ``t_csv[0] + i / rate`` (``0 + i / rate`` without a CSV), where ``rate`` is the video's own frame
rate (or ``fps`` for a folder of frames), and the CSV actions are linearly interpolated onto the frame times
(held at the first/last row outside the CSV's span).

Then, in this order: ``start`` / ``end`` cut the clip (frame indices, or seconds from the first frame with an
``s`` suffix), and ``fps`` resamples it (:func:`~drivedreamer_env.data.windowing.resample`: nearest frames,
actions averaged over each new step; a rate above the source's is refused rather than repeating frames).
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from drivedreamer_env.data.clip import Clip
from drivedreamer_env.data.windowing import UpsamplingError, resample
from drivedreamer_env.units import (
    VehicleGeometry,
    deg_to_rad,
    kmh_to_mps,
    steering_to_yaw_rate,
    steering_wheel_deg_to_yaw_rate,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
SPEED_COLUMNS = ("speed", "speed_kmh")
TURN_COLUMNS = ("yaw_rate", "steering_angle", "steering_angle_deg", "steering_wheel_deg")
_EXPECTED_FORM = (
    f"a video file ffmpeg can decode ({', '.join(VIDEO_EXTENSIONS)}) "
    f"or a folder of frame images ({', '.join(IMAGE_EXTENSIONS)})"
)
_EXPECTED_CSV = (
    "`timestamp` [s], one of `speed` [m/s] / `speed_kmh`, and one of `yaw_rate` [rad/s] / "
    "`steering_angle` [rad] / `steering_angle_deg` / `steering_wheel_deg`"
)


class VideoSourceError(ValueError):
    """A video, frame folder or action CSV is missing, unreadable, or not of the expected form."""


@dataclass(frozen=True)
class ActionTable:
    """Canonical ego actions read from a CSV, at the CSV's own timestamps.

    Attributes:
        timestamps_s: float64 ``(N,)`` strictly increasing [s].
        speed_mps: float64 ``(N,)`` [m/s].
        yaw_rate_rps: float64 ``(N,)`` [rad/s], positive left.
    """

    timestamps_s: np.ndarray
    speed_mps: np.ndarray
    yaw_rate_rps: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps_s)

    def at(self, times_s: np.ndarray) -> np.ndarray:
        """Linearly interpolated actions ``(T, 2)`` float32 ``[speed m/s, yaw_rate rad/s]`` at ``times_s``."""
        speed = np.interp(times_s, self.timestamps_s, self.speed_mps)
        yaw_rate = np.interp(times_s, self.timestamps_s, self.yaw_rate_rps)
        return np.stack([speed, yaw_rate], axis=-1).astype(np.float32)


def _pick_column(names: list[str], choices: tuple[str, ...], path: Path) -> str | None:
    present = [c for c in choices if c in names]
    if len(present) > 1:
        raise VideoSourceError(f"{path}: CSV has several of {present}; keep exactly one of {list(choices)}")
    return present[0] if present else None


def _parse_column(rows: list[tuple[int, list[str]]], index: int, name: str, path: Path) -> np.ndarray:
    values = np.empty(len(rows), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        cell = row[index].strip() if index < len(row) else ""
        try:
            values[i] = float(cell)
        except ValueError:
            raise VideoSourceError(f"{path}, line {line}: column `{name}` is {cell!r}, not a number") from None
        if not np.isfinite(values[i]):
            raise VideoSourceError(f"{path}, line {line}: column `{name}` is {cell!r} (NaN/inf not allowed)")
    return values


def read_actions_csv(path: str | Path, geometry: VehicleGeometry = VehicleGeometry()) -> ActionTable:  # noqa: B008
    """Read a per-frame action CSV (format in the module docstring) into canonical units.

    Args:
        path: the CSV file.
        geometry: bicycle-model parameters used to turn steering angles into yaw rates.

    Returns:
        The actions at the CSV's timestamps.

    Raises:
        VideoSourceError: missing file, missing/ambiguous columns, non-numeric or NaN cells, or
            timestamps that do not strictly increase; the message names the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoSourceError(f"action CSV not found: {path}; expected a CSV with columns {_EXPECTED_CSV}")
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    names = [h.strip().lower() for h in header or []]
    speed_col = _pick_column(names, SPEED_COLUMNS, path)
    turn_col = _pick_column(names, TURN_COLUMNS, path)
    if "timestamp" not in names or speed_col is None or turn_col is None:
        raise VideoSourceError(f"{path}: CSV columns are {names}; expected a header with {_EXPECTED_CSV}")
    if not rows:
        raise VideoSourceError(f"{path}: CSV has a header but no rows")
    t, speed, turn = (_parse_column(rows, names.index(n), n, path) for n in ("timestamp", speed_col, turn_col))
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0])
        raise VideoSourceError(
            f"{path}, line {rows[i + 1][0]}: timestamps must strictly increase, got {t[i + 1]} after {t[i]}"
        )
    speed_mps = kmh_to_mps(speed) if speed_col == "speed_kmh" else speed
    return ActionTable(t, speed_mps, _yaw_rate(turn, turn_col, speed_mps, geometry))


def _yaw_rate(turn: np.ndarray, column: str, speed_mps: np.ndarray, geometry: VehicleGeometry) -> np.ndarray:
    if column == "yaw_rate":
        return turn
    if column == "steering_wheel_deg":
        return steering_wheel_deg_to_yaw_rate(turn, speed_mps, geometry)
    steer_rad = deg_to_rad(turn) if column == "steering_angle_deg" else turn  # road-wheel angle [rad]
    return steering_to_yaw_rate(steer_rad, speed_mps, geometry.wheelbase_m)


def _natural_key(name: str) -> list[int | str]:
    """``frame_2.png`` sorts before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_image_files(directory: str | Path) -> list[Path]:
    """The frame images (png/jpg/jpeg, any case) in ``directory``, sorted naturally by file name."""
    directory = Path(directory)
    files = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise VideoSourceError(f"{directory} holds no frame images; expected {_EXPECTED_FORM}")
    return sorted(files, key=lambda p: _natural_key(p.name))


def _shrink(frame_HW3: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = frame_HW3.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return frame_HW3
    scale = max_side / max(h, w)
    size_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame_HW3, size_wh, interpolation=cv2.INTER_AREA)


def _decode_image(path: Path) -> np.ndarray | None:
    """RGB uint8 ``(H, W, 3)``, or None when the file cannot be decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # imdecode, unlike imread, copes with non-ASCII paths
    except OSError:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class _Decoded:
    frames: list[np.ndarray]  # each (H, W, 3) uint8 RGB
    indices: list[int]  # position of each kept frame among all source frames
    total: int  # source frames, decodable or not
    skipped: int = 0  # source frames that could not be decoded
    notes: list[str] = field(default_factory=list)  # which ones, for the warning
    native_fps: float | None = None


def _read_folder(files: list[Path], max_side: int | None) -> _Decoded:
    out = _Decoded([], [], len(files))
    first: tuple[Path, tuple[int, ...]] | None = None
    for i, path in enumerate(files):
        frame = _decode_image(path)
        if frame is None:
            out.skipped += 1
            out.notes.append(path.name)
            continue
        if first is None:
            first = (path, frame.shape)
        elif frame.shape != first[1]:
            raise VideoSourceError(
                f"{path} is {frame.shape[1]}x{frame.shape[0]} but {first[0].name} is "
                f"{first[1][1]}x{first[1][0]}; all frames of a folder must have one size"
            )
        out.frames.append(_shrink(frame, max_side))
        out.indices.append(i)
    return out


def _read_video(path: Path, max_side: int | None) -> _Decoded:
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
    except Exception as err:  # whatever ffmpeg or its header parser trips on, the user needs the path
        # ffmpeg's last stderr line says why, e.g. "Invalid data found when processing input".
        reason = next((line.strip() for line in reversed(str(err).splitlines()) if line.strip()), "no stream")
        reader.close()
        raise VideoSourceError(f"cannot read video {path} ({reason}); expected {_EXPECTED_FORM}") from err
    native_fps = float(meta.get("fps") or 0.0) or None
    out = _Decoded([], [], 0, native_fps=native_fps)
    failed = False
    try:
        # ffmpeg's default output for a pipe is constant-rate, so frame i is at i / fps even for VFR input.
        for raw in reader:
            out.frames.append(_shrink(np.frombuffer(raw, np.uint8).reshape(h, w, 3), max_side))
            out.indices.append(len(out.indices))
    except RuntimeError:  # a partial frame: ffmpeg died mid-stream
        failed = True
    finally:
        reader.close()
    decoded = len(out.indices)
    # ffmpeg conceals most corrupt packets itself, but a corrupt or truncated container can end the stream
    # early without any error: compare with the frame count the container's duration implies (an estimate,
    # hence the tolerance).
    expected = round(float(meta.get("duration") or 0.0) * native_fps) if native_fps else 0
    shortfall = expected - decoded
    if failed or shortfall > max(2, 0.01 * expected):
        out.skipped = max(shortfall, 1)
        out.notes.append(f"{out.skipped} after frame {decoded - 1} (stream ended early; ~{expected} expected)")
    out.total = decoded + out.skipped
    return out


@dataclass(frozen=True)
class Bound:
    """One end of a frame range: a source frame index, or seconds from the clip's first frame."""

    value: float
    seconds: bool

    @classmethod
    def parse(cls, name: str, text: str | int | float | None) -> Bound | None:
        """``"180"`` (frame 180), ``"18s"`` / ``"18.5s"`` (seconds), an int (frames); None passes through.

        Raises:
            VideoSourceError: anything else, or a negative value.
        """
        if text is None:
            return None
        if isinstance(text, int | float) and not isinstance(text, bool):
            text = str(text)
        raw = str(text).strip()
        seconds = raw.endswith("s")
        number = raw[:-1] if seconds else raw
        try:
            value = float(number) if seconds else int(number)
        except ValueError:
            raise VideoSourceError(
                f"{name}={text!r}: expected a frame index (e.g. {name}=180) or seconds (e.g. {name}=18s)"
            ) from None
        if value < 0:
            raise VideoSourceError(f"{name}={text!r} is negative; frames and seconds count from the clip's start")
        return cls(float(value), seconds)

    def __str__(self) -> str:
        return f"{self.value:g}s" if self.seconds else f"frame {int(self.value)}"


def _select(times: np.ndarray, indices: np.ndarray, start: Bound | None, end: Bound | None) -> np.ndarray:
    """Boolean mask of the kept frames in ``[start, end)`` (source frame indices or seconds from frame 0)."""
    keep = np.ones(len(times), dtype=bool)
    for bound, is_start in ((start, True), (end, False)):
        if bound is None:
            continue
        position = times - times[0] if bound.seconds else indices
        threshold = bound.value - (1e-9 if bound.seconds else 0.0)  # 18s keeps a frame stamped 18.0 s
        keep &= position >= threshold if is_start else position < threshold
    return keep


class VideoSource:
    """Clip source over one video file or one folder of frame images; yields a single clip for all of it.

    Args:
        path: a video file ffmpeg can decode (mp4, mov, ...) or a folder of png/jpg/jpeg frames
            (sorted naturally by name: ``2.png`` before ``10.png``).
        actions_csv: optional per-frame action CSV (see the module docstring). Without it the actions are
            zeros and ``meta["has_actions"]`` is False.
        fps: frame rate of the clip [Hz]. For a folder without a one-row-per-frame CSV it is the folder's frame
            rate (required there); otherwise the clip is resampled to it (below the source's rate only).
        geometry: bicycle-model parameters for steering-angle columns (``wheelbase_m`` in particular).
        max_side: if given, frames whose longer side exceeds it [px] are shrunk while decoding (aspect
            ratio kept, so fractional crops later still apply) to bound memory on long, large videos.
        start, end: keep only frames in ``[start, end)``: source frame indices (``180``) or seconds from the
            first frame (``"18s"``), applied before resampling.
        text: the clip's caption.

    Undecodable frames (a corrupt image; frames a corrupt or truncated video loses, counted against the
    container's duration) are skipped, leaving a gap in time; their count is warned about and stored in
    ``meta["skipped_frames"]``.
    """

    def __init__(
        self,
        path: str | Path,
        actions_csv: str | Path | None = None,
        fps: float | None = None,
        geometry: VehicleGeometry = VehicleGeometry(),  # noqa: B008 (frozen dataclass)
        *,
        max_side: int | None = None,
        start: str | int | None = None,
        end: str | int | None = None,
        text: str = "",
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoSourceError(f"video path not found: {self.path}; expected {_EXPECTED_FORM}")
        if fps is not None and not fps > 0:
            raise VideoSourceError(f"fps must be positive, got {fps}")
        self.fps = None if fps is None else float(fps)
        self.start, self.end = Bound.parse("start", start), Bound.parse("end", end)
        if self.start and self.end and self.start.seconds == self.end.seconds and self.end.value <= self.start.value:
            raise VideoSourceError(f"{self.path}: end ({self.end}) must come after start ({self.start})")
        self.text = text
        self.geometry = geometry
        self.max_side = max_side
        self.actions_csv = None if actions_csv is None else Path(actions_csv)
        self.actions = None if self.actions_csv is None else read_actions_csv(self.actions_csv, geometry)
        self.image_files = list_image_files(self.path) if self.path.is_dir() else None
        if self.image_files is not None and self.fps is None and not self._csv_matches(len(self.image_files)):
            raise VideoSourceError(
                f"{self.path}: a folder of {len(self.image_files)} frames has no frame rate; pass fps=... "
                f"or an action CSV with exactly one row (timestamp) per frame"
            )

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Clip]:
        yield self.load()

    def _csv_matches(self, total: int) -> bool:
        return self.actions is not None and len(self.actions) == total

    def _decode(self) -> _Decoded:
        if self.image_files is not None:
            return _read_folder(self.image_files, self.max_side)
        return _read_video(self.path, self.max_side)

    def _frame_times(self, decoded: _Decoded) -> tuple[np.ndarray, str]:
        """Frame times ``(T,)`` [s] and where they came from ("csv" or "fps")."""
        indices = np.asarray(decoded.indices)
        if self.actions is not None and self._csv_matches(decoded.total):
            return self.actions.timestamps_s[indices], "csv"
        rate = (decoded.native_fps or self.fps) if self.image_files is None else self.fps
        if rate is None:
            raise VideoSourceError(
                f"{self.path}: the video reports no frame rate; pass fps=... or an action CSV with "
                f"exactly one row per frame ({decoded.total} rows)"
            )
        start = 0.0 if self.actions is None else float(self.actions.timestamps_s[0])
        return start + indices / rate, "fps"

    def _warn_if_uncovered(self, times: np.ndarray) -> None:
        assert self.actions is not None
        t_csv = self.actions.timestamps_s
        slack = float(np.max(np.diff(times))) if len(times) > 1 else 0.0  # one frame period
        if times[0] < t_csv[0] - slack or times[-1] > t_csv[-1] + slack:
            warnings.warn(
                f"{self.actions_csv} covers [{t_csv[0]:.3f}, {t_csv[-1]:.3f}] s but the frames of "
                f"{self.path} span [{times[0]:.3f}, {times[-1]:.3f}] s; "
                "actions outside are held at the first/last row",
                stacklevel=3,
            )

    def load(self) -> Clip:
        """Decode the whole video/folder into one clip.

        Returns:
            A clip with RGB uint8 frames ``(T, H, W, 3)``, timestamps [s], actions ``(T, 2)``
            ``[speed m/s, yaw_rate rad/s]`` and ``meta`` keys ``source="video"``, ``path``, ``scene``,
            ``has_actions``, ``skipped_frames``, ``frame_times`` ("csv" or "fps"), ``start_frame`` (the
            first kept source frame) and, when resampled, ``resampled_fps``.

        Raises:
            VideoSourceError: no frame decodes, the frame rate is unknown, ``start`` / ``end`` select no frame,
                or ``fps`` is above the source's frame rate.
        """
        decoded = self._decode()
        if not decoded.frames:
            raise VideoSourceError(
                f"no decodable frame in {self.path} ({decoded.total} tried); expected {_EXPECTED_FORM}"
            )
        times, timing = self._frame_times(decoded)
        if self.actions is None:
            actions = np.zeros((len(times), 2), dtype=np.float32)
        else:
            if timing == "fps":
                self._warn_if_uncovered(times)
            actions = self.actions.at(times)
        if decoded.skipped:
            warnings.warn(
                f"{self.path}: skipped {decoded.skipped} undecodable frame(s): {decoded.notes[:5]}",
                stacklevel=2,
            )
        frames, indices = np.stack(decoded.frames), np.asarray(decoded.indices)
        keep = _select(times, indices, self.start, self.end)
        if not keep.any():
            span = f"frames 0-{decoded.total - 1}, {times[-1] - times[0]:.2f} s"
            raise VideoSourceError(
                f"{self.path}: start={self.start} end={self.end} selects no frame of this clip ({span})"
            )
        meta = {
            "source": "video",
            "path": str(self.path),
            "scene": self.path.stem,
            "has_actions": self.actions is not None,
            "skipped_frames": decoded.skipped,
            "frame_times": timing,
            "start_frame": int(indices[keep][0]),
        }
        clip = Clip(frames[keep], times[keep], actions[keep], self.text, meta)
        if self.fps is not None and not (timing == "fps" and self.image_files is not None):
            try:
                clip = resample(clip, self.fps)
            except UpsamplingError as err:
                raise VideoSourceError(f"{self.path}: {err}") from None
        return clip
