"""WorldDreamerDrive-v0 on the shipped model: Gymnasium contracts, vector autoreset, forks, bad actions,
DreamConfig, and the sign of every reward term."""

import dataclasses

import cv2
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import drivedreamer_env  # noqa: F401  (registers the environments)
from drivedreamer_env.config import ConfigError
from drivedreamer_env.data.clip import Clip
from drivedreamer_env.envs.config import DREAM_REWARD, DreamConfig
from drivedreamer_env.envs.route import Route
from drivedreamer_env.envs.starts import make_start
from drivedreamer_env.envs.world_dreamer import load_world_model
from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.sim.rewards import REWARD_TERMS

ENV_ID = "WorldDreamerDrive-v0"
LEFT, RIGHT = np.array([0.6, -0.2], np.float32), np.array([-0.6, -0.2], np.float32)


def make(**kwargs):
    return gym.make(ENV_ID, sampling_steps=4, **kwargs)


def test_check_env_passes_and_seeded_steps_are_deterministic(monkeypatch):
    try:
        import pygame  # noqa: F401

        monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
        skip_render = False
    except ImportError:  # the 'human' render mode needs the play extra
        skip_render = True
    env = make(render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=skip_render)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        frames = [obs] + [env.step(LEFT)[0] for _ in range(2)]
        runs.append(np.stack(frames))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert env.observation_space.contains(runs[0][-1])
    env.close()
    env.close()  # closing twice is fine


def test_step_contract_info_and_dict_observation():
    env = make(observation="dict", reward_weights={"max_deviation_m": 50.0})
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert info["start"]["kind"] == "sim" and info["text"]
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0], np.float32))
    assert set(obs) == {"image", "speed", "yaw_rate", "pose"} and obs["image"].shape == (64, 128, 3)
    assert np.isfinite(reward) and not terminated and not truncated
    for key in ("pose", "speed", "yaw_rate", "progress", "deviation", "events"):
        assert key in info
    assert info["progress"] > 0.3  # about 8 m/s * 0.1 s along the lane
    assert set(info["events"]) == {"off_road", "collision"}


def test_bad_actions_and_step_before_reset():
    env = make()
    with pytest.raises(gym.error.ResetNeeded):  # gym.make's order enforcing
        env.step(np.zeros(2, np.float32))
    with pytest.raises(RuntimeError, match="reset"):  # and the env itself
        env.unwrapped.step(np.zeros(2, np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    # out of range is clipped (documented): the same as the clipped action from the same state
    base = env.unwrapped.get_state()
    clipped = env.step(np.array([1.0, -1.0]))[0]
    env.unwrapped.set_state(base)
    np.testing.assert_array_equal(env.step(np.array([5.0, -3.0]))[0], clipped)


def test_fork_matches_under_same_actions_and_differs_under_different_ones():
    env = make().unwrapped
    env.reset(seed=11)
    fork = env.fork()
    same = [(env.step(LEFT)[0], fork.step(LEFT)[0]) for _ in range(2)]
    for a, b in same:
        np.testing.assert_array_equal(a, b)
    other = env.fork()
    pose_l = pose_r = None
    for _ in range(3):
        frame_l, *_, info_l = env.step(LEFT)
        frame_r, *_, info_r = other.step(RIGHT)
        pose_l, pose_r = info_l["pose"], info_r["pose"]
    assert not np.array_equal(frame_l, frame_r)
    assert pose_l[2] > pose_r[2]  # the ego's heading follows the commanded turn


def test_record_video_writes_the_rendered_frames(tmp_path):
    env = gym.wrappers.RecordVideo(make(render_mode="rgb_array"), str(tmp_path), episode_trigger=lambda e: True)
    env.reset(seed=1)
    rendered = [env.render()]
    for _ in range(3):
        env.step(np.zeros(2, np.float32))
        rendered.append(env.render())
    env.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1
    cap = cv2.VideoCapture(str(videos[0]))
    decoded = []
    while (frame := cap.read()[1]) is not None:
        decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(decoded) == len(rendered) == 4  # the reset frame and one per step
    for got, want in zip(decoded, rendered, strict=True):
        assert got.shape == want.shape == (256, 512, 3)  # the 64 x 128 frame upscaled x4 with the HUD
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 8  # the same picture, up to compression


def test_clip_and_image_starts():
    env = make().unwrapped
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 90, 160, 3), dtype=np.uint8)  # other size: resized and cropped
    clip = Clip(frames, np.arange(3) * 0.1, np.tile([[6.0, 0.1]], (3, 1)), "day, clear")
    obs, info = env.reset(seed=0, options={"clip": clip})
    assert obs.shape == (64, 128, 3) and info["start"]["kind"] == "clip" and info["text"] == "day, clear"
    obs, info = env.reset(seed=0, options={"image": frames[0], "text": "night, dense fog"})
    assert obs.shape == (64, 128, 3) and info["text"] == "night, dense fog"
    assert env.step(np.zeros(2))[0].shape == (64, 128, 3)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"clips": clip})
    with pytest.raises(TypeError, match="start must be"):
        env.reset(options={"start": 3.5})


