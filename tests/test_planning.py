"""Closed-loop planner evaluation: the controller tracks in the simulator, the metrics are right on hand-built
episodes, failing planners are reported and the run goes on, results repeat under a seed, the camera lane keeper
really reads the frames, and the command writes exactly the result keys the issue names."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from drivedreamer_env.envs.route import Route
from drivedreamer_env.planning.baselines import CRUISE_SPEED_MPS, path_trajectory
from drivedreamer_env.planning.controller import Tracker
from drivedreamer_env.planning.evaluate import evaluate_planners
from drivedreamer_env.planning.lane_keeper import CameraLaneKeeper
from drivedreamer_env.planning.metrics import (
    COMFORT_WEIGHT,
    PROGRESS_WEIGHT,
    EpisodeTrace,
    aggregate_score,
    episode_metrics,
)
from drivedreamer_env.planning.protocol import Action, PlannerError, PlannerInput, as_output
from drivedreamer_env.planning.registry import load_planner, parse_planners
from drivedreamer_env.planning.route_view import off_road, route_ahead_ego
from drivedreamer_env.planning.starts import make_starts
from drivedreamer_env.sim.road import generate_road
from drivedreamer_env.sim.simulator import Simulator

DT = 0.1


def _track(path_xy: np.ndarray, steps: int = 60) -> np.ndarray:
    """Drive the simulator along world polyline ``path_xy`` with the tracker; the ego's distance to it per step."""
    sim = Simulator()
    sim.reset(300_123)
    e = sim.state.ego
    route = Route.from_points(path_xy + np.array([e.x, e.y]))
    tracker, s, errors = Tracker(), 0.0, []
    for _ in range(steps):
        e = sim.state.ego
        pose = np.array([e.x, e.y, e.yaw])
        s, d, _ = route.project(pose[:2], s)
        errors.append(abs(d))
        traj = path_trajectory(route_ahead_ego(route, s, pose), CRUISE_SPEED_MPS)
        sim.step(tracker.action(traj, e.speed))
    return np.array(errors)


def test_tracker_follows_a_straight_and_a_curved_trajectory_in_the_simulator() -> None:
    """Within 5 cm on a straight and 25 cm on a 40 m-radius left arc (entered from rest on the arc's tangent)."""
    sim = Simulator()
    sim.reset(300_123)
    heading = sim.state.ego.yaw
    u = np.array([np.cos(heading), np.sin(heading)])
    n = np.array([-u[1], u[0]])
    straight = np.outer(np.arange(0.0, 200.0, 2.0), u)
    angle = np.arange(0.0, 1.6, 0.02)  # 40 m radius, turning left
    arc = 40.0 * (np.outer(np.sin(angle), u) + np.outer(1.0 - np.cos(angle), n))
    assert _track(straight).max() < 0.05
    err = _track(arc)
    assert err.max() < 0.25
    assert err[-20:].mean() < 0.15  # settled on the arc, not just near its start


def _trace(speeds: np.ndarray, lateral: np.ndarray | None = None, off: np.ndarray | None = None) -> EpisodeTrace:
    n = len(speeds)
    x = np.concatenate([[0.0], np.cumsum(speeds[:-1] * DT)])
    poses = np.column_stack([x, np.zeros(n), np.zeros(n)])
    return EpisodeTrace(DT, poses, speeds, x, np.zeros(n) if lateral is None else lateral,
                        np.zeros(n, bool) if off is None else off, np.zeros(n, bool), route_length_m=x[-1])  # fmt: skip


def test_metrics_measure_a_known_jerk() -> None:
    t = np.arange(11) * DT  # 1 s: the acceleration stays inside nuPlan's bounds, only the jerk differs
    gentle = episode_metrics(_trace(5.0 + 0.5 * 2.0 * t**2))  # constant jerk 2 m/s^3, up to 2 m/s^2
    assert gentle.lon_jerk_max_abs_mps3 == pytest.approx(2.0, abs=1e-6)
    assert gentle.lon_accel_max_mps2 == pytest.approx(2.0, abs=1e-6)
    assert gentle.comfortable and gentle.comfort == 1.0
    t = t[:7]
    harsh = episode_metrics(_trace(10.0 - 0.5 * 6.0 * t**2))  # jerk -6 m/s^3 (> nuPlan's 4.13), to -3.6 m/s^2
    assert harsh.lon_jerk_max_abs_mps3 == pytest.approx(6.0, abs=1e-6)
    assert harsh.lon_accel_min_mps2 == pytest.approx(-3.6, abs=1e-6)
    assert not harsh.comfortable and harsh.comfort == 0.0


