"""Without the rl extra: the package, the CLI's help and the RL config import; the RL modules fail with the fix."""

from __future__ import annotations

import importlib
import sys

import pytest

from drivedreamer_env.cli import main


def test_rl_without_stable_baselines3_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # an import of it now raises ImportError
    for name in [m for m in sys.modules if m.startswith("drivedreamer_env.rl.")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.import_module("drivedreamer_env.rl")
    importlib.import_module("drivedreamer_env.rl.config")
    with pytest.raises(ImportError, match=r"pip install 'drivedreamer-env\[rl\]'"):
        importlib.import_module("drivedreamer_env.rl.vec_env")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "policy", "--help"])
    assert exit_info.value.code == 0 and "--num-envs" in capsys.readouterr().out
