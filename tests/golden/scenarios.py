"""Teacher-forced rollout scenarios shared by the golden-file generator and ``tests/test_rollout_cache.py``.

A tiny STPT (action input and adaLN both live), fixed context, actions, query frames (partly masked) and true
frames, and per-step row restarts for the batched scenarios. Everything is drawn from fixed seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig

CONFIG = STPTConfig(
    codebook_size=48, grid_h=4, grid_w=8, dim=32, layers=2, heads=2, context_frames=6, action_window=4,
    action_input=True, action_adaln=True, text=TextEncoderConfig(vocab_size=64, max_words=6, dim=16, heads=2),
)  # fmt: skip
TEXTS = ["day, clear, rural road", "night, dense fog", "dusk, rain, city", "day, fog"]


@dataclass(frozen=True)
class Scenario:
    batch: int
    steps: int = 20
    keep: int = 6  # cache frames (the rollout slides past them after 6 steps)
    guidance: float = 1.0
    resets: dict[int, tuple[int, ...]] = field(default_factory=dict)  # step -> rows restarted before its action


SCENARIOS = {
    "b1": Scenario(batch=1),
    "b3_resets": Scenario(batch=3, resets={4: (1,), 9: (0, 2), 15: (1, 2)}),
    "b2_guided_resets": Scenario(batch=2, guidance=1.7, resets={7: (0,)}),
}


@dataclass
class Inputs:
    text_ids: torch.Tensor
    context: torch.Tensor  # (B, keep, h, w)
    context_actions: torch.Tensor  # (B, keep - 1, 2)
    actions: torch.Tensor  # (B, steps, 2)
    queries: torch.Tensor  # (B, steps, h, w), mask id on ~60 % of entries
    truth: torch.Tensor  # (B, steps, h, w)
    resets: dict[int, dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]


def golden_model() -> STPT:
    torch.manual_seed(0)
    model = STPT(CONFIG).eval()
    with torch.no_grad():  # zero-initialised paths made live, so that they are covered
        for p in model.parameters():
            if p.abs().sum() == 0:
                torch.nn.init.normal_(p, std=0.1)
    return model


def scenario_inputs(model: STPT, sc: Scenario) -> Inputs:
    c = model.cfg
    g = torch.Generator().manual_seed(sc.batch * 100 + sc.steps)

    def tokens(*shape: int) -> torch.Tensor:
        return torch.randint(0, c.codebook_size, (*shape, c.grid_h, c.grid_w), generator=g)

    def acts(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, 2, generator=g) * torch.tensor([3.0, 0.2]) + torch.tensor([8.0, 0.0])

    b, k = sc.batch, sc.keep
    text_ids = model.text_inputs(TEXTS[:b])
    context, context_actions = tokens(b, k), acts(b, k - 1)
    actions, truth = acts(b, sc.steps), tokens(b, sc.steps)
    queries = torch.where(torch.rand(truth.shape, generator=g) < 0.6, c.mask_id, truth)
    resets = {}
    for step, rows in sorted(sc.resets.items()):
        n = len(rows)
        resets[step] = {rows: (tokens(n, k), acts(n, k - 1), model.text_inputs(TEXTS[-n:]))}
    return Inputs(text_ids, context, context_actions, actions, queries, truth, resets)
