"""Running a trained model on new inputs: predict (top classes) and feature maps (every layer's
output for one input, the first conv layer's filters, the class probabilities)."""
from __future__ import annotations

import math

from flask import Blueprint, jsonify

from services.api.inference.inputs import bad_input, read_inputs
from services.api.inference.limits import MAX_FEATURE_MAP_VALUES
from services.api.inference.loaded import check_batch_memory, loaded_model
from services.api.resources.models import load_model_row
from services.api.route_table import api_route
from services.api.schemas.predictions import (FeatureMapQuery, FeatureMapView, PredictQuery, PredictUpload,
                                              PredictionView)
from services.api.problems import validation_problem
from services.api.validation import parse_query
from shared.data.pipeline import prepare_batch
from shared.inference.layer_outputs import LayerChain
from shared.inference.prediction import model_logits, softmax, top_classes
from shared.inference.tiles import channel_tiles, data_url, kernel_tiles, png_bytes, stretch

bp = Blueprint("predictions", __name__, url_prefix="/api/v1/models")


def _top_k(query: PredictQuery, classes: int) -> int:
    """The default shrinks to a model with fewer classes; an explicit top_k beyond them is refused."""
    if "top_k" not in query.model_fields_set:
        return min(query.top_k, classes)
    if query.top_k > classes:
        raise validation_problem([{"loc": ["query", "top_k"], "msg": f"query.top_k: the model has {classes} "
                                   f"classes; top_k must be 1..{classes}, not {query.top_k}"}], status=400)
    return query.top_k


@api_route(bp, "/<id:model_id>/predict", "POST", summary="Top classes for images or arrays",
           body=PredictUpload, body_media_type="multipart/form-data", query=PredictQuery, response=PredictionView,
           problems=(400, 404, 413, 415, 422),
           description="Multipart `file` parts (PNG/JPEG images, .npy/.npz arrays) or a JSON body "
                       '{"inputs": [...]}; the model\'s stored normalisation is applied.')
def predict(model_id: int):
    model = load_model_row(model_id)
    query = parse_query(PredictQuery)
    loaded = loaded_model(model)
    k = _top_k(query, len(loaded.class_names))
    inputs = read_inputs(loaded.net.input_shape)
    check_batch_memory(loaded, len(inputs.samples))
    with loaded.lock:
        logits = model_logits(loaded.net, inputs.samples, loaded.mean, loaded.std, mirror=loaded.test_time_flip)
    view = PredictionView(model_id=model.id, input_shape=list(loaded.net.input_shape), predictions=[
        {"input": name, "top": top} for name, top in zip(inputs.names, top_classes(logits, loaded.class_names, k))])
    return jsonify(view.model_dump(mode="json"))


@api_route(bp, "/<id:model_id>/feature-maps", "POST",
           summary="Every layer's output for one input, the first conv layer's filters and the class probabilities",
           body=PredictUpload, body_media_type="multipart/form-data", query=FeatureMapQuery,
           response=FeatureMapView, problems=(400, 404, 413, 415, 422))
def feature_maps(model_id: int):
    model = load_model_row(model_id)
    query = parse_query(FeatureMapQuery)
    loaded = loaded_model(model)
    values = sum(math.prod(plan.output_shape) for plan in loaded.net.summary.plans)
    if values > MAX_FEATURE_MAP_VALUES:
        raise bad_input(f"model {model.id}'s layers output {values:,} values per input; feature maps are "
                        f"served for up to {MAX_FEATURE_MAP_VALUES:,}", ["model"], 413)
    inputs = read_inputs(loaded.net.input_shape)
    if len(inputs.samples) != 1:
        raise bad_input(f"feature maps are for one input; got {len(inputs.samples)}", ["file"])
    with loaded.lock:
        chain = loaded.extras.get("chain") or loaded.extras.setdefault("chain", LayerChain(loaded.net))
        outputs = chain.run(prepare_batch(inputs.samples, loaded.mean, loaded.std))
    logits = outputs[-1].output
    first_conv = next((plan for plan in loaded.net.summary.plans if plan.type == "conv2d"), None)
    sample = inputs.samples[0]
    view = FeatureMapView(
        model_id=model.id, input=inputs.names[0],
        input_tile=data_url(png_bytes(_input_pixels(sample))),
        top=top_classes(logits, loaded.class_names, min(5, len(loaded.class_names)))[0],
        probabilities=softmax(logits)[0].tolist(),
        first_conv=first_conv.name if first_conv else None,
        filters=kernel_tiles(loaded.net.params[f"{first_conv.name}.weight"]) if first_conv else [],
        input_values=sample.tolist() if query.arrays else None,
        filter_values=(loaded.net.params[f"{first_conv.name}.weight"].tolist()
                       if query.arrays and first_conv else None),
        layers=[{"name": out.name, "type": out.type, "output_shape": list(out.output_shape), "explain": out.explain,
                 "tiles": channel_tiles(out.output[0]),
                 "values": out.output[0].tolist() if query.arrays else None} for out in outputs])
    return jsonify(view.model_dump(mode="json"))


def _input_pixels(sample):
    """The input as the model saw it before normalisation: grey (H, W) or RGB (H, W, 3) uint8."""
    pixels = sample if sample.dtype.kind == "u" else stretch(sample)
    if pixels.ndim == 1:
        return pixels[None, :]
    return pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)
