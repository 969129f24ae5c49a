"""The limits of running models inside the API process (predict and feature maps). Anything larger is
refused with the limit in the problem document; train an evaluate job for a whole dataset."""
from __future__ import annotations

MAX_PREDICT_INPUTS = 64  # images or array samples per request
MAX_PREDICT_BODY_BYTES = 16 * 1024**2
MAX_IMAGE_PIXELS = 4096 * 4096  # per image, read from its header before decoding
# Float32 activations of one request: inputs times the summary's activation bytes per sample.
MAX_PREDICT_ACTIVATION_BYTES = 1024**3
# Feature maps go back to the client (arrays and PNG tiles): one input, at most this many values.
MAX_FEATURE_MAP_VALUES = 2_000_000
DEFAULT_TOP_K = 5
# Loaded models kept in memory per API process, counted by their parameter and buffer bytes.
MODEL_CACHE_BYTES = 1024**3
