"""The artifact store: datasets, checkpoints and models as objects under keys, in a local folder (the
default) or in S3-compatible object storage (ARTIFACT_URL=s3://bucket/prefix)."""
from .base import ArtifactStore, ObjectMissing, StoreError, StoreUnavailable
from .factory import open_store

__all__ = ["ArtifactStore", "ObjectMissing", "StoreError", "StoreUnavailable", "open_store"]