def test_sim_starts_along_the_drive_are_drawn_from_the_scene_seed():
    """``drive_s`` (``DreamConfig.start_drive_s``): the lane keeper drives the scene U(0, drive_s) s before the
    context, the same time for the same seed; an explicit scenario ``drive_s`` is used as given."""
    rng = np.random.default_rng(0)
    first = make_start(11, (64, 128), 4, None, rng, 0.1)
    along = make_start(11, (64, 128), 4, None, rng, 0.1, drive_s=30.0)
    again = make_start(11, (64, 128), 4, None, rng, 0.1, drive_s=30.0)
    assert first.info["drive_s"] == 0.0 and 0.0 < along.info["drive_s"] <= 30.0
    assert along.info["drive_s"] == again.info["drive_s"]
    np.testing.assert_array_equal(along.frames, again.frames)
    # the keeper cruises at the start speed, slowing for traffic (s: the road's arc length, 10 % slack for curves)
    driven_m = along.sim.state.s - first.sim.state.s
    assert 0.0 < driven_m <= 1.1 * first.ego.speed * along.info["drive_s"]
    given = make_start({"seed": 11, "drive_s": 2.0}, (64, 128), 4, None, rng, 0.1, drive_s=30.0)
    assert given.info["drive_s"] == 2.0 and given.sim.state.step == 20 + 3  # the drive, then the context
    with pytest.raises(ValueError, match="'drive_s' must be a finite time >= 0 s"):
        make_start({"seed": 11, "drive_s": -1.0}, (64, 128), 4, None, rng, 0.1)
    with pytest.raises(ValueError, match="start_drive_s must be a time >= 0 s"):
        DreamConfig(start_drive_s=float("nan"))
    env = make(start_drive_s=5.0).unwrapped
    _, info = env.reset(seed=3)
    assert 0.0 < info["start"]["drive_s"] <= 5.0  # the env's setting reaches its starts


@pytest.mark.parametrize("mode", ["next_step", "same_step", "disabled"])
def test_vector_env_obeys_its_autoreset_mode(mode):
    venv = gym.make_vec(ENV_ID, num_envs=2, sampling_steps=2, max_episode_steps=2, autoreset_mode=mode)
    assert venv.metadata["autoreset_mode"] == AutoresetMode[mode.upper()]
    venv.reset(seed=5)
    zeros = np.zeros((2, 2), np.float32)
    venv.step(zeros)
    _, rew, term, trunc, info = venv.step(zeros)
    if mode == "same_step":
        assert trunc.all() and info["_final_obs"].all()
        assert (info["step"] == 0).all()  # already reset: the reset info
        assert (info["final_info"]["step"] == 2).all()
    else:
        assert trunc.all() and (info["step"] == 2).all()
    if mode == "next_step":
        _, rew, term, trunc, info = venv.step(zeros)  # this step resets instead
        assert (rew == 0).all() and not term.any() and not trunc.any() and (info["step"] == 0).all()
    if mode == "disabled":
        with pytest.raises(RuntimeError, match="reset_mask"):
            venv.step(zeros)
        venv.reset(options={"reset_mask": np.array([True, True])})
        info = venv.step(zeros)[-1]
        assert (info["step"] == 1).all()
    venv.close()


def test_vector_rows_do_not_depend_on_each_other():
    runs = []
    for other in (LEFT, RIGHT):
        venv = gym.make_vec(ENV_ID, num_envs=2, sampling_steps=2)
        venv.reset(seed=[3, 4])
        frames = [venv.step(np.stack([LEFT, other]))[0] for _ in range(2)]
        runs.append(np.stack(frames))
    np.testing.assert_array_equal(runs[0][:, 0], runs[1][:, 0])
    assert not np.array_equal(runs[0][:, 1], runs[1][:, 1])


