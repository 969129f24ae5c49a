"""One settings object read from the environment, used by every process.

The same variable names are used by docker-compose, the Makefile, CI and the tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_BIND = "127.0.0.1:8000"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a whole number") from exc


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    # None means "the local stack starts an embedded Redis under var_dir".
    redis_url: str | None
    artifact_dir: Path
    api_url: str
    # host:port where `convforge api` and `convforge up` serve the API.
    api_bind: str
    # Port of the Redis `convforge up` starts when redis_url is None.
    embedded_redis_port: int
    max_upload_bytes: int
    max_dataset_samples: int
    max_classes: int
    job_lease_seconds: int
    visibility_timeout_seconds: int
    # Bytes an upload may expand to once decompressed (zip members, .gz) or decoded into arrays.
    max_expanded_bytes: int = 4 * 1024**3
    # Memory a worker lets one training job use; 0 means 80% of the machine's memory.
    worker_memory_bytes: int = 0
    # Uploads one API process parses at once; more are answered 503 with Retry-After.
    max_concurrent_ingests: int = 2
    # Leftovers of interrupted uploads (staging and upload folders, dataset folders without a row) are
    # removed once untouched for this long; shorter than the slowest upload's parse would race it.
    artifact_sweep_grace_seconds: int = 3600
    # Times a job may lose its worker (killed, out of memory) before it is failed instead of retried.
    max_lost_attempts: int = 3

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"


def load_settings() -> Settings:
    var_dir = Path(os.environ.get("CONVFORGE_VAR_DIR", "var")).resolve()
    return Settings(
        var_dir=var_dir,
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'convforge.db'}",
        redis_url=os.environ.get("REDIS_URL") or None,
        artifact_dir=Path(os.environ.get("ARTIFACT_DIR") or var_dir / "artifacts").resolve(),
        api_url=os.environ.get("CONVFORGE_API_URL", f"http://{DEFAULT_API_BIND}"),
        api_bind=os.environ.get("CONVFORGE_API_BIND") or DEFAULT_API_BIND,
        embedded_redis_port=_int("CONVFORGE_REDIS_PORT", 6390),
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 512 * 1024 * 1024),
        max_expanded_bytes=_int("MAX_EXPANDED_BYTES", 4 * 1024**3),
        max_dataset_samples=_int("MAX_DATASET_SAMPLES", 2_000_000),
        max_classes=_int("MAX_CLASSES", 1000),
        job_lease_seconds=_int("JOB_LEASE_SECONDS", 60),
        visibility_timeout_seconds=_int("VISIBILITY_TIMEOUT_SECONDS", 3600),
        worker_memory_bytes=_int("WORKER_MEMORY_BYTES", 0),
        max_concurrent_ingests=_int("MAX_CONCURRENT_INGESTS", 2),
        max_lost_attempts=_int("MAX_LOST_ATTEMPTS", 3),
        artifact_sweep_grace_seconds=_int("ARTIFACT_SWEEP_GRACE_SECONDS", 3600),
    )
