"""A camera-only lane keeper: classical lane-marking detection on the frame, then steering along the lane centre.

Per frame:

1. markings: a horizontal white top-hat of the frame's red-green brightness (white and yellow paint are brighter
   than the asphalt beside them and a few pixels wide) above an adaptive threshold;
2. inverse perspective mapping: each marking pixel's ground point in the ego frame, from the camera model
   (a planner knows its own camera), kept between 3 and 30 m ahead;
3. the lane centre ``y = a + b x + c x^2`` [m]: in each distance band the markings are clustered laterally and
   the nearest one on either side of the expected centre taken as the lane's boundaries; their midpoint (or one
   boundary and half a 3.5 m lane) measures the centre. A least-squares fit of the bands, pulled towards the
   previous estimate, then smoothed over time. The previous estimate is carried into the new ego frame with the
   ego's own speed and yaw rate (odometry);
4. a trajectory along that centre at the cruise speed, which the tracking controller follows.

It never reads the route: in the dream it drives on what the dream shows it.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from drivedreamer_env.planning.baselines import CRUISE_SPEED_MPS, path_trajectory
from drivedreamer_env.planning.protocol import PlannerInput, Trajectory
from drivedreamer_env.sim.camera import PinholeCamera
from drivedreamer_env.sim.config import CameraConfig

LANE_WIDTH_M = 3.5
NEAR_M, FAR_M = 3.0, 30.0  # the ground band the markings are read in [m]
MAX_LATERAL_M = 9.0
BANDS_M = (3.0, 7.0, 11.0, 16.0, 22.0, 30.0)  # distance bands, one centre measurement each [m]
CLUSTER_GAP_M = 0.6  # marking points further apart laterally belong to different markings
MIN_OFFSET_M, MAX_OFFSET_M = 0.6, 2.6  # a lane boundary's distance from the expected centre [m]
HALF_LANE_M = 1.65  # lane centre to its markings: 1.75 to a divider, 1.55 to an edge line, 1.6 to a centre line
WIDTH_TOLERANCE_M = 0.9
MIN_WEIGHT = 2.0  # measurements needed to update (a band seeing both boundaries counts 2)
PRIOR_WEIGHT = 1.0  # weight of the carried-over estimate against the new measurements
SMOOTHING = 0.5  # share of a lateral shift applied at once when too few bands were measured
TOPHAT_WIDTH_PX = 7
PATH_START_M = 5.0  # the planned path joins the centre line this far ahead [m]


class CameraLaneKeeper:
    """Keeps the lane it starts in, from the frame alone (see the module docstring).

    Args:
        camera: the camera the frames come from (default: the simulator's, which is the shipped model's).
        speed_mps: cruise speed [m/s].
    """

    def __init__(self, camera: CameraConfig | None = None, speed_mps: float = CRUISE_SPEED_MPS) -> None:
        self.camera_config = camera or CameraConfig()
        self.speed_mps = float(speed_mps)
        cam = PinholeCamera.from_config(self.camera_config)
        ground, _, is_ground = cam.ground_points()
        x, y = ground[..., 0], ground[..., 1]
        with np.errstate(invalid="ignore"):
            self.roi = is_ground & (x > NEAR_M) & (x < FAR_M) & (np.abs(y) < MAX_LATERAL_M)
        self.ground_x, self.ground_y = np.nan_to_num(x), np.nan_to_num(y)
        self.kernel = np.ones((1, TOPHAT_WIDTH_PX), np.uint8)
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.coef = np.zeros(3)  # lane centre y = a + b x + c x^2 in the ego frame [m]

    # ------------------------------------------------------------------ perception
    def markings(self, frame: np.ndarray) -> np.ndarray:
        """(N, 2) ego-frame ground points [m] of the marking pixels of ``frame`` (H, W, 3) uint8."""
        h, w = self.roi.shape
        if frame.shape != (h, w, 3):
            raise ValueError(f"the lane keeper's camera is {h}x{w}, got a frame of shape {frame.shape}")
        bright = ((frame[..., 0].astype(np.uint16) + frame[..., 1]) // 2).astype(np.uint8)
        tophat = cv2.morphologyEx(bright, cv2.MORPH_TOPHAT, self.kernel).astype(np.float32)
        values = tophat[self.roi]
        threshold = max(10.0, float(values.mean() + 2.5 * values.std()))
        hit = self.roi & (tophat > threshold)
        return np.stack([self.ground_x[hit], self.ground_y[hit]], axis=-1)

    def _carry(self, speed_mps: float, yaw_rate_rps: float, dt_s: float) -> np.ndarray:
        """The previous centre estimate expressed in the ego frame after one step of odometry."""
        xs = np.linspace(NEAR_M, FAR_M, 16)  # only where the estimate was measured, not its extrapolation
        ys = np.polyval(self.coef[::-1], xs)
        dyaw = yaw_rate_rps * dt_s
        dx, c, s = speed_mps * dt_s, np.cos(dyaw), np.sin(dyaw)
        xn, yn = c * (xs - dx) + s * ys, -s * (xs - dx) + c * ys
        return np.polyfit(xn, yn, 2)[::-1]

    def band_centres(self, pts: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lane-centre measurements (x [m], y [m], weight) from the marking points, one per distance band."""
        out = []
        for lo, hi in itertools.pairwise(BANDS_M):
            band = pts[(pts[:, 0] >= lo) & (pts[:, 0] < hi)]
            if len(band) < 2:
                continue
            band = band[np.argsort(band[:, 1])]
            breaks = np.flatnonzero(np.diff(band[:, 1]) > CLUSTER_GAP_M) + 1
            clusters = [c for c in np.split(band, breaks) if len(c) >= 2]  # (x, y) points of one marking each
            x_mid = 0.5 * (lo + hi)
            expected = float(np.polyval(prior[::-1], x_mid))
            ys = np.array([np.median(c[:, 1]) for c in clusters]) - expected
            xs = np.array([np.mean(c[:, 0]) for c in clusters])
            left = np.flatnonzero(ys > MIN_OFFSET_M)
            right = np.flatnonzero(ys < -MIN_OFFSET_M)
            li = left[np.argmin(ys[left])] if len(left) else None
            ri = right[np.argmax(ys[right])] if len(right) else None
            if li is not None and ri is not None and abs(ys[li] - ys[ri] - LANE_WIDTH_M) < WIDTH_TOLERANCE_M:
                out.append((0.5 * (xs[li] + xs[ri]), expected + 0.5 * (ys[li] + ys[ri]), 2.0))
            elif li is not None and ys[li] < MAX_OFFSET_M:
                out.append((xs[li], expected + ys[li] - HALF_LANE_M, 1.0))
            elif ri is not None and -ys[ri] < MAX_OFFSET_M:
                out.append((xs[ri], expected + ys[ri] + HALF_LANE_M, 1.0))
        return tuple(np.array([o[i] for o in out]) for i in range(3)) if out else (np.zeros(0),) * 3

    def update(self, obs: PlannerInput) -> np.ndarray:
        """Read ``obs.frame`` and return the new lane-centre coefficients ``(a, b, c)``."""
        prior = self._carry(obs.speed_mps, obs.yaw_rate_rps, obs.dt_s) if obs.step > 0 else self.coef
        x, centre, weight = self.band_centres(self.markings(obs.frame), prior)
        if weight.sum() < MIN_WEIGHT:
            self.coef = prior
            return self.coef
        if len(x) < 3:  # too few bands for a shape: shift the carried-over curve onto them
            shift = float(np.average(centre - np.polyval(prior[::-1], x), weights=weight))
            self.coef = prior + np.array([SMOOTHING * shift, 0.0, 0.0])
            return self.coef
        # least squares with pseudo-points on the prior at the same distances (a ridge towards the last estimate)
        xa = np.concatenate([x, x])
        ya = np.concatenate([centre, np.polyval(prior[::-1], x)])
        wa = np.concatenate([weight, PRIOR_WEIGHT * weight])
        self.coef = np.polyfit(xa, ya, 2, w=np.sqrt(wa))[::-1]
        return self.coef

    def plan(self, obs: PlannerInput) -> Trajectory:
        coef = self.update(obs)
        # from the ego straight to the measured part of the centre line: its extrapolation to x = 0 is unreliable
        xs = np.linspace(PATH_START_M, 40.0, 36)
        path = np.vstack([np.zeros((1, 2)), np.stack([xs, np.polyval(coef[::-1], xs)], axis=-1)])
        return path_trajectory(path, self.speed_mps)