def test_metrics_measure_a_known_lateral_deviation_and_progress() -> None:
    lateral = np.zeros(21)
    lateral[5:10] = 0.5
    lateral[12] = -1.5
    m = episode_metrics(_trace(np.full(21, 8.0), lateral=lateral))
    assert m.lateral_deviation_max_m == pytest.approx(1.5)
    assert m.lateral_deviation_mean_m == pytest.approx((5 * 0.5 + 1.5) / 21)
    assert m.progress_m == pytest.approx(16.0)
    assert m.route_completion == pytest.approx(1.0)
    assert m.score == pytest.approx(1.0)


def test_metrics_flag_a_known_off_road_step() -> None:
    road = generate_road(np.random.default_rng(0), 400.0, 1, 3.5, urban=False, max_curvature=0.01)
    edge = road.paved_half_width_m
    ds = [-1.75] * 6 + [-(edge + 0.5)] + [-1.75] * 3  # step 6 is beyond the paved edge
    flags = []
    for k, d in enumerate(ds):
        xy, heading = road.pose_at(100.0 + k * 0.8, d)
        # the rule is on the footprint centre: place the rear axle so that the centre is at (s, d)
        rear = xy - 1.3 * np.array([np.cos(heading), np.sin(heading)])
        flags.append(off_road(road, np.array([*rear, heading]), 100.0)[0])
    assert np.flatnonzero(flags).tolist() == [6]
    m = episode_metrics(_trace(np.full(10, 8.0), off=np.array(flags)))
    assert m.offroad and m.score == 0.0
    assert aggregate_score(0.5, 1.0, offroad=False, collision=None) == pytest.approx(
        (PROGRESS_WEIGHT * 0.5 + COMFORT_WEIGHT) / (PROGRESS_WEIGHT + COMFORT_WEIGHT)
    )
    assert aggregate_score(1.0, 1.0, offroad=False, collision=True) == 0.0


class Raises:
    def plan(self, obs):
        if obs.step == 3:
            raise RuntimeError("boom")
        return Action(0.0, -0.2)


def returns_nan(obs):
    return np.array([np.nan, 0.0])


def test_a_failing_planner_is_reported_and_the_evaluation_goes_on() -> None:
    result = evaluate_planners([Raises, returns_nan, "oracle"], starts=2, steps=6, worlds=("sim",), progress=False)
    sim = result.summaries["sim"]
    assert sim["Raises"]["failure_rate"] == 1.0 and sim["returns_nan"]["failure_rate"] == 1.0
    assert sim["Raises"]["score"] == 0.0
    assert sim["Raises"]["steps"] == 3.0  # drove until the failure
    assert sim["oracle"]["failure_rate"] == 0.0 and sim["oracle"]["steps"] == 6.0
    errors = {e.error for e in result.episodes["sim"]["returns_nan"]}
    assert errors == {"PlannerError: the planner returned a non-finite action"}
    with pytest.raises(PlannerError, match="shape"):
        as_output(np.zeros(5))


def test_results_are_reproducible_under_a_seed_and_the_json_has_exactly_the_issue_keys(tmp_path) -> None:
    from drivedreamer_env.cli import main

    out = tmp_path / "planners.json"
    args = ["eval", "planners", "--planners", "random,lane-keeper,stop", "--starts", "2", "--steps", "3",
            "--seed", "5", "--threads", "1"]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "again.json")]) == 0
    first, again = json.loads(out.read_text()), json.loads((tmp_path / "again.json").read_text())
    assert first == again
    assert set(first) == {"planners", "spearman_rho", "kendall_tau", "per_metric_spearman", "score_mae"}
    assert [p["name"] for p in first["planners"]] == ["random", "lane-keeper", "stop"]
    assert set(first["planners"][0]) == {"name", "sim", "dream"}
    assert first["planners"][0]["dream"]["episodes"] == 2
    for suffix in (".md", ".png"):
        assert out.with_suffix(suffix).stat().st_size > 0
    assert "episodes" in json.loads((tmp_path / "planners_episodes.json").read_text())


class BlindLaneKeeper(CameraLaneKeeper):
    """The lane keeper shown a blank grey frame instead of the camera's."""

    def plan(self, obs):
        return super().plan(dataclasses.replace(obs, frame=np.full_like(obs.frame, 128)))


