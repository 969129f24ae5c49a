"""A worker's Prometheus metrics, served on WORKER_METRICS_PORT (`/metrics`). Names are shared with the
API's where they mean the same thing (the `convforge_` prefix, seconds, bytes)."""
from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from shared.db.models import utcnow
from shared.jobs import as_utc

log = logging.getLogger(__name__)

# Waits run from seconds (an idle worker) to hours (a long queue); runs from seconds to days.
WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600)
RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 48 * 3600)
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

JOBS_STARTED = Counter("convforge_worker_jobs_started", "Jobs this worker claimed", ["kind"])
JOBS_FINISHED = Counter("convforge_worker_jobs_finished", "Jobs this worker ended, by outcome",
                        ["kind", "outcome"])
JOB_WAIT = Histogram("convforge_job_wait_seconds", "From a job's creation to its claim by a worker",
                     ["kind"], buckets=WAIT_BUCKETS)
JOB_RUN = Histogram("convforge_job_run_seconds", "From a claim to the job's end on this worker",
                    ["kind", "outcome"], buckets=RUN_BUCKETS)
STEPS = Counter("convforge_training_steps", "Training steps run")
STEP_TIME = Histogram("convforge_training_step_seconds", "Time of one training step (one batch)",
                      buckets=STEP_BUCKETS)
IMAGES = Counter("convforge_training_images", "Images trained on")
IMAGES_PER_SECOND = Gauge("convforge_training_images_per_second", "Images per second of the latest step")

CACHE_LOOKUPS = Counter("convforge_dataset_cache_lookups", "Dataset cache lookups by result",
                        ["result"])  # hit, miss, corrupt
CACHE_FETCHED_BYTES = Counter("convforge_dataset_cache_fetched_bytes", "Bytes downloaded into the dataset cache")
CACHE_HIT_BYTES = Counter("convforge_dataset_cache_hit_bytes", "Bytes of datasets served from the cache")
CACHE_EVICTED = Counter("convforge_dataset_cache_evictions", "Datasets evicted from the cache")
CACHE_SIZE = Gauge("convforge_dataset_cache_bytes", "Bytes the dataset cache holds")


def job_started(kind: str, created_at: datetime, attempt: int) -> None:
    """A claim: the wait is counted once per job, at its first attempt."""
    JOBS_STARTED.labels(kind).inc()
    if attempt == 1:
        JOB_WAIT.labels(kind).observe(max(0.0, (utcnow() - as_utc(created_at)).total_seconds()))


def job_ended(kind: str, outcome: str, seconds: float) -> None:
    JOBS_FINISHED.labels(kind, outcome).inc()
    JOB_RUN.labels(kind, outcome).observe(seconds)


def observe_step(seconds: float, images: int) -> None:
    STEPS.inc()
    STEP_TIME.observe(seconds)
    IMAGES.inc(images)
    if seconds > 0:
        IMAGES_PER_SECOND.set(images / seconds)


def serve_metrics(port: int) -> None:
    """Serve /metrics in a daemon thread; 0 means no endpoint. A port in use is logged, not fatal."""
    if not port:
        return
    try:
        start_http_server(port)
    except OSError as exc:
        log.warning("worker metrics not served: port %s unavailable (%s); set WORKER_METRICS_PORT", port, exc)
        return
    log.info("worker metrics on http://0.0.0.0:%s/metrics", port)
