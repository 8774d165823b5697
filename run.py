#!/usr/bin/env python3
"""Project entry points that set themselves up: ``python3 run.py demo`` and ``python3 run.py test``.

On first use this creates ``.venv`` next to this file, installs torch first and pinned (so a CPU machine never
pulls the multi-GB CUDA wheels that an unpinned ``torch`` would), then the package with its ``dev`` extra.
Override the torch requirement with ``DRIVEDREAMER_TORCH`` (e.g. ``DRIVEDREAMER_TORCH="torch==2.5.1"``) and
the interpreter used to create the venv with ``DRIVEDREAMER_PYTHON``.

Commands:
  demo [ARGS]   run ``drivedreamer demo`` (the main job)
  test [ARGS]   run the test suite (pytest ARGS)
  lint          ruff format --check and ruff check
  setup         only create / update the environment
  drivedreamer ARGS   run any ``drivedreamer`` command inside the environment
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = os.environ.get("DRIVEDREAMER_TORCH", "torch==2.13.0")
EXTRAS = os.environ.get("DRIVEDREAMER_EXTRAS", "dev")


def _venv_bin(name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return VENV / sub / name


def _fingerprint() -> str:
    text = (ROOT / "pyproject.toml").read_bytes() + TORCH.encode() + EXTRAS.encode()
    return hashlib.sha256(text).hexdigest()


def _run(cmd: list[str | Path]) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def setup() -> None:
    stamp = VENV / ".drivedreamer-installed"
    if stamp.exists() and stamp.read_text() == _fingerprint():
        return
    if not _venv_bin("python").exists():
        python = os.environ.get("DRIVEDREAMER_PYTHON", sys.executable)
        _run([python, "-m", "venv", VENV])
    pip = [_venv_bin("python"), "-m", "pip", "install", "--disable-pip-version-check"]
    # torch first and pinned: every later requirement on torch is then already satisfied.
    _run([*pip, TORCH])
    _run([*pip, "-e", f".[{EXTRAS}]"])
    stamp.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    if sys.version_info < (3, 10):
        print(f"drivedreamer-env needs Python >= 3.10, this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    verb, rest = argv[0], argv[1:]
    setup()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if verb == "setup":
        return 0
    if verb == "demo":
        cmd = [_venv_bin("drivedreamer"), "demo", *rest]
    elif verb == "test":
        cmd = [_venv_bin("python"), "-m", "pytest", *rest]
    elif verb == "lint":
        ruff = _venv_bin("ruff")
        code = subprocess.call([str(ruff), "format", "--check", "."], cwd=ROOT, env=env)
        return code or subprocess.call([str(ruff), "check", "."], cwd=ROOT, env=env)
    elif verb == "drivedreamer":
        cmd = [_venv_bin("drivedreamer"), *rest]
    else:
        print(
            f"unknown command {verb!r}; expected one of: demo, test, lint, setup, drivedreamer",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
