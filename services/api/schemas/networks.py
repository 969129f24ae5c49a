"""Network shapes. The request body of POST /networks is the engine's definition document itself."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas.common import UtcDatetime


class ReceptiveFieldView(BaseModel):
    size: list[int] = Field(description="Input pixels (rows, columns) one output position sees.")
    jump: list[int] = Field(description="Input pixels (rows, columns) between neighbouring output positions.")


class WindowView(BaseModel):
    kernel: list[int] = Field(description="Rows, columns.")
    stride: list[int] = Field(description="Rows, columns.")
    padding: list[int] = Field(description="Top, bottom, left, right, resolved from the definition.")
    dilation: list[int] = Field(description="Rows, columns.")


class LayerSummaryView(BaseModel):
    """One layer of the summary; a layer that holds layers lists them under `layers`."""

    model_config = ConfigDict(extra="allow")
    name: str
    type: str
    input_shape: list[int]
    output_shape: list[int]
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int
    explain: str = Field(description="The layer's arithmetic: the first line the formulas, "
                         "the lines after it what they mean.")
    receptive_field: ReceptiveFieldView | None = Field(
        None, description="By the recursion r_out = r_in + (k - 1)*j_in, j_out = j_in*s; "
        "null once the output is no longer a feature map.")
    window: WindowView | None = Field(None, description="Convolution and pooling: the sliding window.")
    dense_equivalent_params: int | None = Field(
        None, description="Convolutions: the parameters (and multiply-adds) a dense layer "
        "would need for the same input and output shapes.")


class NetworkSummaryView(BaseModel):
    """The engine's per-layer summary (shapes, params, multiply-adds, activation bytes, arithmetic)."""

    model_config = ConfigDict(extra="allow")
    name: str
    input_shape: list[int]
    layers: list[LayerSummaryView]
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
