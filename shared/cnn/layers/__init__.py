"""Layer types, one module each: its definition schema, shape rule, explanation, title and
forward/backward (see ``registry``)."""
