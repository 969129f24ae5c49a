"""The cached, loaded model behind a model row, refused with its size when it is over the cache's."""
from __future__ import annotations

from flask import current_app

from services.api.extensions import settings, store
from services.api.inference.limits import MAX_PREDICT_ACTIVATION_BYTES, MODEL_CACHE_BYTES
from services.api.inference.model_cache import LoadedModel, ModelCache
from services.api.problems import Problem, not_found
from shared.db.models import Model
from shared.storage import ObjectMissing
from shared.storage.files import scratch_dir

CACHE_KEY = "convforge.model_cache"


def model_cache() -> ModelCache:
    cache = current_app.extensions.get(CACHE_KEY)
    if cache is None:
        cache = current_app.extensions.setdefault(
            CACHE_KEY, ModelCache(store(), scratch_dir(settings()), MODEL_CACHE_BYTES))
    return cache


def loaded_model(model: Model) -> LoadedModel:
    if model.size_bytes > MODEL_CACHE_BYTES:
        raise Problem(413, "Model too large", f"model {model.id} is {model.size_bytes:,} bytes; the API runs "
                      f"models up to {MODEL_CACHE_BYTES:,} bytes (run an evaluate job instead)", kind="too-large")
    try:
        return model_cache().get(model.id, model.sha256, model.path)
    except ObjectMissing:
        raise not_found("The file of model", model.id) from None


def check_batch_memory(loaded: LoadedModel, count: int) -> None:
    estimate = count * loaded.net.summary.activation_bytes
    if estimate > MAX_PREDICT_ACTIVATION_BYTES:
        raise Problem(413, "Input too large", f"{count} inputs need about {estimate:,} bytes of activations in "
                      f"this model; the API allows {MAX_PREDICT_ACTIVATION_BYTES:,} per request (send fewer)",
                      kind="too-large")
