"""Models as ``.npz``: parameter and buffer arrays, the definition and metadata as JSON strings."""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import DefinitionError, ModelFileError
from .network import Network, build_network

_DEFINITION, _METADATA, _DTYPE = "__definition__", "__metadata__", "__dtype__"


def save_model(path: str | os.PathLike, net: Network, metadata: dict | None = None) -> None:
    """Write atomically: a temporary file beside ``path``, then ``os.replace``."""
    path = os.fspath(path)
    arrays = {key: np.asarray(value) for key, value in net.state_arrays().items()}
    arrays[_DEFINITION] = np.array(json.dumps(net.definition.to_dict()))
    arrays[_METADATA] = np.array(json.dumps(metadata or {}))
    arrays[_DTYPE] = np.array(net.dtype.name)
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp_path = tempfile.mkstemp(prefix=".model-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise


def load_model(path: str | os.PathLike) -> tuple[Network, dict]:
    """(network, metadata) from a file written by ``save_model``; never unpickles."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a readable model file ({exc})") from None
    if _DEFINITION not in arrays:
        raise ModelFileError(f"{path}: the file holds no network definition")
    try:
        definition = json.loads(str(arrays.pop(_DEFINITION)))
        metadata = json.loads(str(arrays.pop(_METADATA, np.array("{}"))))
        dtype = str(arrays.pop(_DTYPE, np.array("float32")))
        net = build_network(definition, dtype=dtype)
        net.load_params(arrays)
    except (json.JSONDecodeError, DefinitionError, ValueError) as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return net, metadata
