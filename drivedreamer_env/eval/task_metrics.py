"""Pure scores of the stylization and inpainting tasks, on frames alone.

* :func:`edge_structure`: SSIM of normalised edge maps (``stylize_structure``): 1 when the layout is unchanged;
* :func:`seam_ratio`: gradient energy across the mask boundary over the energy just inside and just outside it
  (``inpaint_seam_ratio``): about 1 when there is no seam, high for a hard pasted edge;
* :func:`unmasked_exact`: share of the pixels outside the mask left unchanged (``inpaint_unmasked_exact``);
* :func:`box_mask` / :func:`crop_box`: the pixel box the inpainting evaluation regenerates, and its crop.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from drivedreamer_env.metrics import ssim

EDGE_PERCENTILE = 99.0  # edge maps are scaled by this percentile of their own magnitude (style-free contrast)
SEAM_OFFSETS = (2, 3, 4)  # pixel steps compared with the step across the boundary, on each side


def _frames(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (T, H, W, 3) or (H, W, 3) frames, got {x.dtype} {x.shape}")
    return x


def _mask(mask: np.ndarray, frames: np.ndarray) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    m = np.broadcast_to(m, frames.shape[:3]) if m.ndim == 2 else m
    if m.shape != frames.shape[:3]:
        raise ValueError(f"mask must be (T, H, W) = {frames.shape[:3]} or (H, W), got {np.shape(mask)}")
    return m


def edge_map(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W) float32 Sobel gradient magnitude of the grey image, scaled to [0, 1] by its
    own 99th percentile, so that a dark night frame and a bright day frame of one layout give similar maps."""
    frames = _frames(frames, "frames")
    out = np.empty(frames.shape[:3], np.float32)
    for i, f in enumerate(frames):
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
        out[i] = np.clip(mag / max(float(np.percentile(mag, EDGE_PERCENTILE)), 1e-3), 0.0, 1.0)
    return out


def edge_structure(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the edge maps of two clips of the same shape (``stylize_structure``); 1 = same layout."""
    a, b = _frames(a, "a"), _frames(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"clips must have the same shape, got {a.shape} and {b.shape}")
    ea, eb = (torch.from_numpy(edge_map(x))[:, None] for x in (a, b))  # (T, 1, H, W)
    return float(ssim(ea, eb, data_range=1.0).mean())


def seam_ratio(frames: np.ndarray, mask: np.ndarray) -> float:
    """Gradient energy across the mask boundary over the energy just inside and outside it (1 = no seam).

    For every pair of 4-neighbour pixels that straddles the boundary (one in the mask, one not; edges of the image
    are not a boundary), the absolute grey step between them is compared with the steps along the same line 2-4
    pixels further into the mask and further out of it. The ratio of the two means is about 1 on an image the
    mask was only drawn on (0.96 on held-out simulator frames with the evaluation box), and large where a patch
    was pasted with a hard edge (17 for the same drive's other-style render pasted in). Absolute rather than
    squared steps: squares let the few strong scene edges near the box decide the ratio (0.57 on the same frames).

    Args:
        frames: (T, H, W, 3) or (H, W, 3) uint8.
        mask: (T, H, W) or (H, W) bool, True = inpainted.
    """
    frames = _frames(frames, "frames")
    m = _mask(mask, frames)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float64)
    across, near = [], []
    for axis in (1, 2):  # rows (vertical steps), columns (horizontal steps)
        g, mm = np.moveaxis(gray, axis, -1), np.moveaxis(m, axis, -1)  # boundary steps run along the last axis
        n = g.shape[-1]
        step = np.abs(np.diff(g, axis=-1))  # (..., n - 1): step i is between pixels i and i + 1
        t_idx, r_idx, i_idx = np.nonzero(mm[..., 1:] != mm[..., :-1])
        if len(i_idx) == 0:
            continue
        across.append(step[t_idx, r_idx, i_idx])
        inward = np.where(mm[t_idx, r_idx, i_idx + 1], 1, -1)  # direction of the mask's side
        for d in SEAM_OFFSETS:
            for side in (inward, -inward):
                j = i_idx + side * d
                ok = (j >= 0) & (j < n - 1)
                near.append(step[t_idx[ok], r_idx[ok], j[ok]])
    if not across:
        raise ValueError("the mask has no boundary inside the image (it is empty or covers everything)")
    ref = np.concatenate(near)
    # the same small floor on both means: flat regions on both sides of an invisible boundary read 1, not 0/0
    floor = 1.0  # [grey levels]
    return float((np.concatenate(across).mean() + floor) / ((ref.mean() if len(ref) else 0.0) + floor))


def unmasked_exact(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    """Share of the pixels outside ``mask`` whose RGB is unchanged from ``before`` to ``after`` (1.0 = all)."""
    before, after = _frames(before, "before"), _frames(after, "after")
    if before.shape != after.shape:
        raise ValueError(f"clips must have the same shape, got {before.shape} and {after.shape}")
    keep = ~_mask(mask, before)
    if not keep.any():
        raise ValueError("the mask covers every pixel: nothing is left unmasked")
    return float((before == after).all(-1)[keep].mean())


def box_mask(box: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of the box ``(x0, y0, x1, y1)`` in fractions of the width and height (end rounded up)."""
    x0, y0, x1, y1 = box
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise ValueError(f"box must be fractions 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1, got {box}")
    h, w = shape
    m = np.zeros((h, w), bool)
    m[int(y0 * h) : int(np.ceil(y1 * h)), int(x0 * w) : int(np.ceil(x1 * w))] = True
    return m


def crop_box(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) frames -> (N, h, w, 3) crops of the bounding box of the (H, W) mask."""
    rows, cols = np.nonzero(np.asarray(mask, bool))
    if len(rows) == 0:
        raise ValueError("empty mask: nothing to crop")
    return np.ascontiguousarray(frames[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])
