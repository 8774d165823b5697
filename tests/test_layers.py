"""The package's layering (``[tool.importlinter]`` in pyproject.toml) holds: no module imports from a higher floor,
the simulator and the learned model are independent, and so are the evaluation, benchmark and task consumers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")
    env = {**os.environ, "PYTHONPATH": str(tree)}  # analyse this tree's package, not the installed one
    return subprocess.run([sys.executable, "-c", LINT], cwd=tree, env=env, capture_output=True, text=True)


def test_import_contracts_are_kept() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "3 kept, 0 broken" in res.stdout


def test_a_broken_layer_is_detected(tmp_path: Path) -> None:
    """The contracts are not vacuous: a copy of the tree with one upward import (models -> envs) fails them."""
    shutil.copytree(
        ROOT / "drivedreamer_env", tmp_path / "drivedreamer_env", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "drivedreamer_env" / "models" / "upward.py").write_text("from drivedreamer_env.envs import core\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "drivedreamer_env.models.upward -> drivedreamer_env.envs.core" in res.stdout


def test_no_circular_imports() -> None:
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (dev extra)")
    graph = grimp.build_graph("drivedreamer_env")
    cycles = sorted(
        (module, dep)
        for module in graph.modules
        for dep in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=dep, imported=module)
    )
    assert not cycles, cycles
