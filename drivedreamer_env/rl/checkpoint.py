"""Policies as checkpoint directories: ``config.json`` (``policy`` section) + ``policy.safetensors`` + ``meta.json``.

SB3's own ``.zip`` holds cloudpickled objects and loading it unpickles them, so policies are saved the way the
world models are: the weights as safetensors, and what rebuilds the network as JSON (:class:`PolicySpec`: the
algorithm, the frame size and the observation keys; the network is SB3's default ``MultiInputPolicy`` for them).
Loading builds that policy and loads the tensors strictly: a mismatch is an error naming both files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium import spaces

from drivedreamer_env.config import from_dict
from drivedreamer_env.models.checkpoint import load_component, read_config, save_component, write_meta
from drivedreamer_env.rl.config import ALGOS, POLICY_KEYS
from drivedreamer_env.rl.sb3 import ActorCriticPolicy, MultiInputActorCriticPolicy
from drivedreamer_env.sim.actions import action_space
from drivedreamer_env.sim.observations import observation_space

POLICY = "policy"  # the component name: policy.safetensors and config.json["policy"]


@dataclass
class PolicySpec:
    """What rebuilds a saved policy network.

    Attributes:
        algo: the SB3 algorithm that trained it ("ppo").
        height, width: the frame size it observes [px].
        keys: its observation keys (``POLICY_KEYS``).
        world: where it was trained ("dream" or "sim"); informational.
    """

    algo: str = "ppo"
    height: int = 64
    width: int = 128
    keys: tuple[str, ...] = POLICY_KEYS
    world: str = "dream"

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"policy algo must be one of {list(ALGOS)}, got {self.algo!r}")
        self.keys = tuple(self.keys)

    def observation_space(self) -> spaces.Dict:
        """The policy's observation space as the envs give it (channel-last frames)."""
        full = observation_space(self.height, self.width, "dict")
        unknown = sorted(set(self.keys) - set(full.spaces))
        if unknown:
            raise ValueError(f"policy observation key(s) {unknown} are not observations; known: {list(full.spaces)}")
        return spaces.Dict({k: full[k] for k in self.keys})


def _network_space(spec: PolicySpec) -> spaces.Dict:
    """The space the network sees: SB3 moves image channels first (``VecTransposeImage``) before the policy."""
    space = spec.observation_space()
    image = space["image"]
    h, w, c = image.shape
    return spaces.Dict({**space.spaces, "image": spaces.Box(0, 255, (c, h, w), image.dtype)})


def save_policy(directory: str | Path, policy: ActorCriticPolicy, spec: PolicySpec, meta: dict[str, Any]) -> None:
    """Write ``policy.safetensors``, the ``policy`` section of ``config.json`` and merge ``meta`` into meta.json."""
    save_component(directory, POLICY, policy, spec)
    write_meta(directory, meta)


def build_policy(spec: PolicySpec, device: str = "cpu") -> MultiInputActorCriticPolicy:
    """An untrained policy network of ``spec`` (SB3's default ``MultiInputPolicy`` architecture)."""
    policy = MultiInputActorCriticPolicy(_network_space(spec), action_space(), lr_schedule=lambda _: 0.0)
    return policy.to(device)


def load_policy(directory: str | Path, device: str = "cpu") -> tuple[MultiInputActorCriticPolicy, PolicySpec]:
    """The policy of a checkpoint directory (a ``train policy --out`` directory), in eval mode, and its spec.

    The policy's ``predict(obs, deterministic=True)`` takes observations as the envs give them (one or a batch).

    Raises:
        CheckpointError: a missing directory or file, no ``policy`` section, or tensors that do not match it.
    """
    policy = load_component(directory, POLICY, PolicySpec, build_policy, device)
    spec = from_dict(PolicySpec, read_config(directory)[POLICY])  # checked by load_component
    return policy, spec
