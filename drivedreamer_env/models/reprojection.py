"""Ego-motion reprojection of camera frames: where the geometry alone says the next frame's pixels come from.

A frame taken at ego pose t is warped into the view from pose t+1, given the canonical action
``[speed m/s, yaw_rate rad/s]`` held over ``dt_s`` (a circular arc of the rear-axle reference, as the simulator's
bicycle model moves). Per target pixel:

* a ray that points down hits the ground plane z = 0; the ground point is moved into the old ego frame and
  projected into the old camera (translation and rotation: exact for the road, wrong for anything standing on it);
* a ray at or above the horizon is a direction at infinity: only the heading change moves it (exact at any depth
  for a pure rotation).

Both cases are one formula: the ground hit distance grows without bound towards the horizon, where translation
stops mattering, so there is no seam. The warp is a backward map sampled with ``grid_sample``; pixels whose
source falls outside the old view are flagged invalid (new content the geometry cannot supply).

Frames: ego x forward, y left, z up (origin on the ground under the rear axle); camera x right, y down,
z forward (OpenCV / nuScenes), mounted ``x_m`` ahead of the origin at ``height_m``, pitched down by ``pitch_rad``.
This is the package's learned-model-side camera; the simulator's ``PinholeCamera`` and ``Clip.meta`` carry the
same numbers (:meth:`CameraModel.from_meta`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

RAY_DOWN_EPS = 1e-4  # rays flatter than this (ego z of the unit ray) count as at the horizon


@dataclass(frozen=True)
class CameraModel:
    """Pinhole front camera of the frames a model sees (after any resize / crop).

    Attributes:
        width, height: image size [px].
        fx, fy: focal lengths [px]; cx, cy: principal point [px] (pixel (i, j) covers [j, j+1) x [i, i+1)).
        height_m: mounting height above the ground [m].
        pitch_rad: downward pitch [rad] (positive looks down).
        x_m: forward offset from the ego reference point (rear axle) [m].
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    height_m: float = 1.5
    pitch_rad: float = 0.0
    x_m: float = 1.5

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fx <= 0 or self.fy <= 0 or self.height_m <= 0:
            raise ValueError(f"camera needs positive size, focal lengths and mounting height, got {self}")

    @classmethod
    def from_hfov(
        cls, width: int, height: int, hfov_deg: float, height_m: float = 1.5, pitch_deg: float = 0.0, x_m: float = 1.5
    ) -> CameraModel:
        """A centred pinhole with square pixels and horizontal field of view ``hfov_deg`` [deg]."""
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, f, f, width / 2.0, height / 2.0, height_m, math.radians(pitch_deg), x_m)

    @classmethod
    def from_meta(cls, meta: dict[str, Any], resolution: tuple[int, int]) -> CameraModel:
        """From ``Clip.meta``: ``intrinsics`` (3x3, for frames of ``resolution`` (H, W)) and ``camera``
        (``height_m``, ``pitch_rad``, ``x_m``)."""
        if "intrinsics" not in meta or "camera" not in meta:
            raise ValueError(f"clip meta has no camera: need 'intrinsics' and 'camera', got keys {sorted(meta)}")
        k, cam = meta["intrinsics"], meta["camera"]
        return cls(
            resolution[1], resolution[0], float(k[0][0]), float(k[1][1]), float(k[0][2]), float(k[1][2]),
            float(cam["height_m"]), float(cam.get("pitch_rad", 0.0)), float(cam.get("x_m", 0.0)),
        )  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraModel:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown camera key(s) {sorted(unknown)}; known: {list(cls.__dataclass_fields__)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rotation_cam_from_ego(self, device: torch.device | None = None) -> torch.Tensor:
        """(3, 3) rotation taking ego-frame vectors into the camera frame."""
        sp, cp = math.sin(self.pitch_rad), math.cos(self.pitch_rad)
        return torch.tensor([[0.0, -1.0, 0.0], [-sp, 0.0, -cp], [cp, 0.0, -sp]], device=device)


Seconds = float | torch.Tensor  # a step length [s]: one for the batch, or (B,) per row


def ego_motion(actions_B2: torch.Tensor, dt_s: Seconds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pose of the ego after ``dt_s`` at constant ``[speed m/s, yaw_rate rad/s]``, in the old ego frame.

    Returns (dx_m, dy_m, dyaw_rad), each (B,): the exact circular arc (a line when the yaw rate is ~0).
    """
    v, w = actions_B2[:, 0].double(), actions_B2[:, 1].double()
    if isinstance(dt_s, torch.Tensor):
        dt_s = dt_s.to(v.device, torch.float64)
    dyaw = w * dt_s
    straight = w.abs() < 1e-9
    r = torch.where(straight, torch.zeros_like(w), v / torch.where(straight, torch.ones_like(w), w))
    dx = torch.where(straight, v * dt_s, r * torch.sin(dyaw))
    dy = torch.where(straight, torch.zeros_like(v), r * (1.0 - torch.cos(dyaw)))
    return dx.float(), dy.float(), dyaw.float()


@functools.lru_cache(maxsize=8)
def _pixel_rays_ego(cam: CameraModel, device: torch.device) -> torch.Tensor:
    """(H, W, 3) unit ray direction through each pixel centre in the ego frame (once per camera: every dream step
    of warp decoding asks for them; callers must not modify the result)."""
    v, u = torch.meshgrid(
        torch.arange(cam.height, device=device) + 0.5, torch.arange(cam.width, device=device) + 0.5, indexing="ij"
    )
    rays_cam = torch.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, torch.ones_like(u)], dim=-1)
    rays = rays_cam @ cam.rotation_cam_from_ego(device)  # R^T applied to row vectors
    return rays / rays.norm(dim=-1, keepdim=True)


Pose = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (dx_m, dy_m, dyaw_rad), each (B,): a relative ego pose


def then(pose: Pose, step: Pose) -> Pose:
    """The relative pose ``pose`` followed by ``step`` (given in the frame ``pose`` ends in)."""
    x, y, yaw = (p.double() for p in pose)
    dx, dy, dyaw = (p.double().to(x.device) for p in step)
    c, s = torch.cos(yaw), torch.sin(yaw)
    return (x + c * dx - s * dy).float(), (y + s * dx + c * dy).float(), (yaw + dyaw).float()


def compose_motion(actions_BK2: torch.Tensor, dt_s: float) -> Pose:
    """Pose after K steps of ``actions_BK2`` (B, K, 2), each held for ``dt_s``, in the starting ego frame.

    Returns (dx_m, dy_m, dyaw_rad), each (B,).
    """
    zero = torch.zeros(actions_BK2.shape[0], device=actions_BK2.device)
    pose: Pose = (zero, zero.clone(), zero.clone())
    for k in range(actions_BK2.shape[1]):
        pose = then(pose, ego_motion(actions_BK2[:, k], dt_s))
    return pose


def source_pixels(cam: CameraModel, actions_B2: torch.Tensor, dt_s: Seconds) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of the new view, where it was in the old frame (one step of ``actions_B2``).

    Returns:
        uv_BHW2: continuous source pixel coordinates (u, v) [px] in the old frame.
        valid_BHW: True where the source lies inside the old view (and in front of the old camera).
    """
    return source_pixels_pose(cam, *ego_motion(actions_B2, dt_s))


def source_pixels_pose(
    cam: CameraModel, dx: torch.Tensor, dy: torch.Tensor, dyaw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`source_pixels` for a relative ego pose (each (B,)): the new pose in the old ego frame [m, rad]."""
    device = dx.device
    b = dx.shape[0]
    rays = _pixel_rays_ego(cam, torch.device(device))  # (H, W, 3)
    cam_pos = torch.tensor([cam.x_m, 0.0, cam.height_m], device=device)
    down = rays[..., 2] < -RAY_DOWN_EPS
    dist = torch.where(down, cam.height_m / (-rays[..., 2]).clamp_min(RAY_DOWN_EPS), torch.zeros_like(rays[..., 2]))
    c, s = torch.cos(dyaw), torch.sin(dyaw)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2): new ego -> old ego
    # ground pixels: the ground point (new ego frame) in the old ego frame, seen from the old camera position
    ground_new = cam_pos + rays * dist[..., None]  # (H, W, 3)
    xy_old = torch.einsum("bij,hwj->bhwi", rot, ground_new[..., :2]) + torch.stack([dx, dy], -1)[:, None, None]
    ground_old = torch.cat([xy_old, torch.zeros(b, cam.height, cam.width, 1, device=device)], dim=-1)
    vec_ground = ground_old - cam_pos
    # directions at infinity: rotation only
    dir_xy = torch.einsum("bij,hwj->bhwi", rot, rays[..., :2])
    vec_far = torch.cat([dir_xy, rays[..., 2:].expand(b, -1, -1, -1)], dim=-1)
    vec_ego = torch.where(down[None, ..., None], vec_ground, vec_far)  # (B, H, W, 3)
    vec_cam = vec_ego @ cam.rotation_cam_from_ego(device).T
    z = vec_cam[..., 2]
    in_front = z > 1e-6
    zs = torch.where(in_front, z, torch.ones_like(z))
    u = cam.fx * vec_cam[..., 0] / zs + cam.cx
    v = cam.fy * vec_cam[..., 1] / zs + cam.cy
    valid = in_front & (u >= 0) & (u <= cam.width) & (v >= 0) & (v <= cam.height)
    return torch.stack([u, v], dim=-1), valid


def _check_frames(frames_BHW3: torch.Tensor, cam: CameraModel) -> None:
    if frames_BHW3.ndim != 4 or frames_BHW3.shape[1:] != (cam.height, cam.width, 3):
        raise ValueError(f"frames must be (B, {cam.height}, {cam.width}, 3), got {tuple(frames_BHW3.shape)}")


def reproject(
    frames_BHW3: torch.Tensor, actions_B2: torch.Tensor, dt_s: Seconds, cam: CameraModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp frames taken at pose t into the view from pose t+1 (one ``dt_s`` step of ``actions_B2``).

    Args:
        frames_BHW3: (B, H, W, 3) uint8 or float frames at the camera's resolution.
        actions_B2: (B, 2) canonical actions ``[speed m/s, yaw_rate rad/s]`` held over the step.
        dt_s: step length [s], one float or (B,) per row.
        cam: the frames' camera.
    Returns:
        warped_BHW3 (same dtype as the input; invalid pixels take the nearest border colour) and valid_BHW
        (bool, True where the old view supplies the pixel).
    """
    _check_frames(frames_BHW3, cam)
    if actions_B2.shape != (frames_BHW3.shape[0], 2):
        raise ValueError(f"actions must be (B, 2) [speed, yaw_rate], got {tuple(actions_B2.shape)}")
    return warp_frames(frames_BHW3, *source_pixels(cam, actions_B2.float().to(frames_BHW3.device), dt_s), cam)


def reproject_pose(
    frames_BHW3: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, dyaw: torch.Tensor, cam: CameraModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`reproject` to a relative ego pose (each (B,), e.g. from :func:`compose_motion`)."""
    _check_frames(frames_BHW3, cam)
    d = frames_BHW3.device
    return warp_frames(frames_BHW3, *source_pixels_pose(cam, dx.to(d), dy.to(d), dyaw.to(d)), cam)


def warp_frames(
    frames_BHW3: torch.Tensor, uv: torch.Tensor, valid: torch.Tensor, cam: CameraModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``frames_BHW3`` at source pixels ``uv`` (B, H, W, 2); returns the warped frames and ``valid``."""
    grid = torch.stack([uv[..., 0] / cam.width * 2 - 1, uv[..., 1] / cam.height * 2 - 1], dim=-1)
    x = frames_BHW3.permute(0, 3, 1, 2).float()
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out.permute(0, 2, 3, 1)
    if frames_BHW3.dtype == torch.uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return out, valid


def token_validity(valid_BHW: torch.Tensor, downsample: int, margin: int = 0) -> torch.Tensor:
    """(B, H, W) pixel validity -> (B, h, w) token validity: a token is trusted only if all its pixels are valid,
    and (``margin`` > 0) so are its neighbours within ``margin`` tokens (the encoder's receptive field crosses
    token borders)."""
    x = (~valid_BHW).float()[:, None]
    bad = F.max_pool2d(x, downsample)
    if margin > 0:
        bad = F.max_pool2d(bad, 2 * margin + 1, stride=1, padding=margin)
    return bad[:, 0] == 0
