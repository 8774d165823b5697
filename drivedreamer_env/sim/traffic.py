"""Traffic: vehicles that follow lanes in both directions with the Intelligent Driver Model (IDM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivedreamer_env.sim.road import Road

IDM_ACCEL = 1.5  # [m/s^2]
IDM_DECEL = 2.0  # comfortable braking [m/s^2]
IDM_MIN_GAP = 2.0  # [m]
IDM_HEADWAY = 1.5  # [s]
CAR_COLORS = np.array(
    [
        [200, 30, 30],
        [230, 230, 230],
        [30, 30, 35],
        [40, 70, 160],
        [150, 150, 155],
        [20, 110, 60],
        [210, 170, 40],
    ],
    dtype=np.float64,
)


@dataclass
class Traffic:
    """Vehicles in road coordinates; ``direction`` +1 drives towards increasing ``s`` (the ego's way)."""

    s: np.ndarray  # (N,) [m]
    lane: np.ndarray  # (N,) int, 0 = the lane next to the centre line
    direction: np.ndarray  # (N,) +1 / -1
    speed: np.ndarray  # (N,) [m/s]
    desired_speed: np.ndarray  # (N,) [m/s]
    size: np.ndarray  # (N, 3) length, width, height [m]
    color: np.ndarray  # (N, 3) RGB

    def __len__(self) -> int:
        return len(self.s)

    def lateral(self, road: Road) -> np.ndarray:
        """(N,) lane-centre ``d`` of each vehicle [m]."""
        return -self.direction * (self.lane + 0.5) * road.lane_width_m

    def poses(self, road: Road, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World centre (N, 2) and heading (N,) of each vehicle (or of vehicles ``idx``)."""
        idx = np.arange(len(self.s)) if idx is None else idx
        xy, heading = road.pose_at(self.s[idx], self.lateral(road)[idx])
        return xy, heading + np.where(self.direction[idx] < 0, np.pi, 0.0)

    def copy(self) -> Traffic:
        return Traffic(*(np.array(getattr(self, f)) for f in self.__dataclass_fields__))


def spawn_traffic(rng: np.random.Generator, road: Road, density_per_100m: float, ego_s: float) -> Traffic:
    """Place vehicles along the whole road in every lane, leaving the ego's surroundings free."""
    rows = []
    for direction in (1, -1):
        for lane in range(road.lanes_per_direction):
            s = rng.uniform(0.0, 100.0 / max(density_per_100m, 1e-3))
            while s < road.length_m:
                if abs(s - ego_s) > 25.0:
                    rows.append((s, lane, direction))
                s += IDM_MIN_GAP + 8.0 + rng.exponential(100.0 / max(density_per_100m, 1e-3))
    n = len(rows)
    arr = np.array(rows, dtype=np.float64).reshape(n, 3)
    length = rng.uniform(3.8, 5.2, n)
    size = np.stack([length, rng.uniform(1.7, 2.0, n), rng.uniform(1.4, 1.8, n)], axis=-1)
    big = rng.random(n) < 0.1  # vans and trucks
    size[big] = np.stack(
        [rng.uniform(6.0, 9.0, big.sum()), np.full(big.sum(), 2.4), rng.uniform(2.6, 3.4, big.sum())], -1
    )
    desired = rng.uniform(8.0, 16.0, n)
    return Traffic(
        s=arr[:, 0],
        lane=arr[:, 1].astype(np.int64),
        direction=arr[:, 2].astype(np.int64),
        speed=desired * rng.uniform(0.7, 1.0, n),
        desired_speed=desired,
        size=size,
        color=CAR_COLORS[rng.integers(0, len(CAR_COLORS), n)],
    )


def step_traffic(traffic: Traffic, road: Road, dt: float, ego_s: float, ego_d: float, ego_speed: float) -> None:
    """Advance every vehicle one IDM step in place; the ego is a leader for same-direction followers."""
    n = len(traffic)
    if n == 0:
        return
    # one sort orders every lane of both directions: by lane group, then by progress along the travel direction
    group = (traffic.direction > 0) * road.lanes_per_direction + traffic.lane
    pos = traffic.s * traffic.direction
    order = np.lexsort((pos, group))
    g, p = group[order], pos[order]
    v = traffic.speed[order]
    length = traffic.size[order, 0]
    same = np.append(g[1:] == g[:-1], False)  # the next vehicle in sort order is in the same lane
    lead_pos = np.where(same, np.append(p[1:], 0.0), np.inf)
    lead_speed = np.where(same, np.append(v[1:], 0.0), 0.0)
    lead_len = np.where(same, np.append(length[1:], 0.0), 0.0)
    if ego_d < 0:
        ego_lane = int(np.clip((-ego_d) // road.lane_width_m, 0, road.lanes_per_direction - 1))
        # followers behind the ego in its lane treat it as their leader
        closer = (g == road.lanes_per_direction + ego_lane) & (p < ego_s) & (ego_s < lead_pos)
        lead_pos = np.where(closer, ego_s, lead_pos)
        lead_speed = np.where(closer, ego_speed, lead_speed)
        lead_len = np.where(closer, 4.6, lead_len)
    gap = np.maximum(lead_pos - p - 0.5 * (lead_len + length), 0.1)
    s_star = IDM_MIN_GAP + v * IDM_HEADWAY + v * (v - lead_speed) / (2.0 * np.sqrt(IDM_ACCEL * IDM_DECEL))
    free = 1.0 - (v / traffic.desired_speed[order]) ** 4
    accel = np.empty(n)
    accel[order] = IDM_ACCEL * (free - (np.maximum(s_star, 0.0) / gap) ** 2)
    accel = np.clip(accel, -8.0, IDM_ACCEL)
    traffic.speed[:] = np.maximum(traffic.speed + accel * dt, 0.0)
    traffic.s[:] = traffic.s + traffic.direction * traffic.speed * dt
