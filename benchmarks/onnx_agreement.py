"""How closely the exported ONNX models agree with the engine, in onnxruntime (float32).

    python benchmarks/onnx_agreement.py [--images 1000] [--random-networks 24] [--vgg16]

For every example network (random weights, batchnorm statistics moved off their initial values) on
the bundled Fashion-MNIST test images, and for the random networks the tests use (every layer type,
strides, paddings, dilations): the largest absolute logit difference, the largest logit, and how many
images get the same top-1 class. VGG16 (224x224 RGB) runs on 4 random images with --vgg16.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.cnn import build_network  # noqa: E402
from shared.data.pipeline import prepare_batch  # noqa: E402
from shared.export.onnx_export import INPUT_NAME, LOGITS_NAME, export_onnx_bytes  # noqa: E402
from tests.export.test_onnx_export import random_networks, with_trained_looking_state  # noqa: E402


def compare(net, images, mean, std) -> tuple[float, float, int]:
    session = ort.InferenceSession(export_onnx_bytes(net, mean, std), providers=["CPUExecutionProvider"])
    onnx_logits = np.concatenate([session.run([LOGITS_NAME], {INPUT_NAME: images[i:i + 256].astype(np.float32) / 255})[0]
                                  for i in range(0, len(images), 256)])
    engine_logits = np.concatenate([net.forward(prepare_batch(images[i:i + 256], mean, std))
                                    for i in range(0, len(images), 256)])
    same = int((onnx_logits.argmax(1) == engine_logits.argmax(1)).sum())
    return float(np.abs(onnx_logits - engine_logits).max()), float(np.abs(engine_logits).max()), same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--random-networks", type=int, default=24)
    parser.add_argument("--vgg16", action="store_true")
    args = parser.parse_args()
    with np.load(REPO / "data" / "fashion-mnist-small.npz", allow_pickle=False) as archive:
        images = archive["x_test"].reshape(-1, 1, 28, 28)[:args.images]
    print(f"{'network':<24}{'images':>8}{'max |diff|':>14}{'max |logit|':>13}{'same top-1':>12}")
    rows = []
    for path in sorted((REPO / "examples").glob("*.json")):
        if path.stem == "vgg16":
            continue
        net = with_trained_looking_state(build_network(json.loads(path.read_text()), seed=3), seed=4)
        rows.append((path.stem, len(images), *compare(net, images, [0.286], [0.353])))
    for index, definition in enumerate(random_networks(args.random_networks)):
        net = with_trained_looking_state(build_network(definition, seed=index), seed=index)
        channels = definition["input_shape"][0]
        rows.append((f"random_{index}", len(images), *compare(net, np.repeat(images, channels, axis=1),
                                                              [0.3, 0.2, 0.25][:channels], [0.35, 0.0, 0.3][:channels])))
    if args.vgg16:
        net = build_network(json.loads((REPO / "examples" / "vgg16.json").read_text()), seed=1)
        rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 224, 224), dtype=np.uint8)
        rows.append(("vgg16", 4, *compare(net, rgb, [0.49, 0.48, 0.45], [0.25, 0.24, 0.26])))
    for name, count, difference, largest, same in rows:
        print(f"{name:<24}{count:>8}{difference:>14.2e}{largest:>13.2f}{same:>8}/{count}")


if __name__ == "__main__":
    main()
