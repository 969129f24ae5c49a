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


DEFAULT_QUOTA_STORED_BYTES = 20 * 1024**3
DEFAULT_QUOTA_QUEUED_JOBS = 100
DEFAULT_QUOTA_RUNNING_JOBS = 4
DEFAULT_RATE_UPLOADS = "20/minute"
DEFAULT_RATE_SUBMISSIONS = "60/minute"


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
    # s3://bucket/prefix: artifacts in S3-compatible storage (endpoint, region and credentials from the
    # usual AWS_* variables boto3 reads). None: the ARTIFACT_DIR folder.
    artifact_url: str | None = None
    # How long a store call is retried while the store is unreachable before the job (or request) fails.
    store_retry_seconds: int = 60
    # A worker's local copies of datasets by content hash; least recently used evicted above the bound.
    dataset_cache_dir: Path = Path("var/dataset-cache")
    dataset_cache_bytes: int = 20 * 1024**3
    # Port of a worker's Prometheus /metrics; 0: none.
    worker_metrics_port: int = 9102
    # "text" or "json" (JSON lines, with job_id and attempt on lines about a job).
    log_format: str = "text"
    # prometheus-client's own variable: where each API process writes its samples (set by `convforge api`).
    prometheus_multiproc_dir: str | None = None
    # Signs the dashboard's session cookie; empty means a random key kept in var_dir/secret_key.
    secret_key: str = ""
    # Host headers the API answers (DNS rebinding); "*" allows any.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    # Per-user quotas and rate limits (services/api/quotas.py). Rates are "N/minute" strings.
    quota_stored_bytes: int = DEFAULT_QUOTA_STORED_BYTES
    quota_queued_jobs: int = DEFAULT_QUOTA_QUEUED_JOBS
    # Jobs of one user running at once, enforced by the worker's claim (worker/lifecycle/running_quota.py); 0: no limit.
    quota_running_jobs: int = DEFAULT_QUOTA_RUNNING_JOBS
    rate_uploads: str = DEFAULT_RATE_UPLOADS
    rate_submissions: str = DEFAULT_RATE_SUBMISSIONS
    # Where the rate limiter counts: empty means the broker's Redis; "memory://" keeps counts per process.
    ratelimit_storage_url: str = ""
    # `convforge migrate` makes this admin with this token when the token is set (docker-compose).
    admin_name: str = "admin"
    admin_token: str = ""
    # The token the CLI sends; empty means the one `convforge up` saved under var_dir.
    cli_token: str = ""
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
        artifact_url=os.environ.get("ARTIFACT_URL") or None,
        store_retry_seconds=_int("STORE_RETRY_SECONDS", 60),
        dataset_cache_dir=Path(os.environ.get("DATASET_CACHE_DIR") or var_dir / "dataset-cache").resolve(),
        dataset_cache_bytes=_int("DATASET_CACHE_BYTES", 20 * 1024**3),
        worker_metrics_port=_int("WORKER_METRICS_PORT", 9102),
        log_format=os.environ.get("CONVFORGE_LOG_FORMAT", "text").strip().lower() or "text",
        prometheus_multiproc_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        secret_key=os.environ.get("CONVFORGE_SECRET_KEY", ""),
        allowed_hosts=_allowed_hosts(),
        quota_stored_bytes=_int("CONVFORGE_QUOTA_STORED_BYTES", DEFAULT_QUOTA_STORED_BYTES),
        quota_queued_jobs=_int("CONVFORGE_QUOTA_QUEUED_JOBS", DEFAULT_QUOTA_QUEUED_JOBS),
        quota_running_jobs=_int("CONVFORGE_QUOTA_RUNNING_JOBS", DEFAULT_QUOTA_RUNNING_JOBS),
        rate_uploads=os.environ.get("CONVFORGE_RATE_UPLOADS") or DEFAULT_RATE_UPLOADS,
        rate_submissions=os.environ.get("CONVFORGE_RATE_SUBMISSIONS") or DEFAULT_RATE_SUBMISSIONS,
        ratelimit_storage_url=os.environ.get("CONVFORGE_RATELIMIT_STORAGE_URL", ""),
        admin_name=os.environ.get("CONVFORGE_ADMIN_NAME") or "admin",
        admin_token=os.environ.get("CONVFORGE_ADMIN_TOKEN", ""),
        cli_token=os.environ.get("CONVFORGE_TOKEN", ""),
        max_concurrent_ingests=_int("MAX_CONCURRENT_INGESTS", 2),
        max_lost_attempts=_int("MAX_LOST_ATTEMPTS", 3),
        artifact_sweep_grace_seconds=_int("ARTIFACT_SWEEP_GRACE_SECONDS", 3600),
    )


def _allowed_hosts() -> tuple[str, ...]:
    """CONVFORGE_ALLOWED_HOSTS (comma separated), else localhost and the hosts of the bind and API URL."""
    from urllib.parse import urlsplit

    listed = os.environ.get("CONVFORGE_ALLOWED_HOSTS", "")
    if listed.strip():
        return tuple(host.strip().lower() for host in listed.split(",") if host.strip())
    hosts = ["localhost", "127.0.0.1", "::1"]
    bind_host = os.environ.get("CONVFORGE_API_BIND", "").rpartition(":")[0].strip("[]")
    url_host = urlsplit(os.environ.get("CONVFORGE_API_URL", "")).hostname
    for host in (bind_host, url_host):
        if host and host not in ("0.0.0.0", "::") and host.lower() not in hosts:
            hosts.append(host.lower())
    return tuple(hosts)
