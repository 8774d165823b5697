"""Resumable training state in safetensors + JSON (no pickle): model, optimizers and the step counter.

Layout: ``DIR/train_state/{model.safetensors, optim_<i>.safetensors, optim_<i>.json, state.json}``. Optimizer
state tensors are flattened to ``state.<param index>.<key>``; their scalars and param-group hyper-parameters go to
``optim_<i>.json``, so ``state.json`` stays a short, readable record (step, seconds, data, config, ``optimizers``:
how many). States written before this layout (optimizer internals inside ``state.json``) still load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from drivedreamer_env.io_utils import atomic_path, write_json
from drivedreamer_env.models.checkpoint import CheckpointError, load_state_strict, read_json, unique_state

STATE_DIR = "train_state"


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entries in sd["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"scalars": scalars, "param_groups": sd["param_groups"]}


def _unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for name, value in info["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def save_training_state(
    directory: str | Path, model: torch.nn.Module, optimizers: list[torch.optim.Optimizer], step: int, extra: dict
) -> None:
    """Write the full training state; the JSON is written last, so a crash mid-save keeps the old state."""
    d = Path(directory) / STATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / "model.safetensors") as tmp:
        save_file(unique_state(model), str(tmp))
    for i, opt in enumerate(optimizers):
        tensors, info = _flatten_optimizer(opt)
        with atomic_path(d / f"optim_{i}.safetensors") as tmp:
            save_file(tensors, str(tmp))
        write_json(d / f"optim_{i}.json", info)
    write_json(d / "state.json", {"step": int(step), "optimizers": len(optimizers), **extra})


def load_training_state(directory: str | Path, model: torch.nn.Module) -> dict[str, Any] | None:
    """Restore the model from ``DIR/train_state``; returns its JSON, or None when there is none.

    Optimizers are restored separately (:func:`load_optimizer_states`) once the trainer has built them.
    """
    d = Path(directory) / STATE_DIR
    if not (d / "state.json").is_file():
        return None
    info = read_json(d / "state.json")
    load_state_strict(model, d / "model.safetensors", d / "state.json")
    return info


def load_optimizer_states(directory: str | Path, optimizers: list[torch.optim.Optimizer]) -> None:
    d = Path(directory) / STATE_DIR
    saved = read_json(d / "state.json")["optimizers"]
    legacy = isinstance(saved, list)  # the old layout: every optimizer's JSON inside state.json
    count = len(saved) if legacy else int(saved)
    if count != len(optimizers):
        raise CheckpointError(f"{d / 'state.json'} has {count} optimizers, training uses {len(optimizers)}")
    for i, opt in enumerate(optimizers):
        info = saved[i] if legacy else read_json(d / f"optim_{i}.json")
        _unflatten_optimizer(opt, load_file(str(d / f"optim_{i}.safetensors")), info)
