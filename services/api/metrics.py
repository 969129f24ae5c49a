"""Prometheus `/metrics` for the API: request latency by route, and, read at each scrape, jobs by status
(from the database) and the queue depth (from the broker).

Under gunicorn the API runs several processes; with PROMETHEUS_MULTIPROC_DIR set (`convforge api` sets
it) each writes its samples there and a scrape of any process adds them all up.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from services.api.extensions import Resources, settings
from shared.db.models import JOB_STATES, Job

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)
# prometheus-client's own variable: where each process writes its samples.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram("convforge_api_request_seconds", "API request latency by route",
                            ["method", "route", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120))


class JobsCollector:
    """Jobs by status and the broker's queue depth, read when scraped."""

    def __init__(self, resources: Resources):
        self.resources = resources

    def collect(self):
        jobs = GaugeMetricFamily("convforge_jobs", "Jobs by status", labels=["status"])
        try:
            with self.resources.sessions() as session:
                counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            for status in JOB_STATES:
                jobs.add_metric([status], counts.get(status, 0))
            yield jobs
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("jobs by status not scraped: %s", exc)
        depth = self.resources.job_queue.queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("convforge_queue_depth", "Job messages waiting in the broker", value=depth)


def init_metrics(app: Flask, resources: Resources) -> None:
    jobs_registry = CollectorRegistry(auto_describe=False)
    jobs_registry.register(JobsCollector(resources))
    app.extensions["convforge_metrics"] = jobs_registry

    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("request_started", None)
        if started is not None and request.endpoint != "metrics.scrape":
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started)
        return response


@bp.route("/metrics")
def scrape():
    if settings().prometheus_multiproc_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    body += generate_latest(current_app.extensions["convforge_metrics"])
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