def test_the_camera_lane_keeper_beats_straight_ahead_in_the_simulator() -> None:
    result = evaluate_planners(["lane-keeper", "straight", BlindLaneKeeper], starts=6, steps=80, worlds=("sim",),
                               progress=False)  # fmt: skip
    sim = result.summaries["sim"]
    assert sim["lane-keeper"]["score"] > sim["straight"]["score"] + 0.2
    assert sim["lane-keeper"]["offroad_rate"] < sim["straight"]["offroad_rate"]
    # without the frame it is no better than straight ahead: it is the frames it steers by
    assert sim["BlindLaneKeeper"]["score"] < sim["lane-keeper"]["score"] - 0.2


def test_planner_specs_load_and_bad_ones_are_clear_errors() -> None:
    spec = load_planner("drivedreamer_env.planning.baselines:Stop")
    assert spec.name == "Stop" and spec.factory().plan is not None
    assert [s.name for s in parse_planners("oracle,stop")] == ["oracle", "stop"]
    with pytest.raises(ValueError, match="unknown planner 'nope'"):
        load_planner("nope")
    with pytest.raises(ValueError, match="cannot load"):
        load_planner("drivedreamer_env.planning.baselines:Missing")
    with pytest.raises(ValueError, match="names must be unique"):
        parse_planners("stop,stop")


def test_every_row_of_the_vector_env_starts_from_its_own_start() -> None:
    from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveVectorEnv

    starts = make_starts(2)
    env = WorldDreamerDriveVectorEnv(num_envs=2, autoreset_mode="disabled")
    frames, infos = env.reset(seed=[0, 0], options={"start": starts})
    for i, start in enumerate(starts):
        assert np.array_equal(infos["pose"][i], [start.ego.x, start.ego.y, start.ego.yaw])
    assert not np.array_equal(frames[0], frames[1])
    with pytest.raises(ValueError, match="one per sub-env"):
        env.reset(options={"start": starts[:1]})


def test_train_planner_writes_a_checkpoint_the_bc_planner_loads(tmp_path) -> None:
    from drivedreamer_env.cli import main
    from drivedreamer_env.planning.bc import BCPlanner, load_bc_network
    from drivedreamer_env.planning.protocol import Trajectory

    out = tmp_path / "bc"
    args = ["train", "planner", "--episodes", "2", "--episode-steps", "8", "--max-steps", "3", "--threads", "1"]
    assert main([*args, "--out", str(out)]) == 0
    assert (out / "planner.safetensors").is_file()
    assert json.loads((out / "meta.json").read_text())["planner_training"]["steps"] == 3
    spec = load_planner(str(out))
    start = make_starts(1)[0]
    obs = PlannerInput(start.frames[-1], 8.0, 0.0, "straight", 0, DT, np.zeros(3), np.zeros((2, 2)))
    plan = spec.factory().plan(obs)
    assert isinstance(plan, Trajectory) and plan.poses.shape == (8, 3) and np.isfinite(plan.poses).all()
    assert isinstance(BCPlanner(load_bc_network(out)).plan(obs), Trajectory)


def test_an_sb3_model_file_plans_on_the_dict_observation(tmp_path) -> None:
    """A PPO model saved by SB3 (its own .zip) loads as a planner and turns a PlannerInput into an action."""
    pytest.importorskip("stable_baselines3")
    import gymnasium as gym
    from stable_baselines3 import PPO

    space = gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (64, 128, 3), np.uint8),
        "speed": gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
        "yaw_rate": gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
    })  # fmt: skip

    class Blank(gym.Env):
        observation_space = space
        action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

        def reset(self, *, seed=None, options=None):
            return space.sample(), {}

        def step(self, action):
            return space.sample(), 0.0, True, False, {}

    path = tmp_path / "policy.zip"
    PPO("MultiInputPolicy", Blank(), n_steps=8, batch_size=8, seed=0).save(path)
    planner = load_planner(str(path)).factory()
    obs = PlannerInput(np.zeros((64, 128, 3), np.uint8), 8.0, 0.0, "straight", 0, 0.1, np.zeros(3), np.zeros((2, 2)))
    action = planner.plan(obs)
    assert isinstance(action, Action) and np.isfinite([action.steering, action.speed]).all()
    assert -1.0 <= action.steering <= 1.0 and -1.0 <= action.speed <= 1.0
