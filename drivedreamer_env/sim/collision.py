"""Oriented-rectangle overlap (separating axis theorem), vectorised over candidate boxes."""

from __future__ import annotations

import numpy as np


def rect_corners(xy: np.ndarray, yaw: np.ndarray, length: np.ndarray, width: np.ndarray) -> np.ndarray:
    """(N, 4, 2) corners of centred rectangles."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    lx = np.array([-0.5, 0.5, 0.5, -0.5])[None] * length[:, None]
    ly = np.array([-0.5, -0.5, 0.5, 0.5])[None] * width[:, None]
    return np.stack([xy[:, None, 0] + c * lx - s * ly, xy[:, None, 1] + s * lx + c * ly], axis=-1)


def overlaps(poly: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N,) bool: does convex quad ``poly`` (4, 2) overlap each of ``others`` (N, 4, 2)?"""
    if len(others) == 0:
        return np.zeros(0, dtype=bool)
    polys = np.concatenate([np.broadcast_to(poly, others.shape)[:, None], others[:, None]], axis=1)  # (N,2,4,2)
    edges = np.roll(polys, -1, axis=2) - polys
    axes = np.stack([-edges[..., 1], edges[..., 0]], axis=-1).reshape(len(others), 8, 2)  # (N, 8, 2)
    proj_a = np.einsum("nkd,cd->nkc", axes, poly)  # (N, 8, 4)
    proj_b = np.einsum("nkd,ncd->nkc", axes, others)
    separated = (proj_a.max(-1) < proj_b.min(-1)) | (proj_b.max(-1) < proj_a.min(-1))
    return ~separated.any(axis=1)
