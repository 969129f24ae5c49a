"""Skip or fail when a real service binary is missing: CI sets CONVFORGE_REQUIRE_SERVICES=1 so a
missing PostgreSQL or Redis is an error there, not a silent skip."""
from __future__ import annotations

import os
import socket

import pytest


def require_or_skip(reason: str) -> None:
    if os.environ.get("CONVFORGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CONVFORGE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
