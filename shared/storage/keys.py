"""Where kinds of objects live in the artifact store, for every writer of them."""
from __future__ import annotations

import uuid

MODELS_PREFIX = "models/"


def new_model_key() -> str:
    """A fresh key for a model file: never reused, so a model row always names the file it was saved with."""
    return f"{MODELS_PREFIX}{uuid.uuid4()}.npz"
