"""STPT: the Spatial-Temporal Patchwise Transformer of WorldDreamer (arXiv 2401.09985), causal in time.

Each layer, pre-norm and residual:
  1. a depthwise 3D convolution over (time, h, w), causal in time (``conv_frames`` frames);
  2. patchwise spatio-temporal attention: tokens in ``window x window`` windows attend across frames, causally,
     with rotary (RoPE) positions in time, so only time *differences* matter;
  3. spatial attention among all tokens of a frame;
  4. cross-attention to the condition tokens of the frame: text tokens, a learned null token (always present,
     the unconditional target of classifier-free guidance) and the actions of the ``action_window`` previous
     frames (the action of frame t drives the transition t -> t+1, so frame t sees actions t-K .. t-1);
  5. an MLP.

Nothing in a layer depends on absolute time, so a rollout caches the conv inputs and attention keys/values of
past frames (:class:`STPTCache`), slides the cache past ``context_frames`` and pays only for the new frame.
Training and cached inference run the same layer code: training passes no cache; inference writes the new
frames' keys/values in place into the cache's preallocated ring buffers and attends over the whole buffer with
a mask (attention does not care in which order its keys are stored), so no pass concatenates or copies the past.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from drivedreamer_env.models.text import HashedTextEncoder, TextEncoderConfig, text_inputs


@dataclass
class STPTConfig:
    """World-model hyper-parameters (serialised into the checkpoint's ``config.json``)."""

    codebook_size: int = 1920  # tokenizer codes; id ``codebook_size`` is the mask token
    grid_h: int = 8
    grid_w: int = 16
    dim: int = 256
    layers: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    window: int = 2  # patchwise attention window (tokens per side)
    conv_frames: int = 3  # temporal extent of the causal depthwise conv
    action_window: int = 4  # frame t attends to the actions of frames t-K .. t-1
    action_scale: tuple[float, float] = (10.0, 0.5)  # [m/s, rad/s] that map to unit inputs
    # also add an embedding of the frame's K previous actions to all its input tokens (besides cross-attention):
    # a direct path into the residual stream makes the model learn ego-motion control much faster
    action_input: bool = False
    # per-layer action conditioning (adaLN, as in DiT / Oasis / DIAMOND): the frame's action features scale and
    # shift the normalised input of every attention and MLP sublayer; zero-initialised, so a warm start begins
    # from the same function
    action_adaln: bool = False
    context_frames: int = 16  # frames a rollout keeps in its cache
    # factorised FSQ head: the FSQ levels of the tokenizer (their product is ``codebook_size``; code index
    # sum_d digit_d * prod(levels[:d]), as vector-quantize-pytorch numbers them). One softmax per FSQ dimension
    # instead of one over all codes, so a near miss (one digit off) keeps most of its log-likelihood. The
    # logits handed out are the joint log-probabilities, sum_d log p_d(digit_d), so the loss and the sampler are
    # unchanged. Empty: one softmax over the codebook.
    factorised_head: tuple[int, ...] = ()
    # also add an embedding of each token's warp proposal (the previous frame reprojected by the action and
    # encoded; the mask id where there is none) to the input, aligned with the token: the model sees the
    # proposal even where the token is masked. Zero-initialised, so a warm start begins from the same function;
    # the null value wherever actions are dropped (a proposal is made from the action).
    proposal_input: bool = False
    event_names: tuple[str, ...] = ("off_road", "collision")
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    def __post_init__(self) -> None:
        self.action_scale = tuple(self.action_scale)
        self.factorised_head = tuple(int(v) for v in self.factorised_head)
        self.event_names = tuple(self.event_names)
        if self.grid_h % self.window or self.grid_w % self.window:
            raise ValueError(f"token grid {self.grid_h}x{self.grid_w} must be divisible by window {self.window}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.heads} heads of even size")

    @property
    def mask_id(self) -> int:
        return self.codebook_size


CL3D = torch.channels_last_3d
SPARE_FRAMES = 2  # free ring slots beyond ``keep``: a pass that caches one frame and decodes the next fits


@dataclass
class STPTCache:
    """Per-layer state of the frames already processed, for incremental (rollout) inference.

    The keys/values live in ring buffers of ``slots`` frames, shared by all rows: held frame j (0 = oldest) sits
    in slot ``(oldest + j) % slots``; a pass writes its new frames into the next free slots, and
    :meth:`STPT.commit` only moves ``oldest`` and ``held``. Sliding past ``keep`` frames moves an index, not
    tensors. Commit updates the cache in place; :meth:`clone` copies it for a branch.

    ``conv[i]``: (B, D, conv_frames - 1, h, w) normalised inputs of the last frames to layer i's conv.
    ``k[i]``, ``v[i]``: (B * windows, heads, slots * window^2, head_dim) patchwise-attention key/value buffers.
    ``t_next``: absolute index of the next frame.
    ``pos_offset``: (B,) int64 or None: row b's frames sit at time positions ``t - pos_offset[b]``. A batched
    environment restarts single rows at position 0 this way, so every row computes exactly what a fresh
    rollout would, whatever the other rows do.
    ``keep``: frames held at most; ``held``: frames held now; ``oldest``: the slot of the oldest held frame.
    """

    conv: list[torch.Tensor]
    k: list[torch.Tensor]
    v: list[torch.Tensor]
    t_next: int = 0
    _tokens_per_frame: int = 4  # window ** 2: attention entries per frame
    pos_offset: torch.Tensor | None = None
    keep: int = 16
    held: int = 0
    oldest: int = 0

    @property
    def frames(self) -> int:
        """Frames currently held in the cache."""
        return self.held

    @property
    def slots(self) -> int:
        return self.k[0].shape[2] // self._tokens_per_frame if self.k else 0

    def entry_order(self) -> torch.Tensor:
        """Buffer entries of the held frames, oldest frame first: (held * window^2,) int64."""
        return self._entries([(self.oldest + j) % self.slots for j in range(self.held)])

    def free_entries(self, n: int) -> torch.Tensor:
        """Buffer entries the next ``n`` new frames are written to (:meth:`reserve` them first)."""
        return self._entries([(self.oldest + self.held + j) % self.slots for j in range(n)])

    def _entries(self, slots: list[int]) -> torch.Tensor:
        p = self._tokens_per_frame
        base = torch.tensor(slots, dtype=torch.long, device=self.k[0].device if self.k else None)
        return (base[:, None] * p + torch.arange(p, device=base.device)).reshape(-1)

    def reserve(self, n: int) -> None:
        """Make room for ``n`` new frames beside the held ones (re-laying the buffers out only if they are full)."""
        if self.held + n > self.slots:
            self._relayout(self.held + n)

    def _relayout(self, slots: int) -> None:
        """Copy the held frames, oldest first, into fresh buffers of ``slots`` frames."""
        order = self.entry_order()
        for buffers in (self.k, self.v):
            for i, buf in enumerate(buffers):
                new = buf.new_zeros(buf.shape[0], buf.shape[1], slots * self._tokens_per_frame, buf.shape[3])
                new[:, :, : len(order)] = buf[:, :, order]
                buffers[i] = new
        self.oldest = 0

    def attention_mask(self, tn: int) -> torch.Tensor:
        """(tn * window^2, slots * window^2) bool: what new frame i attends to.

        Exactly what it would see had the new frames been cached one at a time: the new frames 0 .. i and the
        last ``keep - i`` held frames (the older ones would have slid out by then). So one pass that caches a
        frame and decodes the next gives the logits of two passes. Built once per ring state and shape.
        """
        device = self.k[0].device
        return _window_mask(self.slots, self.oldest, self.held, self.keep, tn, self._tokens_per_frame, str(device))

    def clone(self, rows: torch.Tensor | None = None) -> STPTCache:
        """A copy (of rows ``rows`` only, repeats allowed) that shares no storage with this cache."""
        idx = rows if rows is not None else torch.arange(self.conv[0].shape[0], device=self.conv[0].device)
        nwin = self.k[0].shape[0] // self.conv[0].shape[0]
        kv = (idx[:, None] * nwin + torch.arange(nwin, device=idx.device)).reshape(-1)
        return STPTCache(
            [c[idx].clone() for c in self.conv], [k[kv].clone() for k in self.k], [v[kv].clone() for v in self.v],
            self.t_next, self._tokens_per_frame, None if self.pos_offset is None else self.pos_offset[idx].clone(),
            self.keep, self.held, self.oldest,
        )  # fmt: skip


@dataclass
class Conditions:
    cond: torch.Tensor  # (B * Tn, Lc, D) condition tokens per new frame: text, null, actions
    cond_mask: torch.Tensor  # (B * Tn, Lc) True = attend
    add: torch.Tensor | None  # (B, Tn, D) additive action input (``action_input``)
    adaln: torch.Tensor | None  # (B, Tn, D) action features the layers modulate with (``action_adaln``)


@dataclass
class STPTOutput:
    # (B, Tn, h, w, codebook_size); with a ``head`` mask the packed (M, codebook_size) logits of its True entries
    # in row-major order; None when the head was skipped
    logits: torch.Tensor | None
    events: torch.Tensor  # (B, Tn, n_events) logits
    new_conv: list[torch.Tensor]  # per layer: (B, D, Tn, h, w) normalised conv inputs of the new frames


@dataclass
class _Pass:
    """What every layer of one forward pass shares: the rotary tables of the new entries, where they are written
    in the cache's buffers (None: no cache, as in training) and what each new entry may attend to."""

    rot: torch.Tensor  # complex rotary table, broadcastable against (N, heads, Sq, head_dim / 2)
    write: torch.Tensor | None  # (Sq,) buffer entries of the new frames
    mask: torch.Tensor  # (Sq, Sk) bool, True = attend


@functools.lru_cache(maxsize=256)
def _window_mask(slots: int, oldest: int, held: int, keep: int, tn: int, p: int, device: str) -> torch.Tensor:
    """:meth:`STPTCache.attention_mask` for one ring state (read-only: shared by every pass in that state)."""
    never = tn  # a bound no new frame index reaches
    lo = torch.full((slots,), never, dtype=torch.long)  # slot seen by new frames lo .. hi
    hi = torch.full((slots,), never, dtype=torch.long)
    held_slots = [(oldest + j) % slots for j in range(held)]
    lo[held_slots] = 0
    hi[held_slots] = torch.arange(held) + (keep - held)  # held frame j slides out after that
    new = [(oldest + held + j) % slots for j in range(tn)]
    lo[new] = torch.arange(tn)
    q = torch.arange(tn).repeat_interleave(p)[:, None]
    return ((lo.repeat_interleave(p)[None, :] <= q) & (q <= hi.repeat_interleave(p)[None, :])).to(device)


@functools.lru_cache(maxsize=8)
def _rope_freqs(hd: int, device: str) -> torch.Tensor:
    return 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)).to(device)


