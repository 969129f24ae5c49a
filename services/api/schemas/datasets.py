"""Dataset shapes. Uploads are multipart forms, described in the route table."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas.common import UtcDatetime
from shared.limits import MAX_DATASET_NAME_CHARS


class ClassSamples(BaseModel):
    index: int
    name: str
    count: int
    sample_urls: list[str]


class DatasetListItem(BaseModel):
    id: int
    name: str
    source_format: str
    num_samples: int
    num_test_samples: int
    input_shape: list[int]
    num_classes: int
    sha256: str
    size_bytes: int
    created_at: UtcDatetime
    url: str


class DatasetView(DatasetListItem):
    class_names: list[str]
    class_counts: list[int]
    channel_mean: list[float]
    channel_std: list[float]
    classes: list[ClassSamples]


class DatasetUpload(BaseModel):
    """The multipart form of POST /datasets: one dataset in `file`, or IDX files in `images` + `labels`."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["file"]},
                                                           {"required": ["images", "labels"]}]})

    file: bytes | None = Field(None, description=(
        "A whole dataset: .npz (x/y, or x_train/y_train/x_test/y_test), .csv, or a .zip of class folders."))
    test_file: bytes | None = Field(None, description="Optional test split, in the same format as `file`.")
    images: bytes | None = Field(None, description="IDX images (raw or .gz), with `labels`.")
    labels: bytes | None = Field(None, description="IDX labels (raw or .gz).")
    test_images: bytes | None = Field(None, description="Optional IDX test images.")
    test_labels: bytes | None = Field(None, description="Optional IDX test labels.")
    name: str | None = Field(None, max_length=MAX_DATASET_NAME_CHARS, description="Default: the uploaded file's name.")
    format: Literal["npz", "idx", "csv", "imagefolder", "zip"] | None = Field(
        None, description="Default: detected from the fields, the file name and its first bytes.")
    layout: Literal["nchw", "nhwc"] | None = Field(None, description="When it cannot be detected.")
    input_shape: str | None = Field(None, description="CSV: C,H,W of each image, e.g. 1,28,28.")
    resize: str | None = Field(None, description=(
        "Image folders: H,W to resize to; without it, differing sizes are refused."))
    label_column: str | None = Field(None, description="CSV: the label column's name or index (default: label).")
