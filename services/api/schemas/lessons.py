"""The convolution lesson: its settings (a query string) and the worked example it answers."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.api.schemas.networks import LayerSummaryView
from shared.cnn import lesson

_DEFAULTS = lesson.LessonSettings()


class LessonQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kind: Literal[lesson.LESSON_KINDS] = Field(_DEFAULTS.kind, description="The layer to work through.")
    height: int = Field(_DEFAULTS.height, ge=1, le=lesson.MAX_SIDE, description="Input rows.")
    width: int = Field(_DEFAULTS.width, ge=1, le=lesson.MAX_SIDE, description="Input columns.")
    channels: int = Field(_DEFAULTS.channels, ge=1, le=lesson.MAX_CHANNELS, description="Input depth.")
    kernel: int = Field(_DEFAULTS.kernel, ge=1, le=lesson.MAX_KERNEL, description="Kernel or pool size.")
    stride: int = Field(_DEFAULTS.stride, ge=1, le=lesson.MAX_STRIDE)
    padding: int = Field(_DEFAULTS.padding, ge=0, le=lesson.MAX_PADDING, description="Zeros on every side.")
    dilation: int = Field(_DEFAULTS.dilation, ge=1, le=lesson.MAX_DILATION, description="conv2d only.")
    filters: int = Field(_DEFAULTS.filters, ge=1, le=lesson.MAX_FILTERS, description="conv2d only.")
    seed: int = Field(_DEFAULTS.seed, ge=0, le=2**31 - 1, description="Picks the input and weight values.")

    @field_validator("dilation")
    @classmethod
    def _dilation_is_for_convolution(cls, dilation: int, info: ValidationInfo) -> int:
        if dilation != 1 and info.data.get("kind", "conv2d") != "conv2d":
            raise ValueError("pooling windows are not dilated; dilation applies to conv2d only")
        return dilation


Grid = list[list[float]]


class LessonView(BaseModel):
    settings: dict[str, Any]
    definition: dict[str, Any] = Field(description="The one-layer network the lesson runs.")
    layer: LayerSummaryView = Field(description="Its summary, with the explanation.")
    input: list[Grid] = Field(description="[channel][row][column], small whole numbers, before padding.")
    weight: list[list[Grid]] | None = Field(description="conv2d: [filter][channel][row][column].")
    bias: list[float] | None = Field(description="conv2d: one per filter.")
    output: list[Grid] = Field(description="[channel][row][column]: the engine's forward pass.")
    terms: list[list[list[list[list[list[float | None]]]]]] = Field(description=(
        "[output channel][row][column][input channel][i][j]: what each output value is made of. "
        "conv2d: window value times weight (summed, plus the bias); pooling: the window's values "
        "(one input channel; null for max pooling's padding)."))
    channel_sums: list[list[list[list[float]]]] | None = Field(description=(
        "conv2d: [output channel][row][column][input channel], the products summed per input channel."))
