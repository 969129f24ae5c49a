"""`convforge predict MODEL_ID image.png ...`, `convforge export MODEL_ID -o model.onnx` and
`convforge import model.onnx --dataset ID`, over REST."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.cli.rest import ApiClient, ApiError
from shared.config import load_settings


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "import":
        parser.add_argument("onnx_file", type=Path)
        parser.add_argument("--dataset", type=int, required=True, help="id of the dataset the model is for")
        parser.add_argument("--name", default=None, help="the network's name (default: the ONNX graph's)")
        return
    parser.add_argument("model_id", type=int)
    if command == "predict":
        parser.add_argument("inputs", type=Path, nargs="+", help="PNG/JPEG images or .npy/.npz arrays")
        parser.add_argument("--top", type=int, default=3, help="classes to print per input")
    else:
        parser.add_argument("-o", "--output", type=Path, default=None,
                            help="where to write the .onnx file (default model-ID.onnx)")
        parser.add_argument("--format", choices=("onnx",), default="onnx")


def run(command: str, args: argparse.Namespace) -> int:
    client = ApiClient(load_settings().api_url)
    try:
        if command == "predict":
            return predict(client, args.model_id, args.inputs, args.top)
        if command == "import":
            return import_model(client, args.onnx_file, args.dataset, args.name)
        return export(client, args.model_id, args.output or Path(f"model-{args.model_id}.onnx"), args.format)
    except ApiError as exc:
        print(f"convforge {command}: {exc}", file=sys.stderr)
        return 1


def predict(client: ApiClient, model_id: int, inputs: list[Path], top: int) -> int:
    missing = [str(path) for path in inputs if not path.is_file()]
    if missing:
        raise ApiError(f"no such file: {', '.join(missing)}")
    answer = client.post_files(f"/models/{model_id}/predict", "file", inputs, top_k=top)
    width = max(len(item["input"]) for item in answer["predictions"])
    for item in answer["predictions"]:
        classes = "  ".join(f"{entry['class_name']} {entry['probability']:.1%}" for entry in item["top"])
        print(f"{item['input']:<{width}}  {classes}")
    return 0


def export(client: ApiClient, model_id: int, target: Path, file_format: str) -> int:
    size = client.download(f"/models/{model_id}/export", target, format=file_format)
    print(f"wrote {target} ({size:,} bytes; input 'pixels' is uint8 / 255, the normalisation is inside)")
    return 0


def import_model(client: ApiClient, onnx_file: Path, dataset_id: int, name: str | None) -> int:
    if not onnx_file.is_file():
        raise ApiError(f"{onnx_file}: no such file")
    fields = {"dataset_id": str(dataset_id), **({"name": name} if name else {})}
    model = client.upload("/models/import", onnx_file, **fields)
    print(f"model {model['id']}: network {model['network']['name']!r} (id {model['network']['id']}) "
          f"for dataset {model['dataset']['name']!r}")
    return 0
