"""Jobs: a row in state `queued`, then a Celery message carrying only its id. The row is the truth."""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from sqlalchemy import delete, select, update

from services.api.auth import current_user
from services.api.caching import conditional_json
from services.api.compatibility import mismatches
from services.api.deletion import delete_row
from services.api.extensions import db, job_queue, settings
from services.api.fairness import fair_priority
from services.api.job_queue import BrokerUnavailable
from services.api.ownership import load_visible, owner_id, referenced, visible
from services.api.pagination import fetch_page
from services.api.problems import Problem, validation_problem
from services.api.route_table import api_route
from services.api.schemas.common import Page, Ref
from services.api.schemas.jobs import (
    EvaluateJobRequest,
    JobListItem,
    JobListQuery,
    JobView,
    MetricsPage,
    MetricsQuery,
    MetricView,
    NetworkRef,
    Progress,
    ResultSummary,
    Timings,
    TrainJobRequest,
)
from services.api.validation import json_body, parse_body, parse_query
from shared.data.pipeline import held_out_count
from shared.db.models import FINAL_STATES, JOB_KINDS, Dataset, Job, Metric, Model, Network, User, utcnow
from shared.jobs import as_utc, resolved_params
from shared.jobs.memory import MemoryEstimate, job_memory, memory_limit, refusal
from shared.jobs.running_quota import waiting_reason

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


def job_url(job_id: int) -> str:
    return url_for("jobs.get_job", job_id=job_id)


def progress(job: Job) -> Progress:
    if job.status == "succeeded":
        fraction = 1.0
    else:
        fraction = min(job.step / job.steps, 1.0) if job.steps else 0.0
    return Progress(epoch=job.epoch, epochs=job.epochs, step=job.step, steps=job.steps, fraction=fraction,
                    eta_seconds=job.eta_seconds)


def timings(job: Job) -> Timings:
    duration = None
    if job.started_at is not None:
        # While running: up to the last heartbeat, so an unchanged job keeps its ETag between polls.
        end = job.finished_at or job.heartbeat_at or job.started_at
        duration = max((as_utc(end) - as_utc(job.started_at)).total_seconds(), 0.0)
    return Timings(created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   duration_seconds=duration)


def result_summary(result: dict | None) -> ResultSummary | None:
    """A few numbers of the result, small enough for every item of a list: no per-class table or matrix."""
    if not result or result.get("accuracy") is None:
        return None
    return ResultSummary(accuracy=result["accuracy"], loss=result.get("loss"), macro_f1=result.get("macro_f1"),
                         split=result.get("split"), test_time_flip=result.get("test_time_flip", False))


def processes(job: Job) -> int | None:
    return (job.params or {}).get("workers") if job.kind == "train" else None


def list_item(job: Job, network: Network | None, dataset: Dataset) -> JobListItem:
    return JobListItem(
        id=job.id, kind=job.kind, status=job.status,
        network=Ref(id=network.id, name=network.name,
                    url=url_for("networks.get_network", network_id=network.id)) if network else None,
        dataset=Ref(id=dataset.id, name=dataset.name, url=url_for("datasets.get_dataset", dataset_id=dataset.id)),
        model_id=job.model_id, progress=progress(job), latest_metrics=job.latest_metrics or {},
        params=job.params or {}, processes=processes(job), result_summary=result_summary(job.result),
        error=job.error,
        attempt=job.attempt, cancel_requested=job.cancel_requested, timings=timings(job), url=job_url(job.id))


def job_view(job: Job) -> dict:
    session = db()
    network = session.get(Network, job.network_id) if job.network_id else None
    dataset = session.get(Dataset, job.dataset_id)
    item = list_item(job, network, dataset).model_dump()
    if network is not None:
        item["network"] = NetworkRef(**item["network"],
                                     summary_url=url_for("networks.get_summary", network_id=network.id))
    view = JobView(
        **item, result=job.result or {}, worker_name=job.worker_name,
        heartbeat_at=job.heartbeat_at, submitted_by=user_name(job.owner_id),
        cancelled_by=user_name(job.cancelled_by_id),
        waiting_for=waiting_reason(session, job, settings().quota_running_jobs),
        metrics_url=url_for("jobs.get_metrics", job_id=job.id),
        model_url=url_for("models.get_model", model_id=job.model_id) if job.model_id else None)
    return view.model_dump(mode="json")


