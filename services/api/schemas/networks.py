"""Network shapes. The request body of POST /networks is the engine's definition document itself."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas.common import UtcDatetime


class NetworkSummaryView(BaseModel):
    """The engine's per-layer summary (shapes, params, multiply-adds, activation bytes, arithmetic)."""

    model_config = ConfigDict(extra="allow")
    name: str
    input_shape: list[int]
    layers: list[dict[str, Any]]
    total_params: int
    trainable_params: int
    total_macs: int


class NetworkListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    total_params: int
    created_at: UtcDatetime
    url: str


class NetworkView(NetworkListItem):
    definition: dict[str, Any] = Field(description="The definition as stored, with layer names filled in.")
    summary: NetworkSummaryView


class ValidationView(BaseModel):
    valid: Literal[True]
    definition: dict[str, Any]
    summary: NetworkSummaryView


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "text", "explain"] = Field(
        "json", description="json: the summary object; text: a Keras-style table; explain: the arithmetic.")
