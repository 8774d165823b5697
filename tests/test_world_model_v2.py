"""World model v2 levers: warp-mode training inputs, corruption, and zero-initialised per-layer action input."""

from __future__ import annotations

import torch

from drivedreamer_env.models.masking import (
    MODES,
    PREDICTION_MODES,
    MaskConfig,
    build_inputs,
    context_frames,
    own_prediction_context,
    sample_masks,
)
from drivedreamer_env.models.sampler import Rollout, SamplerConfig
from drivedreamer_env.models.stpt import STPT, STPTConfig, _digit_columns

MASK_ID = 64


def _batch(b: int = 16, t: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, MASK_ID, (b, t, 4, 8), generator=g)
    proposal = torch.randint(0, MASK_ID, (b, t, 4, 8), generator=g)
    trusted = torch.rand(b, t, 4, 8, generator=g) < 0.8
    return tokens, proposal, trusted


def test_warp_inputs_show_trusted_proposals_and_score_whole_future_frames() -> None:
    tokens, proposal, trusted = _batch()
    cfg = MaskConfig(predict=0, dynamic=0, full=0, region=0, next=0, warp=1.0, warp_remask_max=0.0)
    g = torch.Generator().manual_seed(1)
    masks, modes = sample_masks(*tokens.shape, cfg, g)
    assert set(modes.tolist()) == {MODES.index("warp")}
    out = build_inputs(tokens, masks, modes, cfg, MASK_ID, g, proposal, trusted)
    for i in range(len(tokens)):
        future = masks[i].flatten(1).all(1)
        first = int(future.float().argmax())
        assert first >= 1 and future[first:].all() and not masks[i, :first].any()
        assert torch.equal(out.tokens[i, :first], tokens[i, :first]), "the past is shown as it is"
        fut_in, fut_prop, fut_tr = out.tokens[i, first:], proposal[i, first:], trusted[i, first:]
        assert torch.equal(fut_in[fut_tr], fut_prop[fut_tr]), "trusted proposal tokens are shown"
        assert (fut_in[~fut_tr] == MASK_ID).all(), "untrusted tokens are masked"
        assert out.loss_mask[i, first:].all() and not out.loss_mask[i, :first].any()


def test_warp_remask_hides_a_share_of_trusted_tokens() -> None:
    tokens, proposal, _ = _batch(b=64)
    trusted = torch.ones_like(tokens, dtype=torch.bool)
    cfg = MaskConfig(predict=0, dynamic=0, full=0, region=0, warp=1.0, warp_remask_max=0.6)
    g = torch.Generator().manual_seed(2)
    masks, modes = sample_masks(*tokens.shape, cfg, g)
    out = build_inputs(tokens, masks, modes, cfg, MASK_ID, g, proposal, trusted)
    hidden = (out.tokens == MASK_ID)[masks].float().mean()
    assert 0.15 < float(hidden) < 0.45  # U(0, 0.6) per sample: 0.3 on average


def test_corruption_is_seeded_and_never_touches_targets_or_masked_positions() -> None:
    tokens, proposal, trusted = _batch(b=32)
    before = tokens.clone()
    cfg = MaskConfig(predict=0.5, dynamic=0, full=0, region=0, next=0.2, warp=0.3, corrupt_max=0.4)

    def run(seed: int):
        g = torch.Generator().manual_seed(seed)
        masks, modes = sample_masks(*tokens.shape, cfg, g)
        return masks, modes, build_inputs(tokens, masks, modes, cfg, MASK_ID, g, proposal, trusted)

    masks, modes, a = run(3)
    _, _, b = run(3)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.loss_mask, b.loss_mask)
    assert torch.equal(tokens, before), "targets are never modified"
    clean = build_inputs(tokens, masks, modes, MaskConfig(**{**cfg.__dict__, "corrupt_max": 0.0}),
                         MASK_ID, torch.Generator().manual_seed(9), proposal, trusted)  # fmt: skip
    changed = a.tokens != clean.tokens
    warp_rows = modes == MODES.index("warp")
    # shown past tokens get corrupted; in non-warp rows masked positions stay masked
    assert changed[~warp_rows].any()
    assert (a.tokens[~warp_rows][masks[~warp_rows]] == MASK_ID).all()
    assert (a.tokens < MASK_ID + 1).all()


def test_warp_sample_without_proposals_is_a_clear_error() -> None:
    tokens, _, _ = _batch()
    cfg = MaskConfig(predict=0, dynamic=0, full=0, region=0, warp=1.0)
    g = torch.Generator().manual_seed(0)
    masks, modes = sample_masks(*tokens.shape, cfg, g)
    try:
        build_inputs(tokens, masks, modes, cfg, MASK_ID, g)
    except ValueError as err:
        assert "--proposals" in str(err)
    else:
        raise AssertionError("expected a ValueError")


