"""ProcDrive-v0 contracts: Gymnasium API, determinism, action validation, signs of steering."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import drivedreamer_env  # noqa: F401  (registers the environments)
from drivedreamer_env.registration import ENV_IDS
from drivedreamer_env.sim import Simulator
from drivedreamer_env.sim.actions import validate_actions
from drivedreamer_env.sim.config import SimConfig
from drivedreamer_env.sim.ego import EGO_LENGTH_M, REAR_OVERHANG_M
from drivedreamer_env.sim.render import Renderer
from drivedreamer_env.sim.world import POLE, Boxes


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_on_every_registered_id(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


def _rollout(seed: int, actions: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    env = gym.make("ProcDrive-v0")
    obs, _ = env.reset(seed=seed)
    frames, rewards = [obs], []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        frames.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return frames, rewards


def test_same_seed_gives_identical_frames_and_other_seed_differs():
    actions = np.random.default_rng(1).uniform(-0.3, 0.3, (25, 2)).astype(np.float32)
    f1, r1 = _rollout(11, actions)
    f2, r2 = _rollout(11, actions)
    f3, _ = _rollout(12, actions)
    assert len(f1) == len(f2) > 5
    assert all(np.array_equal(a, b) for a, b in zip(f1, f2, strict=True))
    assert r1 == r2
    assert not np.array_equal(f1[0], f3[0])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([np.nan, 0.0], "finite"),
        ([0.0, 0.0, 0.0], "shape (2,)"),
        ([[0.0, 0.0]], "shape (2,)"),
        ("left", "could not"),
    ],
)
def test_bad_actions_are_rejected_with_a_clear_error(action, message):
    env = gym.make("ProcDrive-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        env.step(action)


def test_one_action_validation_serves_single_and_batched_envs():
    np.testing.assert_array_equal(validate_actions([2.0, -0.5]), [1.0, -0.5])  # out of range is clipped
    np.testing.assert_array_equal(validate_actions([0.1, 0.2], batch=1), [[0.1, 0.2]])
    assert validate_actions(np.zeros((3, 2)), batch=3).shape == (3, 2)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) = \[steering, speed\].*got shape \(2, 2\)"):
        validate_actions(np.zeros((2, 2)), batch=3)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        validate_actions([[0.0, 0.0]])  # a single env takes exactly one action
    with pytest.raises(ValueError, match="finite"):
        validate_actions([[0.0, np.inf]], batch=1)


def test_steering_left_turns_left_and_world_moves_right(day_cfg):
    sim = Simulator(day_cfg)
    sim.reset(3)
    st = sim.state
    st.traffic.s[:] = -1e4  # no traffic in view
    # one magenta pole 25 m ahead, 3 m left of the ego; nothing else by the road
    x0, y0, yaw0 = st.ego.x, st.ego.y, st.ego.yaw
    fwd, left = np.array([np.cos(yaw0), np.sin(yaw0)]), np.array([-np.sin(yaw0), np.cos(yaw0)])
    pole_xy = np.array([x0, y0]) + 25.0 * fwd + 3.0 * left
    sim.world.boxes = Boxes(
        xy=pole_xy[None], z0=np.zeros(1), size=np.array([[0.6, 0.6, 6.0]]), yaw=np.array([yaw0]),
        color=np.array([[255.0, 0.0, 255.0]]), kind=np.array([POLE]), s=np.array([st.s + 25.0]),
    )  # fmt: skip
    sim.renderer = Renderer(sim.camera, sim.world)  # the renderer caches the static boxes

    def pole_column() -> float:
        img = sim.render().astype(int)
        mask = (img[..., 0] > 120) & (img[..., 2] > 120) & (img[..., 1] < 60)
        assert mask.sum() > 3, "the pole should be visible"
        return float(np.nonzero(mask)[1].mean())

    u0 = pole_column()
    yaws = [st.ego.yaw]
    rates = []
    for _ in range(8):
        sim.step([0.6, -0.2])
        yaws.append(sim.state.ego.yaw)
        rates.append(sim.state.ego.yaw_rate)
    assert all(r > 0 for r in rates[1:]), "a left steer gives a positive yaw rate"
    assert np.all(np.diff(yaws) > 0), "heading increases when turning left"
    assert pole_column() > u0 + 5, "objects move right in the image when the ego turns left"


def test_reset_options_and_info_contents():
    env = gym.make("ProcDrive-v0")
    _, info = env.reset(seed=4, options={"lane": 0, "speed": 3.0})
    assert info["speed"] == pytest.approx(3.0)
    assert abs(info["lane_offset"]) < 0.05 and info["d"] < 0  # lane 0 is right of the centre line
    for key in ("pose", "yaw_rate", "heading_error", "distance", "off_road", "collision", "caption"):
        assert key in info
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(seed=4, options={"weather": "fog"})


def test_driving_off_the_road_terminates_with_penalty():
    env = gym.make("ProcDrive-v0")
    env.reset(seed=2)
    for _ in range(200):
        _, reward, terminated, _, info = env.step([-1.0, 0.0])
        if terminated:
            break
    assert terminated and info["off_road"]
    assert reward < -4.0


def test_the_sim_gives_the_dreams_dict_observation_and_takes_an_episode_seed():
    env = gym.make("ProcDrive-v0", observation="dict", width=96, height=48)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=1, options={"episode_seed": 2**31 + 5})
    assert info["episode_seed"] == 2**31 + 5 and set(obs) == {"image", "speed", "yaw_rate", "pose"}
    obs, *_, info = env.step(np.array([0.3, 0.0], np.float32))
    assert obs["speed"][0] == np.float32(info["speed"]) and obs["yaw_rate"][0] == np.float32(info["yaw_rate"])
    again, _ = env.reset(seed=9, options={"episode_seed": 2**31 + 5})  # the world is the seed's, not the RNG's
    first, _ = env.reset(seed=1, options={"episode_seed": 2**31 + 5})
    np.testing.assert_array_equal(again["image"], first["image"])
    with pytest.raises(ValueError, match="episode_seed"):
        env.reset(options={"episode_seed": -1})


def test_start_jitter_is_drawn_from_the_seed_within_its_bounds_and_leaves_the_world_alone():
    plain, jittered = Simulator(SimConfig()), Simulator(SimConfig(start_offset_m=0.8, start_heading_rad=0.15))
    offsets = []
    for seed in range(12):
        _, centred = plain.reset(seed)
        _, first = jittered.reset(seed)
        np.testing.assert_array_equal(plain.state.traffic.s, jittered.state.traffic.s)  # the same world
        assert centred.lane_offset == pytest.approx(0.0, abs=1e-9) and centred.heading_error == pytest.approx(0.0)
        assert abs(first.lane_offset) <= 0.8 + 0.1 and abs(first.heading_error) <= 0.15 + 1e-6
        _, again = jittered.reset(seed)
        assert (again.lane_offset, again.heading_error) == (first.lane_offset, first.heading_error)
        offsets.append(first.lane_offset)
    assert np.std(offsets) > 0.2 and min(offsets) < 0 < max(offsets)  # spread to both sides
    with pytest.raises(ValueError, match="start_offset_m must be a finite bound >= 0"):
        SimConfig(start_offset_m=-1.0)


def test_a_step_without_rendering_moves_the_scene_as_a_rendered_one():
    rendered, blind = Simulator(SimConfig()), Simulator(SimConfig())
    rendered.reset(4)
    blind.reset(4)
    action = np.array([0.1, 0.3], np.float32)
    for _ in range(5):
        a, b = rendered.step(action), blind.step(action, render=False)
        assert b.frame is None and (a.reward, a.terminated) == (b.reward, b.terminated)
    np.testing.assert_array_equal(rendered.state.traffic.s, blind.state.traffic.s)
    assert rendered.state.ego == blind.state.ego
    np.testing.assert_array_equal(rendered.render(), blind.render())


def test_collided_with_names_oncoming_traffic_traffic_ahead_and_behind_and_objects(day_cfg):
    """``Simulator.collided_with`` names what the ego overlaps; ``labels().collision`` is true exactly then."""
    sim = Simulator(day_cfg)
    sim.reset(3)
    st, road = sim.state, sim.world.road
    st.traffic.s[:] = -1e4  # no traffic near
    sim.world.boxes = Boxes(xy=np.zeros((0, 2)), z0=np.zeros(0), size=np.zeros((0, 3)), yaw=np.zeros(0),
                            color=np.zeros((0, 3)), kind=np.zeros(0, int), s=np.zeros(0))  # fmt: skip
    assert sim.collided_with() is None and not sim.labels().collision
    ego_s = sim.labels().s
    CENTER_M = EGO_LENGTH_M / 2 - REAR_OVERHANG_M  # the ego's centre ahead of its rear axle (its pose)
    st.traffic.s[0], st.traffic.lane[0] = ego_s, 0
    for direction, ds, kind in ((1, 2.0, "ahead"), (1, -2.0, "behind"), (-1, 0.0, "oncoming")):
        st.traffic.direction[0] = direction  # in the ego's lane 0, or in the oncoming lane 0
        center = road.lane_center_d(0) if direction > 0 else -road.lane_center_d(0)
        xy, yaw = road.pose_at(ego_s - ds - CENTER_M, center)  # the car ds m ahead of the centre
        st.ego.x, st.ego.y, st.ego.yaw = float(xy[0]), float(xy[1]), float(yaw)
        assert sim.collided_with() == kind and sim.labels().collision
        xy, _ = road.pose_at(ego_s, center + 6.0)  # 6 m to its side: no overlap
        st.ego.x, st.ego.y = float(xy[0]), float(xy[1])
        assert sim.collided_with() is None
    st.traffic.s[0] = -1e4
    xy, yaw = road.pose_at(ego_s, road.lane_center_d(0))
    st.ego.x, st.ego.y = float(xy[0]), float(xy[1])
    sim.world.boxes = Boxes(xy=sim.ego_center()[None], z0=np.zeros(1), size=np.array([[1.0, 1.0, 2.0]]),
                            yaw=np.zeros(1), color=np.zeros((1, 3)), kind=np.array([POLE]),
                            s=np.array([ego_s]))  # fmt: skip
    assert sim.collided_with() == "object" and sim.labels().collision