def test_reset_rows_matches_a_fresh_rollout():
    wm = load_world_model()
    c = wm.stpt.cfg
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, c.codebook_size, (3, c.context_frames + 2, c.grid_h, c.grid_w), generator=g)
    actions = torch.rand(3, c.context_frames + 2, 2, generator=g) * torch.tensor([10.0, 0.4])
    text = wm.text_ids(["day, clear", "night, rain", "dusk, fog"])
    n = c.context_frames
    batch = Rollout(wm.stpt, SamplerConfig(), 3, keep_frames=n)
    batch.reset_rows([0, 1, 2], tokens[:, :n], actions[:, : n - 1], text)
    for t in range(n, n + 2):  # the batch moves on, then row 1 restarts
        batch.act(actions[:, t - 1])
        batch.observe(tokens[:, t : t + 1])
    batch.reset_rows([1], tokens[1:2, :n], actions[1:2, : n - 1], text[1:2])
    fresh = Rollout(wm.stpt, SamplerConfig(), 1, keep_frames=n)
    fresh.reset_rows([0], tokens[1:2, :n], actions[1:2, : n - 1], text[1:2])
    probe = tokens[:, :1]
    for r in (batch, fresh):
        r.act(actions[: r.batch, 0] if r is batch else actions[1:2, 0])
    out_b = batch._forward(probe, batch.cache).logits[1]
    out_f = fresh._forward(probe[1:2], fresh.cache).logits[0]
    torch.testing.assert_close(out_b, out_f, atol=1e-4, rtol=1e-4)


def test_route_projection():
    route = Route.from_points(np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 10.0]]))
    s, d, heading = route.project(np.array([5.0, 1.0]), 0.0)
    assert s == pytest.approx(5.0) and d == pytest.approx(1.0) and heading == pytest.approx(0.0)
    s, d, _ = route.project(np.array([5.0, -2.0]), 0.0)
    assert d == pytest.approx(-2.0)


def _dream_term_deltas(action: np.ndarray, warmup: int, **kwargs) -> tuple[dict, dict, dict, bool]:
    """Per term: the change of one dream step's reward when that term's weight rises by 1, from one state.

    Returns (deltas, info before the step, info after it, terminated).
    """
    env = make(**kwargs).unwrapped
    _, before = env.reset(seed=3)
    for _ in range(warmup):
        before = env.step(action)[-1]
    state, base = env.get_state(), env.core.reward_config
    _, reward, terminated, _, after = env.step(action)
    deltas = {}
    for name in REWARD_TERMS:
        env.set_state(state)
        env.core.reward_config = base.updated({name: getattr(base, name) + 1.0})
        deltas[name] = env.step(action)[1] - reward
    return deltas, before, after, terminated


def test_dream_reward_terms_have_their_signs():
    deltas, before, after, terminated = _dream_term_deltas(LEFT, warmup=2)
    assert not terminated
    accel_lon = (after["speed"] - before["speed"]) / 0.1
    accel_lat = after["speed"] * after["yaw_rate"]
    assert deltas["progress"] == pytest.approx(after["progress"] - before["progress"]) and deltas["progress"] > 0.3
    assert deltas["deviation"] == pytest.approx(-abs(after["deviation"])) and deltas["deviation"] < 0
    assert deltas["heading"] == pytest.approx(-abs(after["heading_error"])) and deltas["heading"] < 0
    assert deltas["comfort"] == pytest.approx(-(accel_lon**2 + accel_lat**2)) and deltas["comfort"] < 0
    assert deltas["event"] == pytest.approx(-sum(after["events"].values())) and deltas["event"] < 0
    assert deltas["terminal"] == 0.0


def test_dream_termination_penalises():
    deltas, *_, terminated = _dream_term_deltas(LEFT, warmup=1, reward_weights={"max_deviation_m": 0.0})
    assert terminated  # any lateral offset is beyond a limit of 0 m
    assert deltas["terminal"] == pytest.approx(-1.0)