def _tiny(adaln: bool) -> STPT:
    torch.manual_seed(0)
    cfg = STPTConfig(codebook_size=MASK_ID, grid_h=4, grid_w=8, dim=32, layers=2, heads=2, action_input=True,
                     action_adaln=adaln, context_frames=8)  # fmt: skip
    return STPT(cfg).eval()


def test_zero_initialised_adaln_leaves_a_warm_started_models_logits_unchanged() -> None:
    old, new = _tiny(False), _tiny(True)
    missing = new.load_state_dict(old.state_dict(), strict=False).missing_keys
    assert missing and all("ada" in k for k in missing)
    tokens = torch.randint(0, MASK_ID, (2, 4, 4, 8))
    actions = torch.randn(2, 4, 2)
    with torch.no_grad():
        a = old(tokens, actions=actions).logits
        b = new(tokens, actions=actions).logits
    torch.testing.assert_close(a, b)
    with torch.no_grad():  # once trained (non-zero), the actions move the logits through the new path
        for layer in new.layers:
            layer.ada.weight.normal_(std=0.1)
        c = new(tokens, actions=actions).logits
        d = new(tokens, actions=actions * -1).logits
    assert (c - d).abs().max() > 1e-3


def test_adaln_keeps_causality_and_cache_equivalence() -> None:
    model = _tiny(True)
    with torch.no_grad():
        for layer in model.layers:
            layer.ada.weight.normal_(std=0.1)
    tokens = torch.randint(0, MASK_ID, (2, 5, 4, 8))
    actions = torch.randn(2, 5, 2)
    with torch.no_grad():
        full = model(tokens, actions=actions).logits
        changed = tokens.clone()
        changed[:, 3:] = torch.randint(0, MASK_ID, (2, 2, 4, 8))
        other = model(changed, actions=torch.cat([actions[:, :3], -actions[:, 3:]], 1)).logits
        torch.testing.assert_close(full[:, :3], other[:, :3])  # the future never changes past logits
        cache = model.empty_cache(2)
        out = model(tokens[:, :3], actions=actions, cache=cache)
        cache = model.commit(cache, out, 3)
        step = model(tokens[:, 3:], actions=actions, cache=cache).logits
    torch.testing.assert_close(step, full[:, 3:], atol=1e-5, rtol=1e-4)


