"""Health answer: each dependency checked for real."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Check(BaseModel):
    ok: bool
    error: str | None = None


class BrokerCheck(Check):
    url: str


class HealthView(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Check
    broker: BrokerCheck
    workers: list[str]