def rope_table(pos: torch.Tensor, hd: int) -> torch.Tensor:
    """Unit complex rotations (..., S, hd/2) of rotary positions (S,) or broadcastable (N, 1, S)."""
    ang = pos.to(torch.float32)[..., None] * _rope_freqs(hd, str(pos.device))
    return torch.polar(torch.ones_like(ang), ang)


def apply_rope(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate the (even, odd) feature pairs of ``x`` (..., S, hd) by ``rot`` (one complex multiply: on a CPU
    about 20x faster than rotating strided halves)."""
    pairs = torch.view_as_complex(x.float().contiguous().view(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rot).flatten(-2).to(x.dtype)


def rope(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of (..., S, hd) by positions (S,) or broadcastable (N, 1, S) (frames); relative offsets
    survive the dot product."""
    return apply_rope(x, rope_table(pos, x.shape[-1]))


class STPTLayer(nn.Module):
    def __init__(self, cfg: STPTConfig) -> None:
        super().__init__()
        d, self.heads, self.win = cfg.dim, cfg.heads, cfg.window
        self.kt = cfg.conv_frames
        self.norm_conv = nn.LayerNorm(d)
        self.conv = nn.Conv3d(d, d, (self.kt, 3, 3), padding=(0, 1, 1), groups=d)
        self.norm_patch = nn.LayerNorm(d)
        self.qkv_patch = nn.Linear(d, 3 * d)
        self.out_patch = nn.Linear(d, d)
        self.norm_space = nn.LayerNorm(d)
        self.qkv_space = nn.Linear(d, 3 * d)
        self.out_space = nn.Linear(d, d)
        self.norm_cross = nn.LayerNorm(d)
        self.q_cross = nn.Linear(d, d)
        self.kv_cross = nn.Linear(d, 2 * d)
        self.out_cross = nn.Linear(d, d)
        self.norm_mlp = nn.LayerNorm(d)
        hidden = int(cfg.mlp_ratio * d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.ada = None
        if cfg.action_adaln:  # action features -> (scale, shift) for the patch, space, cross and MLP norms
            self.ada = nn.Linear(d, 8 * d)
            nn.init.zeros_(self.ada.weight)
            nn.init.zeros_(self.ada.bias)

    def forward(
        self,
        x: torch.Tensor,  # (B, Tn, h, w, D) new frames
        plan: _Pass,
        cond: torch.Tensor,  # (B * Tn, Lc, D) condition tokens per new frame
        cond_mask: torch.Tensor,  # (B * Tn, Lc) True = attend
        past_conv: torch.Tensor,  # (B, D, kt - 1, h, w)
        k_buf: torch.Tensor | None,  # (B * nwin, H, slots * window^2, hd) the cache's buffers, or None
        v_buf: torch.Tensor | None,
        action_feats: torch.Tensor | None = None,  # (B, Tn, D) per-frame action features for adaLN
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, tn, h, w, d = x.shape
        heads, e, p = self.heads, d // self.heads, self.win
        nh, nw = h // p, w // p
        mods = self._modulations(action_feats)
        # (plain views and permutes below, not einops: at batch 1 its per-call parsing was 10 % of a pass)
        # 1. causal depthwise conv in time: the past frames' normalised inputs pad the front
        y = self.norm_conv(x).permute(0, 4, 1, 2, 3)  # (B, D, Tn, h, w), channels-last in memory
        x = x + self.conv(torch.cat([past_conv, y], dim=2)).permute(0, 2, 3, 4, 1)
        # 2. patchwise spatio-temporal attention, causal in time: the new keys/values go into the cache's buffers
        qkv = self.qkv_patch(mods[0](self.norm_patch(x)))  # (B, Tn, h, w, 3D)
        qkv = qkv.view(b, tn, nh, p, nw, p, 3, heads, e).permute(6, 0, 2, 4, 7, 1, 3, 5, 8)
        qkv = qkv.reshape(3, b * nh * nw, heads, tn * p * p, e)  # (s, windows, H, frames x window^2, e)
        qk = apply_rope(qkv[:2], plan.rot)
        q, k, v = qk[0], qk[1], qkv[2]
        if k_buf is not None:
            k, v = k_buf.index_copy_(2, plan.write, k), v_buf.index_copy_(2, plan.write, v)
        att = _window_attention(q, k, v, plan.mask).reshape(b, nh, nw, heads, tn, p, p, e)
        x = x + self.out_patch(att.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, tn, h, w, d))
        # 3. spatial attention within each frame
        qkv = self.qkv_space(mods[1](self.norm_space(x))).view(b * tn, h * w, 3, heads, e).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B * Tn, H, h * w, e)
        x = x + self.out_space(att.transpose(1, 2).reshape(b, tn, h, w, d))
        # 4. cross-attention to the frame's condition tokens
        q = self.q_cross(mods[2](self.norm_cross(x))).view(b * tn, h * w, heads, e).transpose(1, 2)
        kv = self.kv_cross(cond).view(cond.shape[0], cond.shape[1], 2, heads, e).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=cond_mask[:, None, None, :])
        x = x + self.out_cross(att.transpose(1, 2).reshape(b, tn, h, w, d))
        # 5. MLP
        x = x + self.mlp(mods[3](self.norm_mlp(x)))
        return x, y

    def _modulations(self, action_feats: torch.Tensor | None) -> list:
        """Four norm-output modulations ``n -> n * (1 + scale) + shift`` (identity without adaLN)."""
        if self.ada is None or action_feats is None:
            return [_identity] * 4
        chunks = self.ada(action_feats)[:, :, None, None].chunk(8, dim=-1)  # each (B, Tn, 1, 1, D)

        def modulate(scale: torch.Tensor, shift: torch.Tensor):
            return lambda n: n * (1.0 + scale) + shift

        return [modulate(chunks[2 * i], chunks[2 * i + 1]) for i in range(4)]


