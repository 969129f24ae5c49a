"""Errors a person can act on: each names where (``loc``) and what (``msg``) is wrong."""
from __future__ import annotations


class SpecError(ValueError):
    """A document (network definition, optimizer or schedule spec) that cannot be used.

    ``errors`` is a list of ``{"loc": [...], "msg": "..."}``; ``loc`` follows pydantic's
    convention (``["layers", 3, "kernel_size"]``) so the API can return it unchanged.
    """

    def __init__(self, errors: list[dict]):
        self.errors = [{"loc": list(e["loc"]), "msg": str(e["msg"])} for e in errors]
        super().__init__("; ".join(e["msg"] for e in self.errors) or "invalid specification")


class DefinitionError(SpecError):
    """A network definition that fails the schema or the engine's shape and size rules."""


class ModelFileError(ValueError):
    """A saved model file that cannot be read back."""