def user_name(user_id: int | None) -> str | None:
    user = db().get(User, user_id) if user_id else None
    return user.name if user else None


def load_job(job_id: int) -> Job:
    return load_visible(Job, job_id, "Job")


def refuse_unless_it_fits(estimate: MemoryEstimate) -> None:
    """422 when a worker could not hold the job (the workers check again with the number of processes
    they choose when `workers` is not given)."""
    reason = refusal(estimate, memory_limit(settings().worker_memory_bytes))
    if reason:
        raise validation_problem([{"loc": ["params", "batch_size"], "msg": f"params.batch_size: {reason}"}],
                                 f"The job cannot run: {reason}.")


def new_train_job(request: TrainJobRequest) -> Job:
    network = referenced(Network, request.network_id, "network_id", "network")
    dataset = referenced(Dataset, request.dataset_id, "dataset_id", "dataset")
    errors = mismatches(network, dataset)
    params = request.params
    held_out = held_out_count(dataset.num_samples, params.validation_split)
    if dataset.num_samples - held_out < 1:
        errors.append({"loc": ["params", "validation_split"], "msg": (
            f"params.validation_split: {params.validation_split} holds out {held_out} of the dataset's "
            f"{dataset.num_samples} samples and leaves none to train on")})
    if errors:
        raise validation_problem(errors, "The job cannot run on this dataset: "
                                 + "; ".join(error["msg"] for error in errors))
    refuse_unless_it_fits(job_memory(network.definition, "train", params.batch_size, params.workers or 1,
                                     params.scoring_batch_size))
    return Job(owner_id=owner_id(), kind="train", status="queued", network_id=network.id, dataset_id=dataset.id,
               params=resolved_params(params), epochs=params.epochs)


def new_evaluate_job(request: EvaluateJobRequest) -> Job:
    model = referenced(Model, request.model_id, "model_id", "model")
    dataset = referenced(Dataset, request.dataset_id, "dataset_id", "dataset")
    network = db().get(Network, model.network_id)
    errors = mismatches(network, dataset, network_field="model_id")
    if errors:
        raise validation_problem(errors, "The model does not fit the dataset: "
                                 + "; ".join(error["msg"] for error in errors))
    refuse_unless_it_fits(job_memory(network.definition, "evaluate", request.params.batch_size))
    return Job(owner_id=owner_id(), kind="evaluate", status="queued", network_id=network.id, dataset_id=dataset.id,
               model_id=model.id, params=resolved_params(request.params))


@api_route(bp, "", "POST", summary="Queue a training or an evaluation job",
           body=(TrainJobRequest, EvaluateJobRequest), response=JobView, status=202,
           problems=(400, 415, 422, 429, 503), headers=("Location",),
           description="The job is stored as `queued` and a message carrying its id is sent to the workers. "
                       "If the broker cannot be reached the job is marked failed and the answer is 503.")
def create_job():
    body = json_body()
    kind = body.get("kind") if isinstance(body, dict) else None
    if kind not in JOB_KINDS:
        raise validation_problem([{"loc": ["kind"], "msg": f"kind: must be one of {', '.join(JOB_KINDS)}"}])
    if kind == "train":
        job = new_train_job(parse_body(TrainJobRequest, body))
    else:
        job = new_evaluate_job(parse_body(EvaluateJobRequest, body))
    session = db()
    session.add(job)
    session.commit()
    try:
        job_queue().send(job, priority=fair_priority(job))
    except BrokerUnavailable as exc:
        # Never leave a queued row that no message will ever start.
        job.status, job.finished_at = "failed", utcnow()
        job.error = f"The job could not be queued: {exc}. Start Redis (or fix REDIS_URL) and submit it again."
        session.commit()
        raise Problem(503, "Broker unavailable", job.error, kind="broker-unavailable",
                      headers={"Retry-After": "10", "Location": job_url(job.id)}) from None
    response = jsonify(job_view(job))
    response.status_code = 202
    response.headers["Location"] = job_url(job.id)
    return response


