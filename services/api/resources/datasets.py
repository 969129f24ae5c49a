"""Datasets: uploads parsed once by shared.data.ingest into .npy arrays in the artifact store."""
from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from pathlib import Path

from flask import Blueprint, jsonify, request, url_for
from sqlalchemy import select

from services.api.artifacts import send_artifact
from services.api.deletion import DESCRIPTION as DELETE_DESCRIPTION
from services.api.deletion import delete_row, jobs_where, models_where, refuse_while_referenced
from services.api.extensions import db, settings, store
from services.api.ingest_slots import ingest_slot
from services.api.ownership import load_visible, owner_id, visible
from services.api.pagination import fetch_page
from services.api.problems import Problem, not_found, validation_problem
from services.api.route_table import api_route
from services.api.schemas.common import Page, PageQuery
from services.api.schemas.datasets import ClassSamples, DatasetListItem, DatasetUpload, DatasetView
from services.api.validation import parse_query
from shared.data import DatasetRejected, IngestLimits, Upload, ingest
from shared.cnn.json_types import printable
from shared.db.models import Dataset, Job, Model
from shared.limits import MAX_DATASET_NAME_CHARS

bp = Blueprint("datasets", __name__, url_prefix="/api/v1/datasets")

DATASETS_DIR = "datasets"
SAMPLES_DIR = "samples"
SAMPLE_FILE = re.compile(r"^(\d+)_(\d+)\.png$")  # samples/<class index>_<k>.png, written by ingest
FILE_FIELDS = ("file", "test_file", "images", "labels", "test_images", "test_labels")
_REJECTION_TITLES = {400: "Bad upload", 413: "Upload too large", 422: "Unusable dataset"}


def dataset_url(dataset_id: int) -> str:
    return url_for("datasets.get_dataset", dataset_id=dataset_id)


def list_item(dataset: Dataset) -> DatasetListItem:
    return DatasetListItem(
        id=dataset.id, name=dataset.name, source_format=dataset.source_format, num_samples=dataset.num_samples,
        num_test_samples=dataset.num_test_samples, input_shape=dataset.input_shape,
        num_classes=dataset.num_classes, sha256=dataset.sha256, size_bytes=dataset.size_bytes,
        created_at=dataset.created_at, url=dataset_url(dataset.id))


def dataset_view(dataset: Dataset) -> dict:
    samples = sample_files(dataset)
    classes = [
        ClassSamples(index=index, name=name, count=count,
                     sample_urls=[url_for("datasets.get_sample", dataset_id=dataset.id, filename=filename)
                                  for filename in samples.get(index, [])])
        for index, (name, count) in enumerate(zip(dataset.class_names, dataset.class_counts))
    ]
    return DatasetView(**list_item(dataset).model_dump(), class_names=dataset.class_names,
                       class_counts=dataset.class_counts, channel_mean=dataset.channel_mean,
                       channel_std=dataset.channel_std, classes=classes).model_dump(mode="json")


def sample_files(dataset: Dataset) -> dict[int, list[str]]:
    """Sample PNG file names per class index, in order."""
    prefix = f"{dataset.path}/{SAMPLES_DIR}/"
    by_class: dict[int, list[tuple[int, str]]] = {}
    for key in store().keys(prefix):
        name = key.removeprefix(prefix)
        match = SAMPLE_FILE.match(name)
        if match:
            by_class.setdefault(int(match[1]), []).append((int(match[2]), name))
    return {index: [name for _, name in sorted(files)] for index, files in by_class.items()}


def load_dataset(dataset_id: int) -> Dataset:
    return load_visible(Dataset, dataset_id, "Dataset")


def saved_uploads() -> list[Upload]:
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "Unsupported media type",
                      "Upload a dataset as multipart/form-data, with the file in a field named 'file'.")
    uploads = []
    for field, storage in request.files.items(multi=True):  # reading the form may raise 413
        storage.stream.flush()
        uploads.append(Upload(field=field, filename=storage.filename or "", path=Path(storage.stream.name)))
    as_text = [field for field in FILE_FIELDS if field in request.form]
    if not uploads and as_text:
        # The form has the field, as text: the document cannot tell a file part from a text part.
        raise validation_problem([{"loc": [as_text[0]], "msg": (
            f"{as_text[0]}: sent as a text field; send it as a file part (curl -F {as_text[0]}=@PATH)")}])
    if not uploads:
        raise validation_problem(
            [{"loc": ["file"], "msg": "file: no file was uploaded; send the dataset in the 'file' field "
                                      "(or IDX files in 'images' and 'labels')"}], status=400)
    return uploads


