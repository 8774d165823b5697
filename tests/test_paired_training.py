"""Paired-style training (issue 16's training lever): paired token shards, the restyle masks, the training step."""

import hashlib

import numpy as np
import pytest
import torch
from tiny_configs import TINY_TOKENIZER, TINY_WM_TRAIN_YAML

from drivedreamer_env.cli import main
from drivedreamer_env.config import load_config
from drivedreamer_env.data.tokens import TokenShardSource, read_token_clip, write_token_clip
from drivedreamer_env.models.checkpoint import save_component
from drivedreamer_env.models.masking import MODES, RESTYLE_MODES, MaskConfig, build_inputs, sample_masks
from drivedreamer_env.models.tokenizer import VisualTokenizer
from drivedreamer_env.training.token_data import TokenWindows
from drivedreamer_env.training.world_model_config import WorldModelTrainConfig

MASK_ID = 1000
B_WARP = MaskConfig(predict=0.2, next=0.15, warp=0.4, dynamic=0.08, full=0.07, region=0.1, warp_remask_max=0.5)


def _digest(cfg: MaskConfig) -> str:
    """A hash of one seeded batch's masks, modes, inputs and loss positions (the golden values below were
    computed with the masking code before the restyle modes existed)."""
    g = torch.Generator().manual_seed(123)
    masks, modes = sample_masks(16, 8, 8, 16, cfg, g)
    tok = torch.randint(0, 1000, (16, 8, 8, 16), generator=torch.Generator().manual_seed(5))
    prop = torch.randint(0, 1000, (16, 8, 8, 16), generator=torch.Generator().manual_seed(6))
    trusted = torch.rand(16, 8, 8, 16, generator=torch.Generator().manual_seed(7)) < 0.7
    out = build_inputs(tok, masks, modes, cfg, MASK_ID, g, prop, trusted)
    h = hashlib.sha256()
    for x in (masks, modes, out.tokens, out.loss_mask):
        h.update(x.numpy().tobytes())
    assert torch.equal(out.targets, tok)
    return h.hexdigest()[:16]


def test_old_configs_give_identical_batches():
    assert _digest(MaskConfig()) == "cb34b5274c19429b"
    corrupt = MaskConfig(**{**B_WARP.__dict__, "corrupt_max": 0.2})
    assert _digest(corrupt) == "10bbac28f25b5540"


def _pair(b=6, t=4, h=4, w=8):
    src = torch.randint(0, 500, (b, t, h, w), generator=torch.Generator().manual_seed(1))
    twin = torch.randint(500, 1000, (b, t, h, w), generator=torch.Generator().manual_seed(2))
    return src, twin


@pytest.mark.parametrize("mode", ["restyle", "restyle_region"])
def test_restyle_inputs_never_show_the_target_style_and_score_against_the_twin(mode):
    cfg = MaskConfig(**{**B_WARP.__dict__, mode: 1.0})
    src, twin = _pair()
    g = torch.Generator().manual_seed(0)
    masks, modes = sample_masks(*src.shape, cfg, g, paired=torch.ones(len(src), dtype=torch.bool))
    assert set(modes.tolist()) == {MODES.index(mode)}
    out = build_inputs(src, masks, modes, cfg, MASK_ID, g, paired=twin)
    shown = out.tokens != MASK_ID
    assert torch.equal(out.tokens[shown], src[shown]), "the input shows only the source-style tokens"
    assert not (out.tokens[shown] >= 500).any()
    assert torch.equal(out.loss_mask, masks) and masks.any(dim=(1, 2, 3)).all() and (~masks).any()
    assert torch.equal(out.targets, twin), "the loss targets are the twin's tokens"
    if mode == "restyle_region":
        assert (masks == masks[:, :1]).all(), "the same box in every frame"


def test_restyle_masks_the_flat_tokens_first():
    cfg = MaskConfig(restyle=1.0, restyle_flat_min=0.5, restyle_flat_max=0.5, restyle_random_max=0.0)
    energy = torch.rand(4, 3, 4, 8, generator=torch.Generator().manual_seed(3))
    masks, _ = sample_masks(4, 3, 4, 8, cfg, torch.Generator().manual_seed(0), torch.ones(4, dtype=torch.bool), energy)
    assert (masks.flatten(2).sum(-1) == 16).all(), "half of every frame"
    # every masked token is flatter than every kept one, frame by frame
    e, m = energy.flatten(2), masks.flatten(2)
    hi = torch.where(m, e, -torch.inf).max(-1).values
    lo = torch.where(~m, e, torch.inf).min(-1).values
    assert (hi < lo).all()


def test_restyle_modes_need_a_twin_and_draw_nothing_without_one():
    cfg = MaskConfig(**{**B_WARP.__dict__, "restyle": 0.2, "restyle_region": 0.1})
    g = torch.Generator().manual_seed(0)
    has = torch.arange(400) % 2 == 0
    _, modes = sample_masks(400, 4, 4, 8, cfg, g, paired=has)
    restyled = torch.isin(modes, torch.tensor(RESTYLE_MODES))
    assert not restyled[~has].any(), "a sample without a twin keeps the ordinary mix"
    assert 0.2 < restyled[has].float().mean() < 0.4  # 30 % of the paired samples
    src, _ = _pair()
    masks, modes = sample_masks(*src.shape, MaskConfig(restyle=1.0), g, paired=torch.ones(6, dtype=torch.bool))
    with pytest.raises(ValueError, match="paired twin"):
        build_inputs(src, masks, modes, cfg, MASK_ID, g)
    with pytest.raises(ValueError, match="<= 1"):
        MaskConfig(restyle=0.7, restyle_region=0.5).paired_probs()


