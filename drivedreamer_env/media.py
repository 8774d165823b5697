"""Writing what people look at: videos (MP4 / GIF), PNG images and contact sheets, all atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from drivedreamer_env.io_utils import atomic_path


def upscale(frame: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of an (H, W, 3) image, so pixels stay crisp."""
    return cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) if factor > 1 else frame


def write_png(path: str | Path, image_rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    if not ok:
        raise OSError(f"could not encode PNG for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def write_video(path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float) -> None:
    """Write uint8 RGB frames as MP4 (H.264 via imageio-ffmpeg) or GIF, chosen by the file extension."""
    import imageio.v2 as imageio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path}")
    with atomic_path(path) as tmp:
        if suffix == ".mp4":
            # H.264 wants even sizes; macro_block_size=1 keeps ours as they are
            writer = imageio.get_writer(
                tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8, macro_block_size=1,
                ffmpeg_log_level="error", output_params=["-pix_fmt", "yuv420p"],
            )  # fmt: skip
        else:
            writer = imageio.get_writer(tmp, format="GIF", mode="I", duration=1000.0 / fps, loop=0)
        with writer:
            for frame in frames:
                writer.append_data(np.asarray(frame, dtype=np.uint8))


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None, gap: int = 2
) -> np.ndarray:
    """Tile rows of equally sized RGB frames into one image, with an optional text label per row."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    label_w = 0 if labels is None else max(8 * len(s) for s in labels) + 8
    sheet = np.full((len(rows) * (h + gap) + gap, label_w + cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        y = gap + i * (h + gap)
        for j, frame in enumerate(row):
            x = label_w + gap + j * (w + gap)
            sheet[y : y + h, x : x + w] = frame
        if labels is not None:
            cv2.putText(
                sheet,
                labels[i],
                (4, y + h // 2 + 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    return sheet
