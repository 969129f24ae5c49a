"""Request bodies parsed as standard JSON (RFC 8259): NaN and Infinity are refused, and so is nesting
deeper than MAX_JSON_DEPTH, with a sentence a client can act on instead of a recursion error."""
from __future__ import annotations

import json

from flask.json.provider import DefaultJSONProvider

from shared.limits import MAX_JSON_DEPTH


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number; send a finite number")


def depth_exceeds(value: object, limit: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `limit` (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, (list, dict)):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs):
        # Flask turns a ValueError into its 400 answer, with the sentence as the description.
        too_deep = ValueError(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep")
        try:
            value = json.loads(s, parse_constant=_refuse_constant, **kwargs)
        except RecursionError:
            raise too_deep from None
        if depth_exceeds(value, MAX_JSON_DEPTH):
            raise too_deep
        return value
