"""Per-user quotas and rate limits, checked before the view runs, after authentication.

    stored bytes        datasets + models a user keeps      413 on an upload that would pass it
    queued jobs         a user's jobs waiting for a worker   429 on a submission past it
    uploads / minute    POST /datasets                       429 (Flask-Limiter, counted in Redis)
    submissions / min   POST /jobs                           429 (Flask-Limiter, counted in Redis)

Each refusal is a problem document naming the limit, its setting and the current use. The running jobs
quota is not checked here: a submission over it is accepted and waits queued, held by the worker's claim
(worker/lifecycle/running_quota.py).
"""
from __future__ import annotations

import time

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from sqlalchemy import func, select

from services.api.auth import current_user
from services.api.extensions import db, settings
from services.api.problems import Problem, problem_response
from shared.db.models import Dataset, Job, Model

UPLOAD_ENDPOINT = "datasets.create_dataset"
SUBMIT_ENDPOINT = "jobs.create_job"
LIMITER_KEY = "convforge_limiter"
# Rate limit name -> (what it counts, its setting, environment variable), for the messages.
RATES = {UPLOAD_ENDPOINT: ("uploads per minute", lambda configured: configured.rate_uploads,
                           "CONVFORGE_RATE_UPLOADS"),
         SUBMIT_ENDPOINT: ("job submissions per minute", lambda configured: configured.rate_submissions,
                           "CONVFORGE_RATE_SUBMISSIONS")}


def init_quotas(app: Flask) -> None:
    configured = app.extensions["convforge"].settings
    limiter = Limiter(
        key_func=lambda: f"user:{current_user().id}",
        storage_uri=configured.ratelimit_storage_url or configured.broker_url,
        strategy="moving-window", key_prefix="convforge",
        # Off: the limiter's headers would overwrite the Retry-After of other answers (a 503, say);
        # a 429 sets its own.
        headers_enabled=False,
        # Redis down: count in this process meanwhile rather than refuse every upload.
        swallow_errors=True, in_memory_fallback_enabled=True, default_limits=[])
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    app.before_request(check_quotas)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded):
        return problem_response(rate_problem(limiter, error))


def check_quotas():
    if request.endpoint == UPLOAD_ENDPOINT:
        _check_stored_bytes()
        _count_rate(UPLOAD_ENDPOINT)
    elif request.endpoint == SUBMIT_ENDPOINT:
        _check_queued_jobs()
        _count_rate(SUBMIT_ENDPOINT)


def _count_rate(endpoint: str) -> None:
    limiter: Limiter = current_app.extensions[LIMITER_KEY]
    rate = RATES[endpoint][1](settings())
    # Used as a context manager, a Flask-Limiter limit counts one hit here and raises when it is spent.
    with limiter.limit(rate, scope=endpoint, override_defaults=True):
        pass


def rate_problem(limiter: Limiter, error: RateLimitExceeded) -> Problem:
    name, _setting, variable = RATES.get(request.endpoint, ("requests", None, ""))
    item = error.limit.limit
    current = limiter.current_limit
    retry = max(int(current.reset_at - time.time()), 1) if current else item.get_expiry()
    return Problem(429, "Rate limit reached",
                   f"{name}: {item.amount} per {item.multiples} {item.GRANULARITY.name}, and {item.amount} "
                   f"were used; try again in {retry} s (limit set by {variable}).",
                   kind="rate-limited", headers={"Retry-After": str(retry)})


def stored_bytes(owner_id: int) -> int:
    session = db()
    datasets = session.scalar(select(func.coalesce(func.sum(Dataset.size_bytes), 0))
                              .where(Dataset.owner_id == owner_id))
    models = session.scalar(select(func.coalesce(func.sum(Model.size_bytes), 0)).where(Model.owner_id == owner_id))
    return int(datasets) + int(models)


def _check_stored_bytes() -> None:
    limit = settings().quota_stored_bytes
    used = stored_bytes(current_user().id)
    # The upload's size stands in for what it will store (arrays are at most a small factor larger).
    incoming = request.content_length or 0
    if used + incoming > limit:
        raise Problem(413, "Storage quota exceeded",
                      f"stored bytes: {used:,} of {limit:,} used, and this upload is {incoming:,} bytes; delete "
                      f"something or ask for a larger quota (CONVFORGE_QUOTA_STORED_BYTES).",
                      kind="quota-exceeded")


def _check_queued_jobs() -> None:
    limit = settings().quota_queued_jobs
    queued = db().scalar(select(func.count()).select_from(Job)
                         .where(Job.owner_id == current_user().id, Job.status == "queued"))
    if queued >= limit:
        raise Problem(429, "Queued jobs quota reached",
                      f"queued jobs: {queued} of {limit} are waiting; wait for some to start or cancel some "
                      f"(CONVFORGE_QUOTA_QUEUED_JOBS).", kind="quota-exceeded")
