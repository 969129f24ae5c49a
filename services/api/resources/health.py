"""Health: the database (SELECT 1), the broker (Redis PING) and the live workers (Celery ping)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.api.extensions import db, job_queue
from services.api.route_table import api_route
from services.api.schemas.health import BrokerCheck, Check, HealthView

bp = Blueprint("health", __name__, url_prefix="/api/v1/health")
# How long the check waits for idle workers to answer the broadcast ping (the ping always waits this long);
# busy workers are found by their presence keys. Keeps /health well inside a 1 s answer.
WORKER_PING_SECONDS = 0.4


@api_route(bp, "", summary="Database, broker and workers, each checked for real",
           response=HealthView, same_body_statuses=(503,), public=True,
           description="200 when the database and the broker answer, else 503 with the same body. "
                       "Workers are listed; none alive does not make the API unhealthy.")
def health():
    database = Check(ok=True)
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        database = Check(ok=False, error=str(getattr(exc, "orig", None) or exc).splitlines()[0])
    queue = job_queue()
    broker_error = queue.ping_broker()
    broker = BrokerCheck(ok=broker_error is None, error=broker_error, url=queue.safe_broker_url())
    workers = queue.live_workers(timeout=WORKER_PING_SECONDS) if broker.ok else []
    ok = database.ok and broker.ok
    view = HealthView(status="ok" if ok else "unavailable", database=database, broker=broker, workers=workers)
    response = jsonify(view.model_dump(mode="json"))
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response
