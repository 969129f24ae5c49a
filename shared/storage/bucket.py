"""Create the bucket ARTIFACT_URL names when it does not exist: the one-shot `bucket` service of
docker-compose runs `python -m shared.storage.bucket` before the API and the workers start."""
from __future__ import annotations

import sys

from shared.config import load_settings

from .base import StoreError


def main() -> int:
    settings = load_settings()
    if not settings.artifact_url:
        print(f"ARTIFACT_URL is not set: artifacts are kept in {settings.artifact_dir}")
        return 0
    from .s3 import S3Store

    try:
        print(S3Store(settings.artifact_url, settings.store_retry_seconds).ensure_bucket())
    except StoreError as exc:
        print(f"convforge bucket: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
