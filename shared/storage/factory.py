"""The store the settings name: S3 when ARTIFACT_URL is set, the ARTIFACT_DIR folder otherwise."""
from __future__ import annotations

from shared.config import Settings

from .base import ArtifactStore
from .local import LocalStore


def open_store(settings: Settings) -> ArtifactStore:
    if settings.artifact_url:
        from .s3 import S3Store  # boto3 is imported only by processes that use it

        return S3Store(settings.artifact_url, settings.store_retry_seconds)
    return LocalStore(settings.artifact_dir)
