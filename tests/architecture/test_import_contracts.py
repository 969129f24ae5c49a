"""The import rules of the house (.importlinter), checked by import-linter on the real code, and shown
to catch a break: the same check on a copy of the packages with one forbidden import added."""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".importlinter"
PACKAGES = ("shared", "services", "worker")
ENGINE_CONTRACT = "importlinter:contract:engine-stands-alone"
ENGINE_MAY_USE = {"numpy", "pydantic"}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter over the packages found in `root`, which goes first on the import path."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--config", str(root / ".importlinter"), "--no-cache",
               "--no-logo"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


# (file added to the copy, its forbidden import, the contract it breaks)
VIOLATIONS = [
    ("shared/cnn/leak.py", "import sqlalchemy\n", "shared.cnn imports only NumPy, pydantic and the standard library"),
    ("shared/cnn/leak.py", "from shared.db import models\n",
     "shared.cnn imports only NumPy, pydantic and the standard library"),
    ("shared/leak.py", "from services.api import app\n", "shared never imports services or worker"),
    ("worker/leak.py", "from services.api import job_queue\n", "services and worker never import each other"),
    ("services/leak.py", "import worker.celery_app\n", "services and worker never import each other"),
]


@pytest.mark.parametrize(("path", "source", "contract"), VIOLATIONS, ids=[v[0] + ":" + v[1].strip() for v in VIOLATIONS])
def test_a_forbidden_import_breaks_its_contract(tmp_path, path, source, contract):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    (tmp_path / path).write_text(source)

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout
    assert "2 kept, 1 broken" in result.stdout
    leaking_module = path.removesuffix(".py").replace("/", ".")
    assert f"{leaking_module} -> " in result.stdout


def test_the_engine_contract_forbids_every_other_third_party_package_the_project_imports():
    # The contract lists what shared.cnn may not import; this keeps that list from missing a dependency
    # added later, so "only NumPy, pydantic and the standard library" stays true.
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    third_party = {module for module in graph.modules
                   if graph.is_module_squashed(module) and module not in sys.stdlib_module_names}
    config = configparser.ConfigParser()
    config.read(CONFIG)
    forbidden = set(config[ENGINE_CONTRACT]["forbidden_modules"].split())

    assert ENGINE_MAY_USE <= third_party  # the graph does see third-party imports
    assert third_party - ENGINE_MAY_USE <= forbidden, sorted(third_party - ENGINE_MAY_USE - forbidden)
    assert not ENGINE_MAY_USE & forbidden
