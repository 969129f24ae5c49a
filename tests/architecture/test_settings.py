"""One settings object: the environment is read in shared/config.py alone, every setting it reads is
used somewhere, and the variables `convforge up` and `convforge api` need are read there too."""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from shared.config import DEFAULT_API_BIND, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "shared" / "config.py"
SOURCES = sorted(path for package in ("shared", "services", "worker") for path in (REPO / package).rglob("*.py"))


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read one variable: os.environ.get(...), os.getenv(...), os.environ[...], ... in os.environ.
    (Passing the whole environment on to a child, {**os.environ, ...}, is not reading a setting.)"""
    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                (node.func.attr in ("get", "setdefault", "pop") and is_environ(node.func.value))
                or node.func.attr == "getenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_environment_variables():
    readers = {str(path.relative_to(REPO)): lines for path in SOURCES if path != CONFIG
               if (lines := environment_reads(ast.parse(path.read_text(), str(path))))}
    assert readers == {}
    assert environment_reads(ast.parse(CONFIG.read_text()))  # the scan does find reads


def test_every_setting_is_used_outside_the_settings_module():
    text = "\n".join(path.read_text() for path in SOURCES if path != CONFIG)
    unused = [field.name for field in dataclasses.fields(Settings) if not re.search(rf"\.{field.name}\b", text)]
    assert unused == []


def test_the_local_stack_variables_are_settings(monkeypatch):
    monkeypatch.delenv("CONVFORGE_API_BIND", raising=False)
    monkeypatch.delenv("CONVFORGE_REDIS_PORT", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    defaults = load_settings()
    assert (defaults.api_bind, defaults.embedded_redis_port) == (DEFAULT_API_BIND, 6390)

    monkeypatch.setenv("CONVFORGE_API_BIND", "0.0.0.0:8123")
    monkeypatch.setenv("CONVFORGE_REDIS_PORT", "6444")
    settings = load_settings()
    assert (settings.api_bind, settings.embedded_redis_port) == ("0.0.0.0:8123", 6444)
    assert settings.broker_url == "redis://127.0.0.1:6444/0"  # the embedded Redis

    monkeypatch.setenv("CONVFORGE_REDIS_PORT", "lots")
    with pytest.raises(ValueError, match="CONVFORGE_REDIS_PORT='lots' is not a whole number"):
        load_settings()
