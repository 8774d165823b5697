"""The ring-buffer KV cache and the folded caching pass reproduce the logits of the concatenate-and-trim cache
with a separate caching pass (recorded at commit 3bc0fd3 in ``golden/rollout_logits.safetensors``), over 20-step
teacher-forced rollouts that slide past the cache, with rows of a batch restarted at different times."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.models.stpt import STPT

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
from scenarios import CONFIG, SCENARIOS, scenario_inputs  # noqa: E402


@pytest.fixture(scope="module")
def golden() -> tuple[STPT, dict[str, torch.Tensor]]:
    tensors = load_file(str(GOLDEN / "rollout_logits.safetensors"))
    model = STPT(CONFIG).eval()
    model.load_state_dict({k.removeprefix("weights."): v for k, v in tensors.items() if k.startswith("weights.")})
    return model, tensors


def _rollout(model: STPT, name: str, fold: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced rollout: each step's query logits, then the true frame becomes the latest frame (pending
    and folded into the next pass with ``fold``, cached at once by its own pass without)."""
    sc = SCENARIOS[name]
    inp = scenario_inputs(model, sc)
    r = Rollout(model, SamplerConfig(guidance_scale=sc.guidance), sc.batch, inp.text_ids, keep_frames=sc.keep)
    r.observe(inp.context, inp.context_actions)
    logits, events = [], []
    with torch.no_grad():
        for t in range(sc.steps):
            for rows, (tok, act, text) in inp.resets.get(t, {}).items():
                r.reset_rows(list(rows), tok, act, text)
            r.act(inp.actions[:, t])
            logits.append(r.logits(inp.queries[:, t]).reshape(r.rows, CONFIG.grid_h, CONFIG.grid_w, -1))
            if fold:
                r.pending = r._rows(inp.truth[:, t][:, None])
                r.flush() if t == sc.steps - 1 else None
                events.append(None)
            else:
                r.observe(inp.truth[:, t][:, None])
                events.append(r.last_events.clone())
    return torch.stack(logits, 1), events


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("fold", [False, True], ids=["separate-pass", "folded"])
def test_rollout_logits_match_the_concatenating_cache(golden, name, fold):
    model, tensors = golden
    logits, events = _rollout(model, name, fold)
    want = tensors[f"{name}.logits"]
    assert logits.shape == want.shape
    torch.testing.assert_close(logits, want, rtol=0, atol=1e-5)
    if not fold:  # the caching pass's events are those of the true frame
        torch.testing.assert_close(torch.stack(events, 1), tensors[f"{name}.events"], rtol=0, atol=1e-5)


def test_the_ring_slides_by_index_and_stays_bounded(golden):
    model, _ = golden
    sc = SCENARIOS["b1"]
    inp = scenario_inputs(model, sc)
    r = Rollout(model, SamplerConfig(), 1, inp.text_ids, keep_frames=sc.keep)
    r.observe(inp.context, inp.context_actions)
    buffers = [k.data_ptr() for k in r.cache.k]
    oldest = set()
    with torch.no_grad():
        for t in range(12):
            r.act(inp.actions[:, t])
            r.sample(torch.Generator().manual_seed(t))
            oldest.add(r.cache.oldest)
            assert r.cache.frames == sc.keep and r.pending is not None
    assert [k.data_ptr() for k in r.cache.k] == buffers, "sliding reallocated the buffers"
    assert len(oldest) == r.cache.slots, "every slot took its turn as the oldest"
    assert r.t_next == sc.keep + 12 and r.cache.t_next == sc.keep + 11