@api_route(bp, "", summary="List jobs, newest first, optionally by status", query=JobListQuery,
           response=Page[JobListItem], problems=(400,), etag=True)
def list_jobs():
    query = parse_query(JobListQuery)
    statement = visible(select(Job), Job)
    if query.states:
        statement = statement.where(Job.status.in_(query.states))
    session = db()
    jobs, next_cursor = fetch_page(session, statement, Job.id, query)
    networks = _by_id(session, Network, {job.network_id for job in jobs if job.network_id})
    datasets = _by_id(session, Dataset, {job.dataset_id for job in jobs})
    items = [list_item(job, networks.get(job.network_id), datasets[job.dataset_id]) for job in jobs]
    return conditional_json(Page[JobListItem](items=items, next_cursor=next_cursor).model_dump(mode="json"))


@api_route(bp, "/<id:job_id>", summary="One job: status, progress, metrics, summary, timings, result",
           response=JobView, problems=(404,), etag=True)
def get_job(job_id: int):
    return conditional_json(job_view(load_job(job_id)))


@api_route(bp, "/<id:job_id>/metrics", summary="The job's metric rows newer than `since`",
           query=MetricsQuery, response=MetricsPage, problems=(400, 404), etag=True)
def get_metrics(job_id: int):
    query = parse_query(MetricsQuery)
    job = load_job(job_id)
    rows = db().scalars(
        select(Metric).where(Metric.job_id == job_id, Metric.seq > query.since)
        .order_by(Metric.seq).limit(query.limit + 1)).all()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    page = MetricsPage(job_id=job_id, status=job.status, metrics=[MetricView.model_validate(row) for row in rows],
                       last_seq=rows[-1].seq if rows else query.since, has_more=has_more)
    return conditional_json(page.model_dump(mode="json"))


@api_route(bp, "/<id:job_id>/cancel", "POST", summary="Cancel a queued or running job",
           response=JobView, same_body_statuses=(202,), problems=(404, 409),
           description="A queued job is cancelled at once (200) and its message revoked; a running job is asked "
                       "to stop (202) and stops within a step; a finished job answers 409.")
def cancel_job(job_id: int):
    session = db()
    job = load_job(job_id)
    # Conditional updates: the worker may be claiming or finishing the job at this very moment.
    cancelled = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=utcnow(), cancelled_by_id=current_user().id)
        .execution_options(synchronize_session=False)).rowcount
    asked = 0
    if not cancelled:
        asked = session.execute(
            update(Job).where(Job.id == job_id, Job.status == "running")
            .values(cancel_requested=True, cancelled_by_id=current_user().id)
            .execution_options(synchronize_session=False)).rowcount
    session.commit()
    session.refresh(job)
    if cancelled:
        job_queue().revoke(job)
    elif not asked:
        raise Problem(409, "Job already finished",
                      f"Job {job_id} already {job.status}; only queued or running jobs can be cancelled.",
                      kind="job-finished")
    response = jsonify(job_view(job))
    response.status_code = 200 if cancelled else 202
    return response


@api_route(bp, "/<id:job_id>", "DELETE", summary="Delete a finished job and its metrics",
           status=204, media_types=(), problems=(404, 409),
           description="Only a succeeded, failed or cancelled job can be deleted (409 otherwise: cancel it first). "
                       "Its metric rows go with it; a model it trained stays, with `job_id` null; the workers "
                       "remove any checkpoint it left.")
def delete_job(job_id: int):
    session = db()
    job = load_job(job_id)
    if job.status not in FINAL_STATES:
        raise Problem(409, "In use", f"Job {job_id} is {job.status}; cancel it and wait until it stops before "
                      "deleting it.", kind="in-use", members={"jobs": [job_id], "models": []})
    session.execute(update(Model).where(Model.job_id == job_id).values(job_id=None)
                    .execution_options(synchronize_session=False))
    session.execute(delete(Metric).where(Metric.job_id == job_id).execution_options(synchronize_session=False))
    return delete_row(job, "Job", [])


def _by_id(session, entity, ids: set[int]) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(entity).where(entity.id.in_(ids)))}
