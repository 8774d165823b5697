"""Ground-floor helpers: the provenance record names the device actually used; the pure metrics and the shared
open-loop keys behave as documented."""

import numpy as np
import pytest
import torch

from drivedreamer_env.eval.open_loop import OpenLoopMetrics, other_actions, sheet_picks
from drivedreamer_env.metrics import frames_ssim, psnr
from drivedreamer_env.provenance import device_record, environment


def test_environment_records_the_cpu_with_the_keys_of_every_result_file():
    env = environment("cpu")
    assert set(env) == {"device", "python", "numpy", "commit", "date"}
    assert set(env["device"]) == {"kind", "model", "logical_cores", "machine"}
    assert env["device"]["kind"] == "cpu" and env["device"]["model"]
    assert environment(torch.device("cpu"))["device"]["kind"] == "cpu"


def test_a_cuda_run_is_labelled_with_its_gpu(monkeypatch):
    """The record reads the device it is given: a CUDA run names the GPU, its index and the count (not "cpu")."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Fake GPU {index}")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    record = device_record(torch.device("cuda", 1))
    assert record["kind"] == "cuda" and record["model"] == "Fake GPU 1"
    assert record["index"] == 1 and record["count"] == 2
    assert record["cpu_model"] == device_record("cpu")["model"]  # the host is still recorded
    assert device_record("cuda")["model"] == "Fake GPU 0"  # no index: the current device


def test_psnr_and_ssim_of_identical_and_different_frames():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    b = a.clone()
    b[1] = 255 - b[1]
    p = psnr(a, b)
    assert p[0] > 90 and p[1] < 10  # identical: no error (clamped), inverted: large error
    mse = ((a[1].float() - b[1].float()) ** 2).mean()
    assert p[1] == pytest.approx(float(10 * torch.log10(255.0**2 / mse)), rel=1e-5)
    s = frames_ssim(a, b)
    assert s[0] == pytest.approx(1.0, abs=1e-5) and s[1] < 0.5


def test_open_loop_keys_and_the_other_actions():
    m = OpenLoopMetrics(8, 25.0, {1: 22.0, 4: 19.0, 8: 17.0}, 16.0, dream=np.zeros((1, 8, 4, 4, 3), np.uint8))
    assert list(m.to_json()) == ["tokenizer_psnr", "psnr@1", "psnr@4", "psnr@8", "copy_last_psnr@8"]
    m.delta_psnr_actions = 0.5
    assert m.to_json()["delta_psnr_actions@8"] == 0.5
    actions = np.arange(3 * 6 * 2, dtype=np.float32).reshape(3, 6, 2)
    other = other_actions(actions, context=4)
    np.testing.assert_array_equal(other[:, :3], actions[:, :3])  # the context is kept
    np.testing.assert_array_equal(other[1, 3:], actions[0, 3:])  # the future is another row's
    assert sheet_picks(8) == [0, 1, 3, 7] and sheet_picks(3) == [0, 1]
