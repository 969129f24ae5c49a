"""End-to-end fixtures: a folder of state per test and the services it started, always stopped."""
from __future__ import annotations

import pytest

from tests.e2e.processes import Services


@pytest.fixture
def services(tmp_path):
    started = Services(tmp_path, {
        "CONVFORGE_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'convforge.db'}",
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
    })
    try:
        yield started
    finally:
        started.close()
