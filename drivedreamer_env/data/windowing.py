"""Training windows: resample a clip to a fixed frame rate, crop/resize its frames, cut fixed-length windows.

Resampling uses the real timestamps. A target frame is the nearest source frame in time (no image
interpolation), so a frame rate above the source's is refused unless the caller asks for repeated frames
(``allow_repeats``); the actions are exact time averages of the source's piecewise-constant actions over each
new step either way. Uneven source timing can still map two target times onto one frame when downsampling: such
repeats are counted in ``meta["repeated_frames"]`` and warned about.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivedreamer_env.data.clip import Clip

Crop = tuple[float, float, float, float]  # fractions removed from (top, bottom, left, right)


@dataclass
class WindowConfig:
    """How clips become training windows (see :func:`windows`)."""

    frames: int = 16
    """frames per window"""
    fps: float = 10.0
    """frame rate of the windows [Hz]"""
    height: int = 64
    """output frame height [px]"""
    width: int = 128
    """output frame width [px]"""
    crop: Crop | None = None
    """fractions (top, bottom, left, right) of the source frame removed before resizing, e.g. a car hood"""
    stride: int | None = None
    """frames between window starts; None means ``frames`` (non-overlapping)"""

    def __post_init__(self) -> None:
        _check_window(self.frames, self.stride, self.fps)
        if self.height < 1 or self.width < 1:
            raise ValueError(f"window resolution must be positive, got {self.height}x{self.width}")
        if self.crop is not None:
            self.crop = tuple(float(c) for c in self.crop)  # type: ignore[assignment]
            _check_crop(self.crop)

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return self.height, self.width

    def windows(self, clip: Clip) -> Iterator[Clip]:
        """:func:`windows` with this config."""
        return windows(clip, self.frames, self.fps, self.resolution, self.crop, self.stride)


def _check_window(frames: int, stride: int | None, fps: float) -> None:
    if frames < 1:
        raise ValueError(f"a window needs at least 1 frame, got frames={frames}")
    if stride is not None and stride < 1:
        raise ValueError(f"stride must be >= 1 frame, got {stride}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")


def _check_crop(crop: Crop) -> None:
    if len(crop) != 4 or not all(0.0 <= c < 1.0 for c in crop):
        raise ValueError(f"crop must be 4 fractions in [0, 1) for (top, bottom, left, right), got {crop}")
    if crop[0] + crop[1] >= 1.0 or crop[2] + crop[3] >= 1.0:
        raise ValueError(f"crop {crop} removes the whole frame (top + bottom and left + right must be < 1)")


# ---------------------------------------------------------------------------------------------- resampling


def _nearest_indices(source_t: np.ndarray, target_t: np.ndarray) -> np.ndarray:
    """Index of the source time nearest each target time (the earlier one on a tie)."""
    if len(source_t) == 1:
        return np.zeros(len(target_t), dtype=np.int64)
    right = np.clip(np.searchsorted(source_t, target_t), 1, len(source_t) - 1)
    left = right - 1
    take_left = target_t - source_t[left] <= source_t[right] - target_t
    return np.where(take_left, left, right)


def _integral(source_t: np.ndarray, values_TC: np.ndarray, query_t: np.ndarray) -> np.ndarray:
    """Integral from ``source_t[0]`` to each query time of the piecewise-constant ``values_TC``.

    Row i holds over ``[t_i, t_{i+1})``; the last row holds past the end. Returns ``(Q, C)``.
    """
    cumulative_TC = np.zeros_like(values_TC)
    cumulative_TC[1:] = np.cumsum(values_TC[:-1] * np.diff(source_t)[:, None], axis=0)
    i = np.clip(np.searchsorted(source_t, query_t, side="right") - 1, 0, len(source_t) - 1)
    return cumulative_TC[i] + values_TC[i] * (query_t - source_t[i])[:, None]


UPSAMPLE_TOLERANCE = 0.01  # a target rate this far above the source's mean rate still counts as "the same"


class UpsamplingError(ValueError):
    """A clip was asked for a frame rate above its own: nearest-frame resampling would repeat frames."""


def resample(clip: Clip, fps: float, allow_repeats: bool = False) -> Clip:
    """Resample ``clip`` onto the regular times ``t0, t0 + 1/fps, ...`` that fall within it.

    Args:
        clip: any clip (timestamps may be uneven).
        fps: target frame rate [Hz].
        allow_repeats: accept a rate above the source's mean rate, where frames repeat (nearest frame).

    Returns:
        A clip whose frames, per-frame ``meta["labels"]`` and ``meta["poses"]`` are those of the nearest
        source frame, whose timestamps are the target times [s], and whose action k is the exact time average
        of the source actions over ``[t_k, t_k + 1/fps]`` (the source's last action holds past its end).
        ``meta["repeated_frames"]`` counts target frames that show the same source frame as the one before.

    Raises:
        UpsamplingError: ``fps`` is above the clip's mean frame rate and ``allow_repeats`` is False.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not allow_repeats and len(clip) > 1 and fps > clip.fps * (1 + UPSAMPLE_TOLERANCE):
        raise UpsamplingError(
            f"cannot resample a {clip.fps:.3g} Hz clip to fps={fps:g}: upsampling would repeat frames (frames "
            f"are not interpolated); give fps <= {clip.fps:.3g}, or leave fps out to keep the source's frames"
        )
    source_t = clip.timestamps
    n = int(np.floor((source_t[-1] - source_t[0]) * fps + 1e-6)) + 1
    target_t = source_t[0] + np.arange(n) / fps
    nearest = _nearest_indices(source_t, target_t)
    edges_t = np.append(target_t, target_t[-1] + 1.0 / fps)
    actions = np.diff(_integral(source_t, clip.actions.astype(np.float64), edges_t), axis=0) * fps

    meta = dict(clip.meta)
    meta.pop("start_index", None)  # indices into the source frame grid mean nothing on the new grid
    meta["resampled_fps"] = float(fps)
    repeats = int(np.sum(np.diff(nearest) == 0))
    meta["repeated_frames"] = repeats
    if repeats and not allow_repeats:
        worst = float(np.max(np.diff(source_t)))
        warnings.warn(
            f"resampling to {fps:g} Hz repeats {repeats} of {n} frames: the source's uneven steps (up to "
            f"{worst:.3f} s) exceed 1/fps = {1 / fps:.3f} s there; a lower fps avoids it",
            stacklevel=2,
        )
    if "labels" in meta:
        meta["labels"] = {k: np.asarray(v)[nearest] for k, v in meta["labels"].items()}
    if "poses" in meta:
        meta["poses"] = np.asarray(meta["poses"])[nearest]
    return Clip(clip.frames[nearest], target_t, actions.astype(np.float32), clip.text, meta)


# ------------------------------------------------------------------------------------------ resize / crop


@dataclass(frozen=True)
class _ResizePlan:
    box: tuple[int, int, int, int]  # (y0, y1, x0, x1) kept by the fractional crop, in source pixels
    scaled_hw: tuple[int, int]  # size after resizing the cropped image
    offset_yx: tuple[int, int]  # top-left of the centre crop in the resized image


def _plan(image_hw: tuple[int, int], resolution: tuple[int, int], crop: Crop | None) -> _ResizePlan:
    h, w = image_hw
    out_h, out_w = resolution
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resolution must be positive (H, W), got {resolution}")
    top, bottom, left, right = (0.0, 0.0, 0.0, 0.0) if crop is None else crop
    if crop is not None:
        _check_crop(crop)
    y0, y1 = round(top * h), h - round(bottom * h)
    x0, x1 = round(left * w), w - round(right * w)
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"crop {crop} leaves no pixels of a {h}x{w} frame")
    # Cover the target, then centre-crop: no padding, no distortion.
    scale = max(out_h / (y1 - y0), out_w / (x1 - x0))
    scaled_hw = (max(out_h, round((y1 - y0) * scale)), max(out_w, round((x1 - x0) * scale)))
    offset_yx = ((scaled_hw[0] - out_h) // 2, (scaled_hw[1] - out_w) // 2)
    return _ResizePlan((y0, y1, x0, x1), scaled_hw, offset_yx)


def resize_crop(frames: np.ndarray, resolution: tuple[int, int], crop: Crop | None = None) -> np.ndarray:
    """Crop fractions off, scale so ``resolution`` is covered, and centre-crop to exactly ``resolution``.

    Args:
        frames: uint8 ``(T, H, W, 3)`` or one frame ``(H, W, 3)``.
        resolution: output ``(H, W)`` [px].
        crop: fractions ``(top, bottom, left, right)`` of the frame removed first (e.g. ``(0, 0.2, 0, 0)``
            drops the bottom fifth, where a car hood sits), or None.

    Returns:
        uint8 ``(T, H, W, 3)`` (or ``(H, W, 3)``), shrunk with area interpolation, enlarged bilinearly.
    """
    single = frames.ndim == 3
    frames_THWC = frames[None] if single else frames
    plan = _plan(frames_THWC.shape[1:3], resolution, crop)
    y0, y1, x0, x1 = plan.box
    cropped_THWC = frames_THWC[:, y0:y1, x0:x1]
    scaled_h, scaled_w = plan.scaled_hw
    if (scaled_h, scaled_w) != cropped_THWC.shape[1:3]:
        interp = cv2.INTER_AREA if scaled_h < cropped_THWC.shape[1] else cv2.INTER_LINEAR
        cropped_THWC = np.stack(
            [cv2.resize(np.ascontiguousarray(f), (scaled_w, scaled_h), interpolation=interp) for f in cropped_THWC]
        )
    oy, ox = plan.offset_yx
    out = np.ascontiguousarray(cropped_THWC[:, oy : oy + resolution[0], ox : ox + resolution[1]])
    return out[0] if single else out


def adjust_intrinsics(
    intrinsics: Any, image_hw: tuple[int, int], resolution: tuple[int, int], crop: Crop | None = None
) -> np.ndarray:
    """Camera matrix after :func:`resize_crop` with the same arguments.

    Args:
        intrinsics: 3x3 pinhole matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` [px] of the source frames,
            pixel centres at integer coordinates (OpenCV, nuScenes).
        image_hw: source frame ``(H, W)`` [px].
        resolution: output ``(H, W)`` [px].
        crop: the same fractional crop as given to :func:`resize_crop`.

    Returns:
        float64 ``(3, 3)`` matrix for the output frames.
    """
    k = np.array(intrinsics, dtype=np.float64)
    if k.shape != (3, 3):
        raise ValueError(f"intrinsics must be a 3x3 matrix, got shape {k.shape}")
    plan = _plan(image_hw, resolution, crop)
    y0, y1, x0, x1 = plan.box
    sy, sx = plan.scaled_hw[0] / (y1 - y0), plan.scaled_hw[1] / (x1 - x0)
    oy, ox = plan.offset_yx
    # cv2.resize maps pixel centres: x' = (x + 0.5) * s - 0.5; crops shift the origin.
    k[0, :2] *= sx
    k[1, :2] *= sy
    k[0, 2] = (k[0, 2] - x0 + 0.5) * sx - 0.5 - ox
    k[1, 2] = (k[1, 2] - y0 + 0.5) * sy - 0.5 - oy
    return k


# ----------------------------------------------------------------------------------------------- windows


def windows(
    clip: Clip,
    frames: int,
    fps: float,
    resolution: tuple[int, int],
    crop: Crop | None = None,
    stride: int | None = None,
) -> Iterator[Clip]:
    """Fixed-length training windows of ``clip``.

    Args:
        clip: the source clip.
        frames: frames per window.
        fps: window frame rate [Hz] (see :func:`resample`).
        resolution: output ``(H, W)`` [px] (see :func:`resize_crop`).
        crop: fractions ``(top, bottom, left, right)`` removed before resizing, or None.
        stride: frames between window starts; None means ``frames`` (non-overlapping).

    Returns:
        An iterator of clips of exactly ``frames`` frames, in time order; trailing frames that do not fill
        a window are dropped (a clip shorter than one window yields nothing). ``meta["intrinsics"]`` is
        adjusted to the crop and resize; ``meta["start_index"]`` is the window's first frame on the
        resampled grid.
    """
    _check_window(frames, stride, fps)  # eagerly, not on the first next()
    if crop is not None:
        _check_crop(crop)
    return _windows(clip, frames, fps, resolution, crop, frames if stride is None else stride)


def _windows(
    clip: Clip, frames: int, fps: float, resolution: tuple[int, int], crop: Crop | None, stride: int
) -> Iterator[Clip]:
    resampled = resample(clip, fps)
    if len(resampled) < frames:
        return
    meta = dict(resampled.meta)
    if "intrinsics" in meta:
        k = adjust_intrinsics(meta["intrinsics"], resampled.resolution, resolution, crop)
        meta["intrinsics"] = k.tolist()
    # Resize once for the whole clip: overlapping windows would otherwise resize frames repeatedly.
    frames_THWC = resize_crop(resampled.frames, resolution, crop)
    shaped = Clip(frames_THWC, resampled.timestamps, resampled.actions, resampled.text, meta)
    for start in range(0, len(shaped) - frames + 1, stride):
        yield shaped.slice(start, start + frames)
