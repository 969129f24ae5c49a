"""``parse_definition``: the schema, then the engine's shape rules and size limits, as one check."""
from __future__ import annotations

from .definition import NetworkDefinition, parse_schema
from .shapes import plan_network

# Refuse what could never be trained on one machine rather than attempt it.
MAX_PARAMS = 2**31
MAX_ACTIVATION_BYTES_PER_SAMPLE = 2 * 2**30


def parse_definition(data: dict | NetworkDefinition, *, max_params: int = MAX_PARAMS,
                     max_activation_bytes: int = MAX_ACTIVATION_BYTES_PER_SAMPLE
                     ) -> NetworkDefinition:
    """Validate a definition document; raise ``DefinitionError`` naming layer and field."""
    definition = parse_schema(data)
    plan_network(definition, max_params, max_activation_bytes)
    return definition