def test_own_prediction_context_replaces_only_context_frames_after_the_first() -> None:
    tokens, proposal, trusted = _batch(b=32, t=6)
    cfg = MaskConfig(predict=0.4, dynamic=0.2, full=0, region=0, next=0.2, warp=0.2, self_context=0.7)
    seen: list[torch.Tensor] = []

    def predict(inputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        seen.append(inputs.clone())
        assert torch.equal(inputs[:, 0], tokens[rows, 0]), "the one pass sees the true first frame"
        later = inputs[:, 1:]
        assert torch.equal(later[trusted[rows, 1:]], proposal[rows, 1:][trusted[rows, 1:]])
        assert (later[~trusted[rows, 1:]] == MASK_ID).all()
        return torch.where(inputs == MASK_ID, MASK_ID - 1 - tokens[rows], inputs)  # recognisably wrong tokens

    def run(seed: int):
        g = torch.Generator().manual_seed(seed)
        masks, modes = sample_masks(*tokens.shape, cfg, g)
        shown = own_prediction_context(tokens, masks, modes, cfg, g, predict, MASK_ID, proposal, trusted)
        return masks, modes, shown, build_inputs(tokens, masks, modes, cfg, MASK_ID, g, proposal, trusted, shown)

    masks, modes, shown, out = run(3)
    assert seen, "some rows take the model's own context"
    ctx = context_frames(masks)
    changed_rows = 0
    for i in range(len(tokens)):
        assert torch.equal(shown[i, 0], tokens[i, 0])
        assert torch.equal(shown[i, ctx[i] :], tokens[i, ctx[i] :]), "frames from the first masked one are true"
        if not torch.equal(shown[i], tokens[i]):
            changed_rows += 1
            assert int(modes[i]) in PREDICTION_MODES and ctx[i] > 1
        assert torch.equal(out.tokens[i, : ctx[i]], shown[i, : ctx[i]]), "the shown context is what the model sees"
    assert changed_rows > 0
    _, _, shown2, out2 = run(3)
    assert torch.equal(shown, shown2) and torch.equal(out.tokens, out2.tokens), "seeded"
    assert torch.equal(out.loss_mask, masks), "the loss positions (and targets, ``tokens``) are untouched"


def test_factorised_head_gives_normalised_joint_log_probs_in_fsq_code_order() -> None:
    from vector_quantize_pytorch import FSQ

    levels = (4, 3, 5)
    fsq = FSQ(levels=list(levels))
    codes = fsq.indices_to_codes(torch.arange(60))  # (60, 3) in [-1, 1]
    digits = torch.stack([torch.unique(codes[:, d], return_inverse=True)[1] for d in range(3)], 1)  # value ranks
    cols = _digit_columns(levels)
    offsets = torch.tensor([0, 4, 7])
    assert torch.equal(cols.T, digits + offsets), "the head reads the digits the tokenizer's FSQ numbers"
    cfg = STPTConfig(codebook_size=60, grid_h=2, grid_w=4, dim=16, layers=1, heads=2, factorised_head=levels)
    model = STPT(cfg)
    logits = model(torch.randint(0, 60, (2, 2, 2, 4))).logits
    assert logits.shape == (2, 2, 2, 4, 60)
    assert torch.allclose(logits.exp().sum(-1), torch.ones(2, 2, 2, 4), atol=1e-5)
    joint = STPT(STPTConfig(codebook_size=60, grid_h=2, grid_w=4, dim=16, layers=1, heads=2)).state_dict()
    grown = STPT.factorise_joint_head(joint, levels)
    assert "head.weight" not in grown and grown["head_factors.weight"].shape == (12, 16)
    assert torch.allclose(grown["head_factors.weight"][0], joint["head.weight"][digits[:, 0] == 0].mean(0))
    model.load_state_dict(grown)


def _tiny_proposal() -> STPT:
    torch.manual_seed(0)
    cfg = STPTConfig(codebook_size=MASK_ID, grid_h=4, grid_w=8, dim=32, layers=2, heads=2, action_input=True,
                     proposal_input=True, context_frames=8)  # fmt: skip
    return STPT(cfg).eval()


def test_zero_initialised_proposal_input_leaves_a_warm_started_models_logits_unchanged() -> None:
    old, new = _tiny(False), _tiny_proposal()
    missing = new.load_state_dict(old.state_dict(), strict=False).missing_keys
    assert missing == ["proposal_emb.weight"]
    tokens, proposal, _ = _batch(b=2, t=4)
    actions = torch.randn(2, 4, 2)
    with torch.no_grad():
        a = old(tokens, actions=actions).logits
        b = new(tokens, actions=actions, proposal=proposal).logits
        torch.testing.assert_close(a, b)
        new.proposal_emb.weight.normal_(std=0.1)
        c = new(tokens, actions=actions, proposal=proposal).logits
        dropped = new(tokens, actions=actions, proposal=proposal, drop_actions=torch.tensor([True, True])).logits
        none = new(tokens, actions=actions, proposal=None, drop_actions=torch.tensor([True, True])).logits
    assert (c - b).abs().max() > 1e-3, "a trained proposal embedding moves the logits"
    torch.testing.assert_close(dropped, none)  # no actions, no proposal: the null value


def test_proposal_input_keeps_cache_equivalence_through_rollout_folding() -> None:
    """Greedy one-step decoding through the folded cache equals full-sequence forwards with the same proposals."""
    model = _tiny_proposal()
    with torch.no_grad():
        model.proposal_emb.weight.normal_(std=0.5)
    tokens, proposal, trusted = _batch(b=2, t=6, seed=4)
    actions = torch.randn(2, 6, 2) * 0.3
    aligned = torch.where(trusted, proposal, MASK_ID)
    r = Rollout(model, SamplerConfig(steps=1, temperature=0.0, confidence_noise=0.0), 2)
    r.observe(tokens[:, :2], actions[:, :1])
    frames, props = [tokens[:, 0], tokens[:, 1]], [torch.full_like(tokens[:, 0], MASK_ID)] * 2
    g = torch.Generator().manual_seed(0)
    for t in range(2, 6):
        r.act(actions[:, t - 1])
        given = torch.where(torch.rand(2, 4, 8, generator=g) < 0.5, tokens[:, t], MASK_ID)
        got = r.sample(g, given=given, proposal=aligned[:, t])
        with torch.no_grad():
            seq = torch.stack([*frames, given], 1)
            logits = model(seq, actions=actions[:, : t + 1], proposal=torch.stack([*props, aligned[:, t]], 1)).logits
        want = torch.where(given == MASK_ID, logits[:, -1].argmax(-1), given)
        assert torch.equal(got, want), f"frame {t}"
        frames.append(got)
        props.append(aligned[:, t])
