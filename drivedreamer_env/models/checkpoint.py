"""Checkpoint directories: ``config.json`` + one ``<component>.safetensors`` per model + ``meta.json``.

Never pickle. Every write is atomic. Loading checks the tensors against the config and fails with an error
that names both files and the first offending tensor.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from drivedreamer_env.io_utils import atomic_path, write_json

FORMAT_VERSION = 1
CONFIG = "config.json"
META = "meta.json"


class CheckpointError(ValueError):
    """A checkpoint directory is missing, corrupt, or its tensors do not match its config."""


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"corrupt JSON in {path}: {err}") from err


def read_config(directory: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` (checked for the format version)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {directory}")
    cfg = read_json(directory / CONFIG)
    if cfg.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{directory / CONFIG}: format_version {cfg.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    return cfg


def unique_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state as CPU tensors, each stored once: a tensor registered under several names (a submodule
    shared by two parents, such as an actor and critic sharing a feature extractor) is kept under its first name,
    which is what safetensors can save; loading it fills every alias."""
    seen: set[tuple] = set()
    state = {}
    for key, value in module.state_dict().items():
        where = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
        if where not in seen:
            seen.add(where)
            state[key] = value.detach().contiguous().cpu()
    return state


def save_component(directory: str | Path, name: str, module: nn.Module, config: Any) -> None:
    """Write ``<name>.safetensors`` and record ``config`` (a dataclass) under ``name`` in ``config.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = unique_state(module)
    with atomic_path(directory / f"{name}.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"component": name, "format_version": str(FORMAT_VERSION)})
    path = directory / CONFIG
    cfg = read_json(path) if path.is_file() else {"format_version": FORMAT_VERSION}
    cfg[name] = dataclasses.asdict(config)
    write_json(path, cfg)


def _read_tensors(tensor_path: Path, context: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing or corrupt file is a :class:`CheckpointError`."""
    if not tensor_path.is_file():
        raise CheckpointError(f"checkpoint file not found: {tensor_path}{context}")
    try:
        return load_file(str(tensor_path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"corrupt tensor file {tensor_path}: {err}") from err


def load_state_strict(module: nn.Module, tensor_path: Path, config_path: Path) -> None:
    """Load tensors into ``module``; any missing, unexpected or wrongly shaped tensor is a clear error."""
    tensors = _read_tensors(tensor_path, f" (config {config_path})")
    expected = unique_state(module)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        (k, tuple(tensors[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        detail = []
        if wrong:
            k, got, want = wrong[0]
            detail.append(f"tensor {k!r} has shape {got} but the config needs {want} ({len(wrong)} mismatched)")
        if missing:
            detail.append(f"missing {len(missing)} tensor(s), e.g. {missing[0]!r}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]!r}")
        raise CheckpointError(f"{tensor_path} does not match {config_path}: " + "; ".join(detail))
    module.load_state_dict(tensors, strict=False)  # exactly the unique tensors (checked): the rest are aliases


def load_state_grow(
    module: nn.Module,
    tensor_path: Path,
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> list[str]:
    """Warm-start ``module`` from a smaller architecture: load every tensor of ``tensor_path``; tensors the module
    has beyond them keep their initialisation and are returned by name. A checkpoint tensor the module lacks,
    or one of another shape, is an error (that is another architecture, not a grown one). ``convert`` maps the
    checkpoint's tensors first (e.g. a joint token head into a factorised one)."""
    tensors = _read_tensors(tensor_path)
    if convert is not None:
        tensors = convert(tensors)
    expected = module.state_dict()
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in tensors.items() if k in expected
             and v.shape != expected[k].shape]  # fmt: skip
    if unexpected or wrong:
        detail = [f"the model has no tensor {unexpected[0]!r} ({len(unexpected)} such)"] if unexpected else []
        if wrong:
            k, got, want = wrong[0]
            detail.append(f"tensor {k!r} has shape {got} but the model needs {want} ({len(wrong)} mismatched)")
        raise CheckpointError(f"cannot warm-start from {tensor_path}: " + "; ".join(detail))
    module.load_state_dict(tensors, strict=False)
    return sorted(set(expected) - set(tensors))


def write_meta(directory: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into ``meta.json`` (atomically) and return the result."""
    path = Path(directory) / META
    meta = read_json(path) if path.is_file() else {}
    meta.update(updates)
    write_json(path, meta)
    return meta


def load_component(directory: str | Path, name: str, config_cls: type, model_cls: type, device) -> nn.Module:
    """Build ``model_cls`` from the ``name`` section of ``config.json`` and load ``<name>.safetensors``."""
    from drivedreamer_env.config import ConfigError, from_dict

    directory = Path(directory)
    cfg = read_config(directory)
    if name not in cfg:
        raise CheckpointError(f"{directory / CONFIG} has no {name!r} section")
    try:
        component_cfg = from_dict(config_cls, cfg[name], where=f"{directory / CONFIG}:{name}")
        model = model_cls(component_cfg)
    except (ConfigError, ValueError, TypeError) as err:
        raise CheckpointError(str(err)) from err
    load_state_strict(model, directory / f"{name}.safetensors", directory / CONFIG)
    return model.to(device).eval()


def load_tokenizer(directory: str | Path, device: str | torch.device = "cpu"):
    """The tokenizer of a checkpoint directory (eval mode)."""
    from drivedreamer_env.models.tokenizer import TokenizerConfig, VisualTokenizer

    return load_component(directory, "tokenizer", TokenizerConfig, VisualTokenizer, device)


def load_stpt(directory: str | Path, device: str | torch.device = "cpu"):
    """The STPT world model of a checkpoint directory (eval mode)."""
    from drivedreamer_env.models.stpt import STPT, STPTConfig

    return load_component(directory, "world_model", STPTConfig, STPT, device)
