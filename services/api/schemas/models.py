"""Trained model shapes."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.api.schemas.common import Ref, UtcDatetime


class ModelView(BaseModel):
    id: int
    network: Ref
    dataset: Ref
    job_id: int | None
    sha256: str
    size_bytes: int
    metrics: dict[str, Any]
    created_at: UtcDatetime
    url: str
    download_url: str
