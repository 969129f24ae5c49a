"""`convforge datasets add PATH` and `convforge datasets list`, over the REST API.

PATH is a .npz, .csv or .zip of class folders (sent as the 'file' part), or a folder holding the four
standard IDX files (train-images/-labels, t10k-images/-labels, raw or .gz), sent as the parts images,
labels, test_images and test_labels.
"""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import requests

from shared.config import load_settings

DATASETS_PATH = "/api/v1/datasets"
# Upload field -> file name prefixes of the standard IDX files (MNIST uses t10k-, some copies test-).
IDX_FILES = {"images": ("train-images",), "labels": ("train-labels",),
             "test_images": ("t10k-images", "test-images"), "test_labels": ("t10k-labels", "test-labels")}
# Option flag -> form field.
FORM_FIELDS = {"name": "name", "input_shape": "input_shape", "layout": "layout", "resize": "resize",
               "label_column": "label_column", "classes": "classes", "format": "format"}
TIMEOUT_SECONDS = 600


class CommandError(Exception):
    """A message for the person at the terminal, and the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def add_arguments(command_name: str, parser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="upload a dataset (.npz, .csv, .zip of class folders, IDX folder)")
    add.add_argument("path", help="dataset file, or a folder holding the four standard IDX files")
    add.add_argument("--name", help="name shown in listings (default: the file name)")
    add.add_argument("--input-shape", help="C,H,W of each image, for CSV (e.g. 1,28,28)")
    add.add_argument("--layout", choices=("auto", "nchw", "nhwc"), help="array layout of .npz images")
    add.add_argument("--resize", help="image folders: WIDTHxHEIGHT to resize all images to (default: refuse "
                                      "differing sizes)")
    add.add_argument("--label-column", help="CSV: name or number of the label column (default: label)")
    add.add_argument("--classes", help="class names in label order, comma separated")
    add.add_argument("--format", choices=("npz", "idx", "csv", "imagefolder"), help="skip format detection")
    add.add_argument("--test", type=Path, help="a test split in the same format as PATH (.npz with x/y, .csv)")
    actions.add_parser("list", help="list datasets, newest first")


def run(command_name: str, args) -> int:
    api_url = load_settings().api_url.rstrip("/")
    try:
        if args.action == "add":
            return add_dataset(api_url, args)
        return list_datasets(api_url)
    except CommandError as exc:
        print(f"convforge datasets {args.action}: {exc}", file=sys.stderr)
        return exc.status


def upload_parts(path: Path, test_path: Path | None) -> dict[str, Path]:
    """Upload field -> local file."""
    if not path.exists():
        raise CommandError(f"{path} does not exist", 2)
    if path.is_dir():
        parts = idx_folder_parts(path)
        if test_path is not None:
            raise CommandError("--test is for single files; an IDX folder brings its own t10k files", 2)
        return parts
    parts = {"file": path}
    if test_path is not None:
        if not test_path.is_file():
            raise CommandError(f"{test_path} is not a file", 2)
        parts["test_file"] = test_path
    return parts


def idx_folder_parts(folder: Path) -> dict[str, Path]:
    parts = {}
    for field, prefixes in IDX_FILES.items():
        found = sorted(path for path in folder.iterdir() if path.is_file() and path.name.startswith(prefixes))
        if len(found) > 1:
            raise CommandError(f"{folder} holds more than one {field.replace('_', ' ')} file: "
                               f"{', '.join(path.name for path in found)}", 2)
        if found:
            parts[field] = found[0]
    if "images" not in parts or "labels" not in parts:
        raise CommandError(f"{folder} is a folder but does not hold the IDX files train-images-idx3-ubyte[.gz] "
                           f"and train-labels-idx1-ubyte[.gz]", 2)
    return parts


def add_dataset(api_url: str, args) -> int:
    parts = upload_parts(Path(args.path), args.test)
    form = {field: str(getattr(args, flag)) for flag, field in FORM_FIELDS.items() if getattr(args, flag)}
    if args.name is None and Path(args.path).is_dir():
        form["name"] = Path(args.path).resolve().name
    with ExitStack() as files:
        multipart = {field: (path.name, files.enter_context(open(path, "rb"))) for field, path in parts.items()}
        response = call(requests.post, f"{api_url}{DATASETS_PATH}", files=multipart, data=form)
    dataset = response.json()
    test = f" + {dataset['num_test_samples']} test" if dataset.get("num_test_samples") else ""
    print(f"dataset {dataset['id']} {dataset['name']!r}: {dataset['source_format']}, "
          f"{dataset['num_samples']} training images{test}, input {'x'.join(map(str, dataset['input_shape']))}, "
          f"{dataset['num_classes']} classes")
    if dataset.get("class_names"):
        print(f"  classes: {', '.join(dataset['class_names'])}")
    print(f"  sha256 {dataset['sha256']}")
    return 0


def list_datasets(api_url: str) -> int:
    rows, cursor = [], None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = call(requests.get, f"{api_url}{DATASETS_PATH}", params=params).json()
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


def call(method, url: str, **kwargs) -> requests.Response:
    """The response if it succeeded; otherwise a CommandError carrying the API's problem detail."""
    try:
        response = method(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.ConnectionError:
        raise CommandError(f"cannot reach the API at {url}; is it running (convforge up)? "
                           f"CONVFORGE_API_URL sets where it is") from None
    except requests.RequestException as exc:
        raise CommandError(f"request to {url} failed: {exc}") from None
    if response.ok:
        return response
    try:
        problem = response.json()
    except ValueError:
        raise CommandError(f"the API answered {response.status_code}: {response.text[:200].strip()}") from None
    lines = [f"{problem.get('title', 'error')} ({response.status_code}): {problem.get('detail', '')}"]
    for error in problem.get("errors") or []:
        if error.get("msg") != problem.get("detail") or error.get("loc"):
            lines.append(f"  at {'/'.join(map(str, error.get('loc') or []))}: {error.get('msg')}")
    raise CommandError("\n".join(lines))
