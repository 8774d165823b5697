"""Pinhole front camera: projection of ego-frame points and per-pixel inverse perspective mapping (IPM).

Frames: ego x forward, y left, z up (origin on the ground under the rear axle); camera x right, y down,
z forward (OpenCV / nuScenes). The camera sits ``x_m`` ahead of the origin at ``height_m`` and is pitched
down by ``pitch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.config import CameraConfig


@dataclass
class PinholeCamera:
    width: int
    height: int
    fx: float  # [px]
    fy: float  # [px]
    cx: float  # principal point [px]; pixel (i, j) covers [j, j+1) x [i, i+1)
    cy: float
    height_m: float
    x_m: float
    pitch_rad: float

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> PinholeCamera:
        f = (cfg.width / 2.0) / np.tan(np.deg2rad(cfg.hfov_deg) / 2.0)
        return cls(
            cfg.width, cfg.height, f, f, cfg.width / 2.0, cfg.height / 2.0, cfg.height_m, cfg.x_m,
            np.deg2rad(cfg.pitch_deg),
        )  # fmt: skip

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 camera matrix K [px]."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def rotation_cam_from_ego(self) -> np.ndarray:
        """3x3 rotation taking ego-frame vectors into the camera frame."""
        sp, cp = np.sin(self.pitch_rad), np.cos(self.pitch_rad)
        return np.array([[0.0, -1.0, 0.0], [-sp, 0.0, -cp], [cp, 0.0, -sp]])

    @property
    def position_ego(self) -> np.ndarray:
        return np.array([self.x_m, 0.0, self.height_m])

    def ego_to_camera(self, points_ego: np.ndarray) -> np.ndarray:
        """(..., 3) ego-frame points [m] -> (..., 3) camera-frame points [m]."""
        return (np.asarray(points_ego) - self.position_ego) @ self.rotation_cam_from_ego.T

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (z > 0) -> (..., 2) continuous pixel coordinates (u, v)."""
        p = np.asarray(points_cam, dtype=np.float64)
        z = p[..., 2]
        return np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy], axis=-1)

    def horizon_row(self) -> float:
        """Image row [px] of the horizon (direction at infinity on the ground plane)."""
        return self.cy - self.fy * np.tan(self.pitch_rad)

    def pixel_rays_ego(self) -> np.ndarray:
        """(H, W, 3) unit ray direction through each pixel centre, in the ego frame."""
        u = np.arange(self.width) + 0.5
        v = np.arange(self.height) + 0.5
        uu, vv = np.meshgrid(u, v)
        rays_cam = np.stack([(uu - self.cx) / self.fx, (vv - self.cy) / self.fy, np.ones_like(uu)], axis=-1)
        rays = rays_cam @ self.rotation_cam_from_ego  # R^T applied to row vectors
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def ground_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inverse perspective mapping of every pixel onto the ground plane z = 0.

        Returns:
            ground_xy: (H, W, 2) ego-frame ground point of each pixel [m] (NaN above the horizon).
            distance: (H, W) distance from the camera along the ray [m] (inf above the horizon).
            is_ground: (H, W) bool, True where the ray hits the ground ahead.
        """
        rays = self.pixel_rays_ego()
        down = rays[..., 2] < -1e-6
        t = np.where(down, self.height_m / np.maximum(-rays[..., 2], 1e-6), np.inf)
        ground = self.position_ego[:2] + rays[..., :2] * np.where(down, t, np.nan)[..., None]
        return ground, t, down
