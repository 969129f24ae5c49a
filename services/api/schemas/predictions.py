"""Shapes of predict, feature maps and export."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.inference.limits import DEFAULT_TOP_K, MAX_PREDICT_INPUTS


class PredictUpload(BaseModel):
    """multipart/form-data: one or more `file` parts. A JSON body {"inputs": [...]} works too."""

    file: bytes = Field(description=(
        "PNG or JPEG images (converted to the model's channels and size as image datasets are), or a "
        f".npy/.npz array of samples (N, C, H, W). At most {MAX_PREDICT_INPUTS} inputs in all."))


class PredictArrays(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list = Field(description=(
        "Samples as nested lists, (N, C, H, W) or one (C, H, W). Whole numbers 0..255 are pixels "
        "(divided by 255), anything else is used as given, as dataset uploads are."))


class PredictQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top_k: int = Field(DEFAULT_TOP_K, ge=1,
                       description="Classes to answer per input (at most the class count; the default is cut to it).")


class FeatureMapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arrays: bool = Field(True, description="Include each layer's output values as nested lists.")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["onnx"] = "onnx"


class ClassScore(BaseModel):
    class_index: int
    class_name: str
    probability: float


class InputPrediction(BaseModel):
    input: str = Field(description="The file name, with [i] for a sample of an array file, or inputs[i].")
    top: list[ClassScore]


class PredictionView(BaseModel):
    model_id: int
    input_shape: list[int]
    predictions: list[InputPrediction]


class LayerMaps(BaseModel):
    name: str
    type: str
    output_shape: list[int]
    explain: str
    tiles: list[str] = Field(description="One PNG (data URL) per output channel; a 1xF strip for a flat output.")
    values: list | None = Field(None, description="The output, (C, H, W) or (F,), when arrays=true.")


class FeatureMapView(BaseModel):
    model_id: int
    input: str
    input_tile: str
    top: list[ClassScore]
    probabilities: list[float]
    first_conv: str | None = Field(description="The name of the first conv layer, whose filters are shown.")
    filters: list[str] = Field(description="The first conv layer's filters as PNG data URLs.")
    input_values: list | None = Field(None, description="The input as converted, (C, H, W), when arrays=true.")
    filter_values: list | None = Field(None, description="The first conv layer's weights (out, in, kh, kw), "
                                                         "when arrays=true.")
    layers: list[LayerMaps]


class OnnxUpload(BaseModel):
    """multipart/form-data of POST /models/import."""

    file: bytes = Field(description="An .onnx model made of Conv, MaxPool, AveragePool, GlobalAveragePool, Flatten, "
                                    "Gemm or MatMul+Add, Relu, LeakyRelu, Sigmoid, Tanh, BatchNormalization, Dropout.")
    dataset_id: int = Field(description="The dataset the model is for: its input shape and class count must match.")
    name: str | None = Field(None, max_length=128, description="The network's name (default: the ONNX graph's).")
