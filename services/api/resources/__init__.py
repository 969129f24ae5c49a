"""One blueprint per REST resource."""
