"""`convforge datasets add PATH` and `convforge datasets list`, over the REST API.

PATH is a .npz, .csv or .zip of class folders (sent as the 'file' part), or a folder holding the four
standard IDX files (train-images/-labels, t10k-images/-labels, raw or .gz), sent as the parts images,
labels, test_images and test_labels.
"""
from __future__ import annotations

import sys
from pathlib import Path

from services.cli.rest import ApiClient, ApiError
from shared.config import load_settings

DATASETS_PATH = "/datasets"
# Upload field -> file name prefixes of the standard IDX files (MNIST uses t10k-, some copies test-).
IDX_FILES = {"images": ("train-images",), "labels": ("train-labels",),
             "test_images": ("t10k-images", "test-images"), "test_labels": ("t10k-labels", "test-labels")}
# Option flag -> form field.
FORM_FIELDS = {"name": "name", "input_shape": "input_shape", "layout": "layout", "resize": "resize",
               "label_column": "label_column", "classes": "classes", "format": "format"}


class UsageError(Exception):
    """A mistake on the command line, found before anything is sent."""


def add_arguments(command_name: str, parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="upload a dataset (.npz, .csv, .zip of class folders, IDX folder)")
    add.add_argument("path", help="dataset file, or a folder holding the four standard IDX files")
    add.add_argument("--name", help="name shown in listings (default: the file name)")
    add.add_argument("--input-shape", help="C,H,W of each image, for CSV (e.g. 1,28,28)")
    add.add_argument("--layout", choices=("auto", "nchw", "nhwc"), help="array layout of .npz images")
    add.add_argument("--resize", help="image folders: WIDTHxHEIGHT (or HEIGHT,WIDTH) to resize all images to (default: refuse "
                                      "differing sizes)")
    add.add_argument("--label-column", help="CSV: name or number of the label column (default: label)")
    add.add_argument("--classes", help="class names in label order, comma separated")
    add.add_argument("--format", choices=("npz", "idx", "csv", "imagefolder"), help="skip format detection")
    add.add_argument("--test", type=Path, help="a test split in the same format as PATH (.npz with x/y, .csv)")
    actions.add_parser("list", help="list datasets, newest first")


def run(command_name: str, args) -> int:
    client = ApiClient(load_settings().api_url)
    try:
        if args.action == "add":
            return add_dataset(client, args)
        return list_datasets(client)
    except UsageError as exc:
        print(f"convforge datasets {args.action}: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"convforge datasets {args.action}: {exc}", file=sys.stderr)
        return 1


def upload_parts(path: Path, test_path: Path | None) -> dict[str, Path]:
    """Upload field -> local file."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        parts = idx_folder_parts(path)
        if test_path is not None:
            raise UsageError("--test is for single files; an IDX folder brings its own t10k files")
        return parts
    parts = {"file": path}
    if test_path is not None:
        if not test_path.is_file():
            raise UsageError(f"{test_path} is not a file")
        parts["test_file"] = test_path
    return parts


def idx_folder_parts(folder: Path) -> dict[str, Path]:
    parts = {}
    for field, prefixes in IDX_FILES.items():
        found = sorted(path for path in folder.iterdir() if path.is_file() and path.name.startswith(prefixes))
        if len(found) > 1:
            raise UsageError(f"{folder} holds more than one {field.replace('_', ' ')} file: "
                               f"{', '.join(path.name for path in found)}")
        if found:
            parts[field] = found[0]
    if "images" not in parts or "labels" not in parts:
        raise UsageError(f"{folder} is a folder but does not hold the IDX files train-images-idx3-ubyte[.gz] "
                           f"and train-labels-idx1-ubyte[.gz]")
    return parts


def add_dataset(client: ApiClient, args) -> int:
    parts = upload_parts(Path(args.path), args.test)
    form = {field: str(getattr(args, flag)) for flag, field in FORM_FIELDS.items() if getattr(args, flag)}
    if args.name is None and Path(args.path).is_dir():
        form["name"] = Path(args.path).resolve().name
    dataset = client.upload_parts(DATASETS_PATH, parts, **form)
    test = f" + {dataset['num_test_samples']} test" if dataset.get("num_test_samples") else ""
    print(f"dataset {dataset['id']} {dataset['name']!r}: {dataset['source_format']}, "
          f"{dataset['num_samples']} training images{test}, input {'x'.join(map(str, dataset['input_shape']))}, "
          f"{dataset['num_classes']} classes")
    if dataset.get("class_names"):
        print(f"  classes: {', '.join(dataset['class_names'])}")
    print(f"  sha256 {dataset['sha256']}")
    return 0


def list_datasets(client: ApiClient) -> int:
    rows, cursor = [], None
    while True:
        page = client.get(DATASETS_PATH, limit=500, cursor=cursor)
        rows += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    table = [("ID", "NAME", "FORMAT", "TRAIN", "TEST", "INPUT", "CLASSES", "CREATED")] + [
        (str(row["id"]), row["name"], row["source_format"], str(row["num_samples"]), str(row["num_test_samples"]),
         "x".join(map(str, row["input_shape"])), str(row["num_classes"]), row["created_at"][:19].replace("T", " "))
        for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return 0
