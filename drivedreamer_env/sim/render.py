"""Vectorised NumPy/OpenCV renderer of the front camera.

Ground: every pixel below the horizon is inverse-perspective-mapped once (the camera is rigid on the ego, so
its ego-frame ground point, distance, headlight and fog factors are constants). Each frame draws the road's
cross-section classes into an ego-aligned top-down raster and samples it at those points with ``cv2.remap``,
adds world-anchored texture so that the ground visibly moves, then lights and fogs it.
Objects and vehicles: shaded 3D boxes, visible faces drawn far to near (painter's algorithm), with near-plane
clipping. Sky: a gradient plus distant hills placed by world azimuth (a yaw cue).
"""

from __future__ import annotations

import cv2
import numpy as np

from drivedreamer_env.sim import styles
from drivedreamer_env.sim.camera import PinholeCamera
from drivedreamer_env.sim.road import DS_M, Road
from drivedreamer_env.sim.traffic import Traffic
from drivedreamer_env.sim.world import World

SHIFT = 4  # sub-pixel bits for cv2 drawing
NEAR_M = 0.3  # near clipping plane [m]
NOISE_CELL_M = 0.7  # ground texture cell [m]
NOISE_SIZE = 256  # texture period in cells
# corners are indexed sx*4 + sy*2 + sz; faces are listed as convex corner loops with their outward normal
FACES = np.array([[4, 5, 7, 6], [0, 1, 3, 2], [2, 3, 7, 6], [0, 1, 5, 4], [1, 3, 7, 5]])
FACE_NORMALS_LOCAL = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float64)
_TAIL_LIGHT = np.array([255.0, 40.0, 30.0])
_HEAD_LIGHT = np.array([255.0, 245.0, 200.0])
_RAIN_COLOR = np.array([200.0, 200.0, 210.0], np.float32)


def _light_weights() -> np.ndarray:
    """(8, 4) bilinear weights placing two light quads on a face loop (bottom0, top0, top1, bottom1)."""
    rows = []
    for a in (0.12, 0.72):  # along the face width
        for u, v in ((a, 0.45), (a, 0.65), (a + 0.16, 0.65), (a + 0.16, 0.45)):  # v: up the face height
            rows.append([(1 - u) * (1 - v), (1 - u) * v, u * v, u * (1 - v)])
    return np.array(rows)


_LIGHT_WEIGHTS = _light_weights()
_CORNER_SIGNS = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=np.float64)


