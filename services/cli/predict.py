"""`convforge predict MODEL_ID image.png ...` and `convforge export MODEL_ID -o model.onnx`, over REST."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.cli.rest import ApiClient, ApiError
from shared.config import load_settings


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
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