def dataset_name(options: dict[str, str], uploads: list[Upload]) -> str:
    name = options.get("name", "").strip() or Path(uploads[0].filename).name.split(".")[0] or "dataset"
    if len(name) > MAX_DATASET_NAME_CHARS:
        raise validation_problem([{"loc": ["name"], "msg": f"name: at most {MAX_DATASET_NAME_CHARS} characters"}])
    try:
        printable(name)
    except ValueError as exc:
        raise validation_problem([{"loc": ["name"], "msg": f"name: {exc}"}]) from None
    return name


@api_route(bp, "", "POST", summary="Upload a dataset (multipart); it is checked and stored as .npy arrays",
           body=DatasetUpload, body_media_type="multipart/form-data", response=DatasetView, status=201,
           problems=(400, 413, 415, 422, 429),
           headers=("Location",))
def create_dataset():
    uploads = saved_uploads()
    options = request.form.to_dict()
    name = dataset_name(options, uploads)
    relative_path = f"{DATASETS_DIR}/{uuid.uuid4().hex}"
    # Arrays are written next to the upload (on this machine), then stored; the row comes last.
    staging_root = Path(tempfile.mkdtemp(prefix="ingest-", dir=request.upload_folder or None))
    try:
        try:
            with ingest_slot():
                ingested = ingest(uploads, options, staging_root / "dataset", IngestLimits.from_settings(settings()))
        except DatasetRejected as exc:
            title = _REJECTION_TITLES.get(exc.status, "Bad upload")
            raise Problem(exc.status, title, exc.detail, kind="dataset-rejected",
                          errors=[{"loc": exc.loc, "msg": exc.detail}]) from None
        finally:
            for storage in request.files.values():
                storage.close()
        stored_keys = store().publish_folder(relative_path, staging_root / "dataset")
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        request.remove_uploads()
    try:
        dataset = Dataset(
            owner_id=owner_id(), name=name, source_format=ingested.source_format, path=relative_path,
            num_samples=ingested.num_samples, num_test_samples=ingested.num_test_samples,
            input_shape=list(ingested.input_shape), num_classes=ingested.num_classes,
            class_names=list(ingested.class_names), class_counts=list(ingested.class_counts),
            channel_mean=list(ingested.channel_mean), channel_std=list(ingested.channel_std),
            sha256=ingested.sha256, size_bytes=ingested.size_bytes)
        session = db()
        session.add(dataset)
        session.commit()
    except BaseException:
        # The row is what makes the objects reachable; without it they are litter.
        store().discard(stored_keys)
        raise
    response = jsonify(dataset_view(dataset))
    response.status_code = 201
    response.headers["Location"] = dataset_url(dataset.id)
    return response


@api_route(bp, "", summary="List datasets, newest first", query=PageQuery, response=Page[DatasetListItem],
           problems=(400,))
def list_datasets():
    query = parse_query(PageQuery)
    rows, next_cursor = fetch_page(db(), visible(select(Dataset), Dataset), Dataset.id, query)
    page = Page[DatasetListItem](items=[list_item(row) for row in rows], next_cursor=next_cursor)
    return jsonify(page.model_dump(mode="json"))


@api_route(bp, "/<id:dataset_id>", summary="One dataset with its classes and sample image URLs",
           response=DatasetView, problems=(404,))
def get_dataset(dataset_id: int):
    return jsonify(dataset_view(load_dataset(dataset_id)))


@api_route(bp, "/<id:dataset_id>/samples/<filename>", summary="A sample image of the dataset (PNG)",
           media_types=("image/png",), problems=(404,))
def get_sample(dataset_id: int, filename: str):
    dataset = load_dataset(dataset_id)
    if not SAMPLE_FILE.match(filename):
        raise not_found("Sample image", filename)
    return send_artifact(f"{dataset.path}/{SAMPLES_DIR}/{filename}", "image/png",
                         not_found("Sample image", filename), max_age=3600)


@api_route(bp, "/<id:dataset_id>", "DELETE", summary="Delete a dataset no job or model refers to, and its files",
           status=204, media_types=(), problems=(404, 409), description=DELETE_DESCRIPTION)
def delete_dataset(dataset_id: int):
    dataset = load_dataset(dataset_id)
    refuse_while_referenced("Dataset", dataset_id, jobs_where(Job.dataset_id == dataset_id),
                            models_where(Model.dataset_id == dataset_id))
    return delete_row(dataset, "Dataset", [f"{dataset.path}/"])