def _conv_state(batch: int, cfg: STPTConfig, device: torch.device | str) -> torch.Tensor:
    """Zero conv inputs of the frames before the first, (B, D, conv_frames - 1, h, w), channels-last: the layout
    the normalised tokens already have, in which the depthwise conv runs about 2x faster on a CPU."""
    shape = (batch, cfg.dim, cfg.conv_frames - 1, cfg.grid_h, cfg.grid_w)
    return torch.zeros(shape, device=device).contiguous(memory_format=CL3D)


def _window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked attention of the patchwise windows: a few queries against a few dozen keys, in very many windows.

    Without gradients (inference) it runs as two batched matmuls and a softmax, which on a CPU is about twice
    as fast as the fused kernel at these shapes (measured 0.19 vs 0.35 ms at a batch of 1, 16 vs 30 ms at 64)
    and equal within 1e-6; training keeps the fused kernel and its memory-lean backward.
    """
    if torch.is_grad_enabled():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    return torch.softmax(scores.masked_fill_(~mask, float("-inf")), dim=-1) @ v


def _digit_columns(levels: tuple[int, ...]) -> torch.Tensor:
    """(dims, V) int64: for every code, the column of its digit in each FSQ dimension among the concatenated
    per-dimension logits (digit d of code i is ``i // prod(levels[:d]) % levels[d]``)."""
    codes = torch.arange(math.prod(levels))
    cols, basis, offset = [], 1, 0
    for n in levels:
        cols.append(codes // basis % n + offset)
        basis, offset = basis * n, offset + n
    return torch.stack(cols)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class STPT(nn.Module):
    """Masked-token world model. ``forward`` predicts logits for every token of the new frames."""

    def __init__(self, cfg: STPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.tok_emb = nn.Embedding(cfg.codebook_size + 1, d)
        self.space_pos = nn.Parameter(torch.zeros(cfg.grid_h, cfg.grid_w, d))
        hashed = cfg.text.kind == "hashed"
        self.text_encoder = HashedTextEncoder(cfg.text) if hashed else None  # "sentence": frozen, outside the model
        self.text_proj = nn.Linear(cfg.text.dim if hashed else cfg.text.sentence_dim, d)
        self.action_mlp = nn.Sequential(nn.Linear(2, d), nn.SiLU(), nn.Linear(d, d))
        self.action_offset = nn.Parameter(torch.zeros(cfg.action_window, d))  # "k frames ago"
        if cfg.action_input:  # K actions (scaled) + K validity flags -> one vector per frame
            k = cfg.action_window
            self.action_in = nn.Sequential(nn.Linear(3 * k, d), nn.SiLU(), nn.Linear(d, d))
            self.action_in_null = nn.Parameter(torch.zeros(d))
        if cfg.action_adaln:  # the same K actions + flags -> per-frame features the layers modulate with
            k = cfg.action_window
            self.action_ada = nn.Sequential(nn.Linear(3 * k, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU())
            self.action_ada_null = nn.Parameter(torch.zeros(d))
        if cfg.proposal_input:
            self.proposal_emb = nn.Embedding(cfg.codebook_size + 1, d)  # id codebook_size: no proposal
            nn.init.zeros_(self.proposal_emb.weight)
        self.null_token = nn.Parameter(torch.zeros(d))
        self.layers = nn.ModuleList(STPTLayer(cfg) for _ in range(cfg.layers))
        self.norm_out = nn.LayerNorm(d)
        if cfg.factorised_head:
            levels = cfg.factorised_head
            if math.prod(levels) != cfg.codebook_size:
                raise ValueError(
                    f"factorised_head levels {list(levels)} have {math.prod(levels)} codes, "
                    f"but the codebook has {cfg.codebook_size}"
                )
            self.head_factors = nn.Linear(d, sum(levels))
            self.register_buffer("head_columns", _digit_columns(levels), persistent=False)
        else:
            self.head = nn.Linear(d, cfg.codebook_size)
        self.event_head = nn.Linear(d, len(cfg.event_names)) if cfg.event_names else None
        for p in (self.space_pos, self.action_offset, self.null_token):
            nn.init.normal_(p, std=0.02)
        if cfg.action_input:
            # zero output at first: a model warm-started without this input starts from the same function
            nn.init.zeros_(self.action_in[-1].weight)
            nn.init.zeros_(self.action_in[-1].bias)
            nn.init.zeros_(self.action_in_null)

    # ------------------------------------------------------------------ conditions
    def text_inputs(self, texts: list[str]) -> torch.Tensor:
        """Captions -> the tensor :meth:`encode_text` takes (word ids, or frozen sentence-token embeddings)."""
        return text_inputs(self.cfg.text, texts)

    def encode_text(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Text inputs -> condition tokens (B, L, D) and mask (B, L).

        ``inputs``: (B, L) int64 hashed word ids (0 pads), or (B, L, 384) float frozen embeddings (zero rows pad).
        """
        if inputs.dtype == torch.long:
            if self.text_encoder is None:
                raise ValueError("this model uses the sentence text encoder: pass embeddings from text_inputs()")
            tokens, mask = self.text_encoder(inputs)
            return self.text_proj(tokens), mask
        return self.text_proj(inputs), inputs.abs().sum(-1) > 0

    def _conditions(
        self,
        b: int,
        tn: int,
        t0: int,
        text: tuple[torch.Tensor, torch.Tensor] | None,
        actions: torch.Tensor | None,
        action_t0: int,
        drop_text: torch.Tensor | None,
        drop_actions: torch.Tensor | None,
        device: torch.device,
    ) -> Conditions:
        """Condition tokens and mask for each new frame, and the per-frame action vectors."""
        d = self.cfg.dim
        parts, masks = [], []
        if text is not None:
            tok, m = text
            if drop_text is not None:
                m = m & ~drop_text[:, None]
            parts.append(tok[:, None].expand(b, tn, *tok.shape[1:]))
            masks.append(m[:, None].expand(b, tn, m.shape[1]))
        parts.append(self.null_token.expand(b, tn, 1, d))
        masks.append(torch.ones(b, tn, 1, dtype=torch.bool, device=device))
        if actions is not None and actions.shape[1] == 0:
            actions = None  # no action known yet
        add = ada = None
        if actions is not None:
            window, m = self._action_window(b, tn, t0, actions, action_t0, drop_actions)
            parts.append(self.action_mlp(window) + self.action_offset)
            masks.append(m)
            flags = m.to(window.dtype)[..., None]  # (B, Tn, K, 1)
            feats = torch.cat([window * flags, flags], dim=-1).reshape(b, tn, -1)  # (B, Tn, 3K)
            known = m.any(-1, keepdim=True)
            if self.cfg.action_input:
                add = torch.where(known, self.action_in(feats), self.action_in_null)
            if self.cfg.action_adaln:
                ada = torch.where(known, self.action_ada(feats), self.action_ada_null)
        else:
            add = self.action_in_null.expand(b, tn, d) if self.cfg.action_input else None
            ada = self.action_ada_null.expand(b, tn, d) if self.cfg.action_adaln else None
        cond = torch.cat(parts, dim=2).reshape(b * tn, -1, d)
        return Conditions(cond, torch.cat(masks, dim=2).reshape(b * tn, -1), add, ada)

    def _action_window(
        self,
        b: int,
        tn: int,
        t0: int,
        actions: torch.Tensor,
        action_t0: int,
        drop_actions: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The K actions before each new frame, scaled (B, Tn, K, 2), and which are known (B, Tn, K)."""
        kwin, device = self.cfg.action_window, actions.device
        scale = torch.tensor(self.cfg.action_scale, device=device, dtype=actions.dtype)
        scaled = actions / scale  # (B, A, 2)
        frame = torch.arange(t0, t0 + tn, device=device)[:, None]  # (Tn, 1)
        src = frame - torch.arange(1, kwin + 1, device=device)[None]  # abs action index, (Tn, K)
        idx = src - action_t0
        valid = (idx >= 0) & (idx < actions.shape[1])
        window = scaled[:, idx.clamp(0, actions.shape[1] - 1)]  # (B, Tn, K, 2)
        m = valid[None].expand(b, tn, kwin)
        if drop_actions is not None:
            m = m & ~drop_actions[:, None, None]
        return window, m

    # ------------------------------------------------------------------ forward
    def empty_cache(self, batch: int, device: torch.device | str = "cpu", keep_frames: int | None = None) -> STPTCache:
        """A cache for ``batch`` rows that holds up to ``keep_frames`` frames (default ``context_frames``)."""
        c = self.cfg
        keep = keep_frames or c.context_frames
        hd = c.dim // c.heads
        nwin = (c.grid_h // c.window) * (c.grid_w // c.window)
        entries = (keep + SPARE_FRAMES) * c.window**2
        conv = [_conv_state(batch, c, device) for _ in self.layers]
        k = [torch.zeros(batch * nwin, c.heads, entries, hd, device=device) for _ in self.layers]
        return STPTCache(conv, k, [t.clone() for t in k], 0, c.window**2, keep=keep)

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        actions: torch.Tensor | None = None,
        action_t0: int = 0,
        text: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: STPTCache | None = None,
        drop_text: torch.Tensor | None = None,
        drop_actions: torch.Tensor | None = None,
        head: bool | torch.Tensor = True,
        proposal: torch.Tensor | None = None,
    ) -> STPTOutput:
        """Logits for new frames ``tokens`` (B, Tn, h, w) (mask id where unknown) after the cached frames.

        Args:
            actions: (B, A, 2) canonical actions ``[speed m/s, yaw_rate rad/s]``; ``actions[:, i]`` belongs to
                absolute frame ``action_t0 + i`` and drives the transition into the frame after it.
            text: output of :meth:`encode_text`, or None for no text.
            cache: frames already processed (None: start of a clip, nothing cached). The new frames' keys and
                values are written into its free slots; :meth:`commit` then makes them part of it.
            drop_text, drop_actions: (B,) bool, replace that condition by the null condition (CFG dropout).
            head: compute the token logits (True), skip them (False: a pass that only caches frames; at a batch
                of 64 8-frame contexts they alone would take 0.5 GB), or a (B, Tn, h, w) bool mask: only the
                logits of its True entries, packed (M, V) in row-major order (a decoding pass needs only the
                still-masked tokens').
            proposal: (B, Tn, h, w) the new frames' warp-proposal tokens, mask id where there is none (None:
                none at all); used by models with ``proposal_input`` and ignored by the others.
        """
        b, tn = tokens.shape[:2]
        t0 = cache.t_next if cache is not None else 0
        x = self.tok_emb(tokens) + self.space_pos  # (B, Tn, h, w, D)
        if self.cfg.proposal_input:
            null = torch.full_like(tokens, self.cfg.mask_id)
            prop = null if proposal is None else proposal.to(tokens.device).long()
            if drop_actions is not None:
                prop = torch.where(drop_actions.to(tokens.device)[:, None, None, None], null, prop)
            x = x + self.proposal_emb(prop)
        c = self._conditions(b, tn, t0, text, actions, action_t0, drop_text, drop_actions, tokens.device)
        if c.add is not None:
            x = x + c.add[:, :, None, None]
        plan = self._plan(b, tn, t0, cache, tokens.device)
        new_conv = []
        for i, layer in enumerate(self.layers):
            past = cache.conv[i] if cache is not None else _conv_state(b, self.cfg, x.device)
            k_buf, v_buf = (cache.k[i], cache.v[i]) if cache is not None else (None, None)
            x, y = layer(x, plan, c.cond, c.cond_mask, past, k_buf, v_buf, c.adaln)
            new_conv.append(y)
        x = self.norm_out(x)
        events = self.event_head(x.mean(dim=(2, 3))) if self.event_head is not None else x.new_zeros(b, tn, 0)
        if isinstance(head, torch.Tensor):
            logits = self._head(x[head.to(x.device)])
        else:
            logits = self._head(x) if head else None
        return STPTOutput(logits, events, new_conv)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        """Token logits (..., V) of features (..., D): the joint head, or the factorised head's joint log-probs."""
        if not self.cfg.factorised_head:
            return self.head(x)
        z = self.head_factors(x).float()
        logp = torch.cat([F.log_softmax(part, dim=-1) for part in z.split(self.cfg.factorised_head, -1)], -1)
        out = logp[..., self.head_columns[0]]
        for col in self.head_columns[1:]:
            out = out + logp[..., col]
        return out

    @staticmethod
    def factorise_joint_head(tensors: dict[str, torch.Tensor], levels: tuple[int, ...]) -> dict[str, torch.Tensor]:
        """A joint-head checkpoint's tensors with ``head.*`` replaced by an initial factorised head: each digit
        value's row is the mean of the rows of the codes with that digit (a warm start, not an exact copy)."""
        if "head.weight" not in tensors:
            return tensors
        out = {k: v for k, v in tensors.items() if not k.startswith("head.")}
        columns = _digit_columns(tuple(levels))  # (dims, V): concatenated-logit column of each code's digit
        weight, bias = tensors["head.weight"], tensors["head.bias"]  # (V, D), (V,)
        rows_w, rows_b = [], []
        for d, n in enumerate(levels):
            digit = columns[d] - sum(levels[:d])
            for value in range(n):
                pick = digit == value
                rows_w.append(weight[pick].mean(0))
                rows_b.append(bias[pick].mean(0))
        out["head_factors.weight"], out["head_factors.bias"] = torch.stack(rows_w), torch.stack(rows_b)
        return out

    def _plan(self, b: int, tn: int, t0: int, cache: STPTCache | None, device: torch.device) -> _Pass:
        """Rotary tables, buffer entries and attention mask of a pass over ``tn`` new frames (shared by all
        layers)."""
        c = self.cfg
        p, nwin = c.window**2, (c.grid_h // c.window) * (c.grid_w // c.window)
        pos = torch.arange(t0, t0 + tn, device=device).repeat_interleave(p)
        if cache is not None and cache.pos_offset is not None:  # (B * nwin, 1, S): each row at its own positions
            pos = pos[None, None] - cache.pos_offset.to(device).repeat_interleave(nwin)[:, None, None]
        rot = rope_table(pos, c.dim // c.heads)
        if cache is None:
            q_frame = torch.arange(tn, device=device).repeat_interleave(p)
            return _Pass(rot, None, q_frame[None, :] <= q_frame[:, None])
        cache.reserve(tn)
        return _Pass(rot, cache.free_entries(tn), cache.attention_mask(tn))

    def commit(self, cache: STPTCache, out: STPTOutput, frames: int) -> STPTCache:
        """Make the first ``frames`` new frames of pass ``out`` (run on ``cache``) part of ``cache``, keeping at most
        its ``keep`` frames. Updates ``cache`` in place and returns it."""
        keep = cache.keep
        kt1 = self.cfg.conv_frames - 1
        if kt1:
            cache.conv = [torch.cat([past, y[:, :, :frames]], dim=2)[:, :, -kt1:].contiguous(memory_format=CL3D)
                          for past, y in zip(cache.conv, out.new_conv, strict=True)]  # fmt: skip
        drop = max(0, cache.held + frames - keep)
        cache.oldest = (cache.oldest + drop) % cache.slots
        cache.held = cache.held + frames - drop
        cache.t_next += frames
        if cache.slots > keep + SPARE_FRAMES:  # grown for a long pass: back to the usual size
            cache._relayout(keep + SPARE_FRAMES)
        return cache

    def rebase(self, cache: STPTCache, shift: torch.Tensor) -> STPTCache:
        """Move row b ``shift[b]`` frames back in time (cached keys re-rotated, ``pos_offset`` raised); logits
        are unchanged up to rounding, since attention sees only time differences. Keeps RoPE angles small in
        long rollouts."""
        nwin = cache.k[0].shape[0] // cache.conv[0].shape[0]
        pos = -shift.to(cache.k[0].device).repeat_interleave(nwin)[:, None, None]  # (B * nwin, 1, 1)
        cache.k = [rope(k, pos.expand(-1, 1, k.shape[2])) for k in cache.k]
        offset = cache.pos_offset if cache.pos_offset is not None else torch.zeros_like(shift)
        cache.pos_offset = offset + shift
        return cache