def test_dream_config_is_passed_whole_or_built_from_the_kwargs():
    cfg = DreamConfig(sampling_steps=2, observation="dict", reward=DREAM_REWARD.updated({"comfort": 0.01}))
    env = gym.make(ENV_ID, config=cfg)
    same = gym.make(ENV_ID, sampling_steps=2, observation="dict", reward_weights={"comfort": 0.01})
    assert env.unwrapped.config == same.unwrapped.config == cfg
    assert env.unwrapped.core.reward_config == dataclasses.replace(DREAM_REWARD, comfort=0.01)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    a, b = (e.reset(seed=5)[0]["image"] for e in (env, same))
    np.testing.assert_array_equal(a, b)
    assert env.step(LEFT)[1] == same.step(LEFT)[1]
    venv = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", config=cfg)
    assert venv.unwrapped.config == dataclasses.replace(cfg, max_episode_steps=400)  # make_vec's registered limit
    assert venv.single_observation_space == env.observation_space
    venv.close()
    with pytest.raises(ConfigError, match=r"'samplng_steps'.*known.*'sampling_steps'"):
        gym.make(ENV_ID, samplng_steps=2)
    with pytest.raises(ConfigError, match=r"unknown reward weight.*'comfrt'"):
        gym.make(ENV_ID, reward_weights={"comfrt": 1.0})
    with pytest.raises(ValueError, match="observation must be"):
        gym.make(ENV_ID, observation="depth")


def test_dream_branches_match_a_fork_and_leave_the_env_as_it_was():
    env = make().unwrapped
    obs, info = env.reset(seed=5)
    fork = env.fork()
    calls = []
    frames, poses = env.dream_branches(np.stack([LEFT, RIGHT]), 2, on_step=lambda: calls.append(1))
    assert frames.shape == (2, 3, 64, 128, 3) and frames.dtype == np.uint8 and poses.shape == (2, 3, 3)
    assert len(calls) == 2
    np.testing.assert_array_equal(frames[:, 0], np.stack([obs, obs]))  # every branch starts at the current frame
    np.testing.assert_array_equal(poses[:, 0], np.stack([info["pose"], info["pose"]]))
    assert poses[0, -1, 2] > info["pose"][2] > poses[1, -1, 2]  # left turns left (+ heading), right turns right
    single, _ = env.dream_branches(LEFT[None], 2)
    stepped = [fork.step(LEFT)[0] for _ in range(2)]
    np.testing.assert_array_equal(single[0, 1:], np.stack(stepped))  # a branch is what stepping would dream
    np.testing.assert_array_equal(env.step(LEFT)[0], stepped[0])  # and the env itself has not moved


def _sheet_tile(sheet: np.ndarray, row: int, col: int, label_w: int, hw=(64, 128), up: int = 2) -> np.ndarray:
    """One (h, w, 3) tile of an upscaled contact sheet (gap 2)."""
    h, w = hw
    y, x = (2 + row * (h + 2)) * up, (label_w + 2 + col * (w + 2)) * up
    return sheet[y : y + h * up : up, x : x + w * up : up].astype(float)