def _hash_noise(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic value noise in [-1, 1] for integer lattice cells."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h >> 8) & 0xFFFF).astype(np.float32) / 32767.5 - 1.0


class Renderer:
    """Renders one episode's world from the ego's pose."""

    def __init__(self, camera: PinholeCamera, world: World, max_range_m: float = 100.0) -> None:
        self.cam = camera
        self.world = world
        self.look = styles.resolve_look(world.style)
        self.max_range = max_range_m
        h, w = camera.height, camera.width
        ground_xy, dist, is_ground = camera.ground_points()
        # The camera has no roll, so the ground is every row below the horizon: one contiguous block of pixels.
        # Ground beyond max_range_m falls outside the road raster and is drawn as fogged terrain.
        self.ground_row = int(np.argmax(is_ground.any(axis=1))) if is_ground.any() else h
        self.ground_idx = np.arange(self.ground_row * w, h * w)  # flat pixel indices of the ground
        g = ground_xy.reshape(-1, 2)[self.ground_idx]
        self.ground_x = g[:, 0].astype(np.float32)  # (P,) ego frame [m]
        self.ground_y = g[:, 1].astype(np.float32)
        d = dist.reshape(-1)[self.ground_idx]
        # top-down raster in the ego frame: rows along x (forward), columns along y (left)
        self.cell = float(np.clip(0.2 * 128 / w, 0.04, 0.2))
        self.half_y = max_range_m * 0.4  # beyond +-40 m the ground is terrain anyway
        self.raster_shape = (int(max_range_m / self.cell) + 1, int(2 * self.half_y / self.cell) + 1)
        self.map_col = ((g[:, 1] + self.half_y) / self.cell).astype(np.float32)[:, None]
        self.map_row = (g[:, 0] / self.cell).astype(np.float32)[:, None]
        self.raster = np.zeros(self.raster_shape, np.uint8)
        # per-pixel constants: fog keep-factor, lighting, texture attenuation
        self.ground_keep = np.exp(-d / self.look.fog_length_m)[:, None].astype(np.float32)
        # light and fog folded together: colour = palette * texture * ground_light + ground_fog
        self.ground_light = (self._light(g[:, 0], g[:, 1])[:, None] * self.ground_keep).astype(np.float32)
        self.ground_fog = (self.look.fog_color * (1.0 - self.ground_keep)).astype(np.float32)
        self.palette = (self.look.ground * self.look.light_gain).astype(np.float32)
        if self.look.headlights and self.look.ambient < 1:
            self.palette[list(styles.LINE_CLASSES)] *= 1.6  # retro-reflective paint shines in the headlights
        self.texture_fade = np.clip(1.0 - d / 35.0, 0.0, 1.0).astype(np.float32)
        self.sky = self._sky_image().astype(np.float32)
        # hills: elevation angle [rad] as a periodic function of world azimuth
        rng = np.random.default_rng(world.seed + 7)
        az = np.linspace(0.0, 2 * np.pi, 2048, endpoint=False)
        prof = sum(rng.uniform(0.2, 1.0) * np.sin(k * az + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5, 9, 17))
        self.hill_profile = np.deg2rad(1.2 + 0.9 * (prof - prof.min()) / np.ptp(prof) * 3.0)
        self.column_azimuth = np.arctan((camera.cx - (np.arange(w) + 0.5)) / camera.fx)  # left positive
        rows = np.arange(h) + 0.5
        self.row_elevation = np.arctan((camera.cy - rows) / camera.fy) - camera.pitch_rad  # (H,)
        hill_keep = 0.0 if world.style.weather == "fog" else 0.45
        self.hill_color = (self.look.hills * hill_keep + self.look.sky_horizon * (1 - hill_keep)).astype(np.float32)
        sun_az = rng.uniform(0, 2 * np.pi)
        self.sun = np.array([np.cos(sun_az) * 0.6, np.sin(sun_az) * 0.6, 0.8])
        self.line_px = max(1, round(0.15 / self.cell))
        # world-anchored texture: periodic lattice noise (period NOISE_SIZE * NOISE_CELL_M = 180 m)
        ii, jj = np.meshgrid(np.arange(NOISE_SIZE), np.arange(NOISE_SIZE), indexing="ij")
        self.noise_fine = 0.6 * _hash_noise(jj, ii, world.seed)
        coarse = _hash_noise(jj // 4, ii // 4, world.seed + 1)  # 2.8 m cells
        self.noise_coarse = 0.5 * coarse
        self.texture_amp = styles.TEXTURE.astype(np.float32)
        self._prepare_static_boxes()
        self.rain_bank = self._rain_bank() if self.look.rain > 0 else None

    # ---------------------------------------------------------------- constants
    def _light(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        light = np.full(np.shape(x), self.look.ambient)
        if self.look.headlights:
            light = light + styles.headlight_gain(x, y) * (1.0 if self.look.ambient < 1 else 0.25)
        return light

    def _sky_image(self) -> np.ndarray:
        h, w = self.cam.height, self.cam.width
        elev = np.arctan((self.cam.cy - (np.arange(h) + 0.5)) / self.cam.fy) - self.cam.pitch_rad
        t = np.clip(elev / np.deg2rad(30.0), 0.0, 1.0)[:, None]
        col = self.look.sky_horizon * (1 - t) + self.look.sky_zenith * t  # (H, 3)
        return np.repeat(col[:, None, :], w, axis=1)

    # ---------------------------------------------------------------- per frame
    def render(self, ego_xy: np.ndarray, ego_yaw: float, ego_s: float, traffic: Traffic, step: int = 0) -> np.ndarray:
        """(H, W, 3) uint8 RGB image seen from the ego pose (rear-axle ``ego_xy`` [m], ``ego_yaw`` [rad])."""
        img = self.sky.copy()
        self._draw_hills(img, ego_yaw)
        flat = img.reshape(-1, 3)
        flat[self.ground_row * self.cam.width :] = self._ground_colors(np.asarray(ego_xy, np.float64), ego_yaw, ego_s)
        self._draw_boxes(img, np.asarray(ego_xy, np.float64), ego_yaw, ego_s, traffic)
        if self.look.rain > 0:
            self._draw_rain(img, step)
        if self.look.desaturate > 0:
            grey = img.mean(axis=2, keepdims=True)
            img += (grey - img) * self.look.desaturate
        return np.clip(img, 0, 255).astype(np.uint8)

    def _draw_hills(self, img: np.ndarray, ego_yaw: float) -> None:
        az = (ego_yaw + self.column_azimuth) % (2 * np.pi)
        top = self.hill_profile[(az / (2 * np.pi) * len(self.hill_profile)).astype(np.int64)]  # (W,)
        mask = (self.row_elevation[:, None] < top[None, :]) & (self.row_elevation[:, None] > -0.01)
        img[mask] = self.hill_color

    def _to_ego(self, pts: np.ndarray, ego_xy: np.ndarray, ego_yaw: float) -> np.ndarray:
        c, s = np.cos(ego_yaw), np.sin(ego_yaw)
        rel = pts - ego_xy
        return np.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], axis=-1)

    def _raster_pts(self, pts_ego: np.ndarray) -> np.ndarray:
        """Ego-frame (..., 2) [m] -> fixed-point raster (col, row) for cv2 drawing."""
        col = (pts_ego[..., 1] + self.half_y) / self.cell - 0.5
        row = pts_ego[..., 0] / self.cell - 0.5
        return np.round(np.stack([col, row], axis=-1) * (1 << SHIFT)).astype(np.int32)

    def _draw_road_raster(self, ego_xy: np.ndarray, ego_yaw: float, ego_s: float) -> None:
        road: Road = self.world.road
        r = self.raster
        r.fill(styles.TERRAIN)
        s = np.arange(max(ego_s - 8.0, 0.0), min(ego_s + self.max_range + 20.0, road.length_m), 1.0)
        if len(s) < 2:
            return
        i = (s / DS_M).astype(np.int64)
        center = self._to_ego(road.xy[i], ego_xy, ego_yaw)  # (S, 2)
        rel_heading = road.heading[i] - ego_yaw
        normal = np.stack([-np.sin(rel_heading), np.cos(rel_heading)], axis=-1)

        paved, edge_d, w_lane = road.paved_half_width_m, road.edge_m, road.lane_width_m
        offsets = [paved + road.sidewalk_m, paved, edge_d, edge_d - 0.2, 0.15, 0.0]
        offsets += [k * w_lane for k in range(1, road.lanes_per_direction)]
        offsets = np.array(offsets + [-o for o in offsets])
        all_pts = self._raster_pts(center[None] + normal[None] * offsets[:, None, None])  # (K, S, 2)
        lookup = {float(o): k for k, o in enumerate(offsets)}

        def edge(d: float) -> np.ndarray:
            return all_pts[lookup[float(d)]]

        def band(d_lo: float, d_hi: float, cls: int) -> None:
            poly = np.concatenate([edge(d_hi), edge(d_lo)[::-1]])
            cv2.fillPoly(r, [poly], cls, cv2.LINE_8, SHIFT)

        if road.sidewalk_m > 0:
            band(-paved - road.sidewalk_m, paved + road.sidewalk_m, styles.SIDEWALK)
        band(-paved, paved, styles.SHOULDER)
        band(-edge_d, edge_d, styles.ASPHALT)
        lw = self.line_px
        if road.sidewalk_m > 0:
            cv2.polylines(r, [edge(-paved), edge(paved)], False, styles.CURB, max(1, 2 * lw), cv2.LINE_8, SHIFT)
        cv2.polylines(r, [edge(-edge_d + 0.2), edge(edge_d - 0.2)], False, styles.WHITE_LINE, lw, cv2.LINE_8, SHIFT)
        dash = (s % 9.0) < 3.0  # 3 m dashes every 9 m, anchored to the road so they move past
        starts = np.flatnonzero(dash & ~np.roll(dash, 1))
        stops = np.flatnonzero(dash & ~np.roll(dash, -1))

        def dashed(d: float, cls: int) -> None:
            pts = edge(d)
            segs = [pts[a : b + 1] for a, b in zip(starts, stops, strict=True) if b > a]
            if segs:
                cv2.polylines(r, segs, False, cls, lw, cv2.LINE_8, SHIFT)

        if road.lanes_per_direction == 1:
            dashed(0.0, styles.YELLOW_LINE)
        else:
            cv2.polylines(r, [edge(-0.15), edge(0.15)], False, styles.YELLOW_LINE, lw, cv2.LINE_8, SHIFT)
        for k in range(1, road.lanes_per_direction):
            for side in (-1.0, 1.0):
                dashed(side * k * w_lane, styles.WHITE_LINE)

    def _ground_colors(self, ego_xy: np.ndarray, ego_yaw: float, ego_s: float) -> np.ndarray:
        self._draw_road_raster(ego_xy, ego_yaw, ego_s)
        cls = cv2.remap(self.raster, self.map_col, self.map_row, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=styles.TERRAIN)[:, 0]  # fmt: skip
        base = self.palette[cls]  # (P, 3) lit colours
        # world-anchored texture: two octaves of lattice noise on world coordinates
        c, s = np.cos(ego_yaw), np.sin(ego_yaw)
        k = 1.0 / NOISE_CELL_M
        # world coordinates in texture cells, relative to the texture period so float32 keeps its precision
        ox = np.float32((ego_xy[0] * k) % NOISE_SIZE)
        oy = np.float32((ego_xy[1] * k) % NOISE_SIZE)
        ck, sk = np.float32(c * k), np.float32(s * k)
        tx = (ox + ck * self.ground_x - sk * self.ground_y)[:, None]
        ty = (oy + sk * self.ground_x + ck * self.ground_y)[:, None]
        fine = cv2.remap(self.noise_fine, tx, ty, cv2.INTER_NEAREST, borderMode=cv2.BORDER_WRAP)[:, 0]
        coarse = cv2.remap(self.noise_coarse, tx, ty, cv2.INTER_NEAREST, borderMode=cv2.BORDER_WRAP)[:, 0]
        tex = 1.0 + self.texture_amp[cls] * (fine * self.texture_fade + coarse)
        return base * (tex[:, None] * self.ground_light) + self.ground_fog

    def _prepare_static_boxes(self) -> None:
        """World-frame corners and sun-shaded colours of the static boxes, sorted by road coordinate."""
        b = self.world.boxes
        order = np.argsort(b.s)
        self.static_s = b.s[order]
        self.static_corners = _box_corners(b.xy[order], b.z0[order], b.size[order], b.yaw[order])  # (N, 8, 3)
        self.static_lit, self.static_head = self._face_colors(b.color[order], b.yaw[order])

    def _face_colors(self, color: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 5, 3) colour of each face under ambient + sun light, and its gain per unit of headlight."""
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        nl = FACE_NORMALS_LOCAL[None]
        nx, ny = c * nl[..., 0] - s * nl[..., 1], s * nl[..., 0] + c * nl[..., 1]
        sun = np.clip(nx * self.sun[0] + ny * self.sun[1] + nl[..., 2] * self.sun[2], 0, 1)  # (N, 5)
        base = color[:, None, :] * self.look.light_gain
        return base * (self.look.ambient * (0.55 + 0.45 * sun))[..., None], base * (0.4 + 0.4 * sun)[..., None]

    def _world_to_camera(self, pts: np.ndarray, ego_xy: np.ndarray, ego_yaw: float) -> np.ndarray:
        """(..., 3) world points -> camera frame, as one affine map."""
        c, s = np.cos(ego_yaw), np.sin(ego_yaw)
        ego_from_world = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        rot = self.cam.rotation_cam_from_ego @ ego_from_world
        origin = np.array([ego_xy[0], ego_xy[1], 0.0]) + ego_from_world.T @ self.cam.position_ego
        return (pts - origin) @ rot.T

    def _boxes_near(self, ego_s: float, traffic: Traffic) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The static boxes and vehicles within reach of road coordinate ``ego_s`` [m].

        Returns (world corners (N, 8, 3), lit face colours (N, 5, 3), headlight gains (N, 5, 3), is_vehicle (N,)).
        """
        lo, hi = np.searchsorted(self.static_s, [ego_s - 30.0, ego_s + self.max_range + 30.0])
        vis = np.flatnonzero((traffic.s > ego_s - 30.0) & (traffic.s < ego_s + self.max_range + 30.0))
        corners, lit, head_gain = self.static_corners[lo:hi], self.static_lit[lo:hi], self.static_head[lo:hi]
        is_vehicle = np.zeros(hi - lo + len(vis), bool)
        if len(vis):
            vxy, vyaw = traffic.poses(self.world.road, vis)
            size = traffic.size[vis] - [0.0, 0.0, 0.25]
            vlit, vhead = self._face_colors(traffic.color[vis], vyaw)
            corners = np.concatenate([corners, _box_corners(vxy, np.full(len(vis), 0.25), size, vyaw)])
            lit, head_gain = np.concatenate([lit, vlit]), np.concatenate([head_gain, vhead])
            is_vehicle[hi - lo :] = True
        return corners, lit, head_gain, is_vehicle

    def _draw_boxes(self, img: np.ndarray, ego_xy: np.ndarray, ego_yaw: float, ego_s: float, traffic: Traffic) -> None:
        """Cull the boxes near the ego, sort them far to near (painter's algorithm), light and fog them, draw."""
        corners, lit, head_gain, is_vehicle = self._boxes_near(ego_s, traffic)
        if len(corners) == 0:
            return
        cam = self._world_to_camera(corners, ego_xy, ego_yaw)  # (N, 8, 3)
        center_cam = cam.mean(axis=1)
        depth = np.linalg.norm(center_cam, axis=1)
        in_front = cam[..., 2].max(axis=1) > NEAR_M
        lateral_ok = np.abs(center_cam[:, 0]) < center_cam[:, 2] * 3 + 15.0
        order = np.flatnonzero(in_front & lateral_ok & (depth < self.max_range + 30))
        order = order[np.argsort(-depth[order])]  # painter's algorithm: far to near
        if len(order) == 0:
            return
        keep = np.exp(-depth[order] / self.look.fog_length_m)[:, None, None]
        colors = lit[order]
        if self.look.headlights:
            # headlight gain at the box centre, in the ego frame (camera z forward, -x left)
            ego_x = center_cam[order, 2] + self.cam.x_m
            colors = colors + head_gain[order] * styles.headlight_gain(ego_x, -center_cam[order, 0])[:, None, None]
        colors = colors * keep + self.look.fog_color * (1 - keep)  # (M, 5, 3)
        self._draw_faces(img, cam[order], center_cam[order], colors, is_vehicle[order], keep[:, 0, 0])

    def _draw_faces(
        self,
        img: np.ndarray,
        boxes_cam: np.ndarray,
        center_cam: np.ndarray,
        colors: np.ndarray,
        is_vehicle: np.ndarray,
        keep: np.ndarray,
    ) -> None:
        """Draw the visible faces of boxes sorted far to near, and each vehicle's lights after its last face.

        Args:
            boxes_cam: (M, 8, 3) camera-frame corners; center_cam: (M, 3) their centres.
            colors: (M, 5, 3) face colours; is_vehicle: (M,); keep: (M,) fog keep-factor.
        """
        # all faces at once: (M, 5, 4, 3) camera-frame loops; visible when the camera is on the outer side
        faces = boxes_cam[:, FACES]
        face_center = faces.mean(axis=2)
        visible = np.einsum("mfd,mfd->mf", face_center, face_center - center_cam[:, None]) < 0
        needs_clip = faces[..., 2].min(axis=-1) < NEAR_M
        z = np.maximum(faces[..., 2], NEAR_M)
        u = self.cam.fx * faces[..., 0] / z + self.cam.cx
        v = self.cam.fy * faces[..., 1] / z + self.cam.cy
        onscreen = (u.max(-1) >= 0) & (u.min(-1) <= self.cam.width) & (v.max(-1) >= 0)
        pts = np.round((np.stack([u, v], axis=-1) - 0.5) * (1 << SHIFT))
        # faces smaller than about a quarter pixel draw nothing visible: skip them
        big = (np.ptp(u, axis=-1) * np.ptp(v, axis=-1) > 0.25) | needs_clip
        ms, fs = np.nonzero(visible & (onscreen | needs_clip) & big)
        face_pts = np.ascontiguousarray(pts[ms, fs], dtype=np.int32)  # (K, 4, 2), far to near
        face_colors = colors[ms, fs].tolist()
        clip_flags = needs_clip[ms, fs].tolist()
        ms = ms.tolist()
        lights = self._vehicle_lights(faces, visible, is_vehicle, keep) if self.look.headlights else {}
        # a vehicle's lights are drawn right after the last of its faces
        light_after = {}
        for m in lights:
            if m in ms:
                light_after[len(ms) - 1 - ms[::-1].index(m)] = m
        for i in range(len(ms)):
            if clip_flags[i]:
                self._fill(img, faces[ms[i], fs[i]], colors[ms[i], fs[i]])
            else:
                cv2.fillConvexPoly(img, face_pts[i], face_colors[i], cv2.LINE_8, SHIFT)
            if i in light_after:
                for quad, color in lights[light_after[i]]:
                    cv2.fillConvexPoly(img, quad, color, cv2.LINE_8, SHIFT)

    def _vehicle_lights(
        self, faces: np.ndarray, visible: np.ndarray, is_vehicle: np.ndarray, keep: np.ndarray
    ) -> dict[int, list[tuple[np.ndarray, list[float]]]]:
        """Tail lights (rear face) and headlights (front face) of each vehicle whose face is seen.

        Returns {box index: [(fixed-point quad (4, 2), colour), ...]}.
        """
        out: dict[int, list] = {}
        for face, color in ((1, _TAIL_LIGHT), (0, _HEAD_LIGHT)):
            idx = np.flatnonzero(is_vehicle & visible[:, face])
            if len(idx) == 0:
                continue
            quads = np.einsum("pk,mkd->mpd", _LIGHT_WEIGHTS, faces[idx, face]).reshape(len(idx), 2, 4, 3)
            z = quads[..., 2]
            uv = np.stack(
                [self.cam.fx * quads[..., 0] / z + self.cam.cx, self.cam.fy * quads[..., 1] / z + self.cam.cy], -1
            )
            pts = np.round((uv - 0.5) * (1 << SHIFT)).astype(np.int32)
            for j, m in enumerate(idx.tolist()):
                if z[j].min() < NEAR_M:
                    continue
                c = (color * (0.35 + 0.65 * keep[m])).tolist()
                out.setdefault(m, []).extend((np.ascontiguousarray(pts[j, k]), c) for k in range(2))
        return out

    def _fill(self, img: np.ndarray, poly_cam: np.ndarray, color: np.ndarray) -> None:
        if poly_cam[:, 2].min() < NEAR_M:
            poly_cam = _clip_near(poly_cam)
            if len(poly_cam) < 3:
                return
        uv = self.cam.project(poly_cam)
        if uv[:, 0].max() < 0 or uv[:, 0].min() > self.cam.width or uv[:, 1].max() < 0:
            return
        pts = np.round((uv - 0.5) * (1 << SHIFT)).astype(np.int32)
        cv2.fillConvexPoly(img, pts, color.tolist(), cv2.LINE_8, SHIFT)

    def _rain_bank(self, count: int = 24) -> np.ndarray:
        """(count, H, W, 1) float32 alpha masks of rain streaks, drawn once per episode."""
        h, w = self.cam.height, self.cam.width
        rng = np.random.default_rng(self.world.seed + 11)
        bank = np.zeros((count, h, w), np.float32)
        n = int(self.look.rain * h * w / 40)
        for mask in bank:
            x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
            length = rng.uniform(0.05, 0.12, n) * h
            pts = np.stack([np.stack([x, y], -1), np.stack([x - 0.25 * length, y + length], -1)], axis=1)
            cv2.polylines(mask, list(np.round(pts * (1 << SHIFT)).astype(np.int32)), False, 0.35, 1, cv2.LINE_AA, SHIFT)
        return bank[..., None]

    def _draw_rain(self, img: np.ndarray, step: int) -> None:
        # a pseudo-random (not cyclic) choice of mask per step, reproducible from the episode seed
        alpha = self.rain_bank[(step * 7919 + (step >> 3) * 104729 + self.world.seed) % len(self.rain_bank)]
        img += (_RAIN_COLOR - img) * alpha


def _box_corners(xy: np.ndarray, z0: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 8, 3) world corners of boxes standing at height ``z0``; corner i = (sx, sy, sz) bits of i."""
    local = (_CORNER_SIGNS - [0.5, 0.5, 0.0]) * size[:, None, :]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    wx = xy[:, None, 0] + c * local[..., 0] - s * local[..., 1]
    wy = xy[:, None, 1] + s * local[..., 0] + c * local[..., 1]
    return np.stack([wx, wy, z0[:, None] + local[..., 2]], axis=-1)


def _clip_near(poly: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon against the plane z = NEAR_M."""
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        a_in, b_in = a[2] >= NEAR_M, b[2] >= NEAR_M
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + (b - a) * t)
    return np.array(out).reshape(-1, 3)
