"""Regenerate ``rollout_logits.safetensors``: the logits of teacher-forced rollouts under the KV-cache
implementation of commit 3bc0fd3 (concatenate-and-trim cache, a separate caching pass per frame).

The file holds a tiny STPT's weights and, per scenario, the logits of every step's query frame. The ring-buffer
cache and the folded caching pass must reproduce them (``tests/test_rollout_cache.py``). Run from the repository
root at that commit: ``python tests/golden/make_rollout_golden.py``. The scenarios are shared with the test
(``tests/golden/scenarios.py``); the recording side here uses only the Rollout API that commit had.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import SCENARIOS, golden_model, scenario_inputs

from drivedreamer_env.models.sampler import Rollout, SamplerConfig


@torch.no_grad()
def record(model, name: str) -> dict[str, torch.Tensor]:
    sc = SCENARIOS[name]
    inp = scenario_inputs(model, sc)
    r = Rollout(model, SamplerConfig(guidance_scale=sc.guidance), sc.batch, inp.text_ids, keep_frames=sc.keep)
    r.observe(inp.context, inp.context_actions)
    logits, events = [], []
    for t in range(sc.steps):
        for rows, (tok, act, text) in inp.resets.get(t, {}).items():
            r.reset_rows(list(rows), tok, act, text)
        r.act(inp.actions[:, t])
        out = r._forward(r._rows(inp.queries[:, t][:, None]), r.cache).logits[:, 0]  # model rows (cond, uncond)
        logits.append(out)
        r.observe(inp.truth[:, t][:, None])
        events.append(r.last_events.clone())
    return {f"{name}.logits": torch.stack(logits, 1).contiguous(), f"{name}.events": torch.stack(events, 1)}


def main() -> None:
    model = golden_model()
    tensors = {f"weights.{k}": v.contiguous() for k, v in model.state_dict().items()}
    for name in SCENARIOS:
        tensors.update(record(model, name))
    out = Path(__file__).resolve().parent / "rollout_logits.safetensors"
    save_file(tensors, str(out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