def test_counterfactual_cli_writes_video_plot_and_metrics(tmp_path):
    import json

    import cv2
    import imageio.v2 as imageio

    from drivedreamer_env.cli import main
    from drivedreamer_env.cli.counterfactual import COLORS

    out = tmp_path / "cf"
    assert main(["counterfactual", "--start", "100007", "--branches", "left,right", "--steps", "3", "--out",
                 str(out), "--sampling-steps", "2"]) == 0  # fmt: skip
    m = json.loads((out / "metrics.json").read_text())
    assert list(m) == ["start", "text", "steps", "speed_command", "seed", "sampler", "dream_seconds",
                       "heading_reference", "branches"]  # fmt: skip
    assert m["heading_reference"] == "truth"  # a simulator start: the turns are compared with the true frames
    assert m["start"]["kind"] == "sim" and m["start"]["seed"] == 100007 and m["text"] == m["start"]["caption"]
    assert (m["steps"], m["speed_command"], m["seed"]) == (3, -0.2, 0) and m["dream_seconds"] > 0
    # the shipped checkpoint's decoding (config.json 'sampler'), with the steps given on the command line
    assert m["sampler"] == {"steps": 2, "temperature": 1.0, "guidance_scale": 1.0, "decoding": "warp",
                            "warp_remask": 0.0, "warp_anchor_every": 4}  # fmt: skip
    assert list(m["branches"]) == ["left", "right"]
    keys = ["steering", "heading_change_rad", "dream_heading_change_est_rad", "distance_m", "psnr_db",
            "psnr_db_per_step", "gt_heading_change_est_rad", "turn_gain", "yaw_agrees"]  # fmt: skip
    for name, steering in (("left", 0.25), ("right", -0.25)):
        b = m["branches"][name]
        assert list(b) == keys and b["steering"] == steering and isinstance(b["yaw_agrees"], bool)
        assert 1.0 < b["distance_m"] < 4.0  # 3 steps of 0.1 s at about 8 m/s
        assert len(b["psnr_db_per_step"]) == 3 and 5.0 < b["psnr_db"] < 60.0
    assert m["branches"]["left"]["heading_change_rad"] > 0 > m["branches"]["right"]["heading_change_rad"]
    # contact sheet: a dream row and a truth row per branch, 6 evenly spaced steps (0, 0, 1, 1, 2, 3), 2x
    sheet = cv2.imread(str(out / "contact_sheet.png"))[..., ::-1]
    label_w = 8 * len("right dream") + 8
    assert sheet.shape == (2 * (4 * 66 + 2), 2 * (label_w + 6 * 130 + 2), 3)
    # video: per step the branches side by side, dreams on top, truth below, 3x; the GIF every other step
    video = np.stack(imageio.mimread(out / "counterfactual.mp4"))
    assert video.shape == (4, 2 * 64 * 3, 2 * 128 * 3, 3)
    assert np.stack(imageio.mimread(out / "counterfactual.gif")).shape[:3] == (2, 2 * 64 * 3, 2 * 128 * 3)
    last = video[3, 1::3, 1::3].astype(float)  # step 3, at the centre of each upscaled pixel
    for row, (y, x) in enumerate([(0, 0), (64, 0), (0, 128), (64, 128)]):  # left dream/truth, right dream/truth
        err = np.abs(last[y : y + 64, x : x + 128] - _sheet_tile(sheet, row, 5, label_w)).mean()
        assert err < 6.0, (row, err)
    # bird's-eye view: both branches in their colours (2 px lines), the route as a thin yellow line
    bev = cv2.imread(str(out / "birdseye.png"))[..., ::-1]
    assert bev.shape == (400, 400, 3)
    for color in (COLORS["left"], COLORS["right"]):
        assert (bev == color).all(axis=-1).any(), color
    r, g, b = np.moveaxis(bev.astype(int), -1, 0)
    assert ((r > g) & (g > 100) & (g - b > 40)).sum() > 100  # antialiased (200, 160, 40) on the grey background
    assert main(["counterfactual", "--start", "100007", "--branches", "sideways", "--out", str(out)]) == 2


def test_play_without_keys_drives_straight_and_records_the_rendered_frames(tmp_path, monkeypatch):
    pytest.importorskip("pygame")
    import imageio.v2 as imageio

    from drivedreamer_env.cli.play import play
    from drivedreamer_env.envs.world_dreamer import WorldDreamerDriveEnv

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    path = tmp_path / "drive.mp4"
    assert play(100007, record=path, max_steps=3, env_kwargs={"sampling_steps": 2}, seed=0) == 3
    recorded = np.stack(imageio.mimread(path))
    # no key held: the wheel stays centred at the initial speed command, the same drive as stepping the env
    env = WorldDreamerDriveEnv(render_mode="rgb_array", sampling_steps=2)
    env.reset(seed=0, options={"start": 100007})
    expected = [env.render()]
    for _ in range(3):
        env.step(np.array([0.0, -0.2], np.float32))
        expected.append(env.render())
    assert recorded.shape == (4, 256, 512, 3)
    err = np.abs(recorded.astype(float) - np.stack(expected)).mean(axis=(1, 2, 3))  # H.264: close on average
    assert (err < 6.0).all(), err


def test_env_steps_at_the_checkpoints_frame_period(tmp_path):
    """A checkpoint trained on every second frame (frame_stride 2, config.json frame_dt_s 0.2) is stepped at
    0.2 s: the ego kinematics and the simulator start both follow it."""
    import json
    import shutil

    from drivedreamer_env.models.world_model import DEFAULT_CHECKPOINT as shipped

    ckpt = tmp_path / "stride2"
    shutil.copytree(shipped, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "frame_dt_s": 0.2}))
    progress = {}
    for name, path in (("default", shipped), ("stride2", ckpt)):
        env = gym.make(ENV_ID, checkpoint=str(path), sampling_steps=1, reward_weights={"max_deviation_m": 50.0})
        env.reset(seed=3)
        core = env.unwrapped.core
        assert core.dt_s == (0.2 if name == "stride2" else 0.1)
        assert env.unwrapped.start.sim.cfg.dt_s == core.dt_s
        progress[name] = env.step(np.array([0.0, 0.0], np.float32))[4]["progress"]
    assert progress["stride2"] == pytest.approx(2 * progress["default"], rel=0.1)