def test_token_shards_round_trip_the_twin_and_old_shards_read_without_one(tmp_path):
    tokens = np.arange(2 * 4 * 8).reshape(2, 4, 8) % 125
    acts, times = np.zeros((2, 2), np.float32), np.array([0.0, 0.1])
    write_token_clip(tmp_path / "old.safetensors", tokens, acts, times, "day, clear", {})
    old = read_token_clip(tmp_path / "old.safetensors")
    assert old.paired_tokens is None and old.paired_text is None and old.edge_energy is None
    energy = np.random.default_rng(0).random((2, 4, 8))
    twin = (tokens + 1) % 125
    write_token_clip(tmp_path / "new.safetensors", tokens, acts, times, "day, clear", {}, paired=(twin, "night, clear"),
                     edge_energy=energy)  # fmt: skip
    new = read_token_clip(tmp_path / "new.safetensors")
    assert np.array_equal(new.paired_tokens, twin) and new.paired_text == "night, clear"
    np.testing.assert_allclose(new.edge_energy, energy, atol=1e-3)
    with pytest.raises(ValueError, match="must match"):
        write_token_clip(tmp_path / "bad.safetensors", tokens, acts, times, "", {}, paired=(twin[:1], "x"))


@pytest.fixture(scope="module")
def paired_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("paired")
    save_component(root / "tok", "tokenizer", VisualTokenizer(TINY_TOKENIZER), TINY_TOKENIZER)
    args = ["data", "paired", "--checkpoint", str(root / "tok"), "--drives", "2", "--frames", "6"]
    assert main([*args, "--styles-per-drive", "3", "--proposals", "--out", str(root / "tokens")]) == 0
    return root


def test_data_paired_writes_each_clip_with_its_twin(paired_dir):
    clips = list(TokenShardSource(paired_dir / "tokens"))
    assert len(clips) == 6  # 2 drives x 3 styles
    for k, clip in enumerate(clips):
        drive = clips[3 * (k // 3) : 3 * (k // 3) + 3]
        twin = drive[(k % 3 + 1) % 3]  # cyclic: style k's twin is style k + 1 of the same drive
        assert np.array_equal(clip.paired_tokens, twin.tokens) and clip.paired_text == twin.text
        assert clip.meta["paired_style"] == twin.meta["style"] != clip.meta["style"]
        assert clip.text.split(", ", 2)[2] == clip.paired_text.split(", ", 2)[2]  # same road and traffic
        assert clip.edge_energy.shape == clip.tokens.shape and clip.proposal is not None
        assert np.array_equal(clip.actions, twin.actions)


def _cfg(tmp_path, masking: str) -> WorldModelTrainConfig:
    path = tmp_path / "wm.yaml"
    path.write_text(TINY_WM_TRAIN_YAML.replace("MAX", "2") + f"masking: {masking}\n")
    cfg = load_config(WorldModelTrainConfig, str(path))
    cfg.model.codebook_size, cfg.model.grid_h, cfg.model.grid_w = 125, 4, 8
    return cfg


def test_training_step_scores_restyle_samples_against_the_twin_with_its_caption(paired_dir, tmp_path, monkeypatch):
    import drivedreamer_env.training.world_model_module as wmm

    cfg = _cfg(tmp_path, "{restyle: 0.5, restyle_region: 0.5}")
    clips = list(TokenShardSource(paired_dir / "tokens"))
    ds = TokenWindows(clips, 4, cfg.model, 4, paired=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    module = wmm.WorldModelModule(cfg)
    seen = {}
    monkeypatch.setattr(wmm.F, "cross_entropy", lambda logits, target: seen.setdefault("target", target) * 0.0)
    encode = module.model.encode_text
    monkeypatch.setattr(module.model, "encode_text", lambda words: encode(seen.setdefault("words", words)))
    module._common_step(batch, seed=0, dropout=False)
    g = torch.Generator().manual_seed(0)
    masks, _ = sample_masks(4, 4, 4, 8, cfg.masking, g, batch["has_paired"], batch["edge_energy"])
    assert torch.equal(seen["target"], batch["paired_tokens"][masks])
    assert torch.equal(seen["words"], batch["paired_words"]) and not torch.equal(batch["words"], batch["paired_words"])


def test_paired_fast_dev_run_mixes_paired_and_ordinary_shards(paired_dir, tmp_path):
    assert main(["data", "sim", "--episodes", "1", "--steps", "10", "--out", str(tmp_path / "sim")]) == 0
    tok = ["data", "tokenize", "--checkpoint", str(paired_dir / "tok"), "--data", f"sim:{tmp_path / 'sim'}"]
    assert main([*tok, "--proposals", "--out", str(tmp_path / "tokens")]) == 0
    path = tmp_path / "wm.yaml"
    masking = "masking: {predict: 0.3, warp: 0.4, dynamic: 0.3, restyle: 0.2, restyle_region: 0.1}\n"
    path.write_text(TINY_WM_TRAIN_YAML.replace("MAX", "2") + masking)
    data = f"tokens:{paired_dir / 'tokens'}@0.5,tokens:{tmp_path / 'tokens'}@0.5"
    args = ["train", "world-model", "--config", str(path), "--data", data, "--out", str(tmp_path / "wm")]
    assert main([*args, "--fast-dev-run"]) == 0
