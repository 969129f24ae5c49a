"""Job shapes: what POST /jobs accepts and what GET /jobs and GET /jobs/{id} answer. The parameters of
each kind are the job contract's (shared.jobs), the same models the worker parses the row with."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.api.schemas.common import MAX_ID, PageQuery, Ref, UtcDatetime
from shared.cnn.json_types import Whole
from shared.db.models import JOB_STATES
from shared.jobs import EvaluateParams, TrainParams


class TrainJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["train"]
    network_id: Whole = Field(ge=1, le=MAX_ID)
    dataset_id: Whole = Field(ge=1, le=MAX_ID)
    params: TrainParams = Field(default_factory=TrainParams)


class EvaluateJobRequest(BaseModel):
    """Evaluate a trained model on a dataset (its test split when it has one)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["evaluate"]
    model_id: Whole = Field(ge=1, le=MAX_ID)
    dataset_id: Whole = Field(ge=1, le=MAX_ID)
    params: EvaluateParams = Field(default_factory=EvaluateParams)


STATES_PATTERN = "^({0})(,({0}))*$".format("|".join(JOB_STATES))


class JobListQuery(PageQuery):
    status: str | None = Field(None, description="One state or several, comma-separated: "
                                                 + ", ".join(JOB_STATES) + ".",
                               json_schema_extra={"pattern": STATES_PATTERN})

    @field_validator("status")
    @classmethod
    def _known_states(cls, status: str | None) -> str | None:
        if status is not None:
            unknown = [s for s in status.split(",") if s not in JOB_STATES]
            if unknown:
                raise ValueError(f"unknown status {', '.join(map(repr, unknown))}; known: {', '.join(JOB_STATES)}")
        return status

    @property
    def states(self) -> list[str]:
        return self.status.split(",") if self.status else []


class Progress(BaseModel):
    epoch: int
    epochs: int
    step: int = Field(description="Optimizer steps done in the whole job.")
    steps: int = Field(description="Optimizer steps in the whole job.")
    fraction: float = Field(ge=0, le=1)
    eta_seconds: float | None


class Timings(BaseModel):
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    duration_seconds: float | None = Field(
        description="Running time: in total once finished, up to the last heartbeat while running.")


class ResultSummary(BaseModel):
    """The headline figures of a finished job's evaluation; the full report is in the job's `result`."""

    accuracy: float
    loss: float | None
    macro_f1: float | None
    split: str | None = Field(description="The split scored: `test`, or `train` for a dataset without one.")
    test_time_flip: bool = Field(False, description="Scored on the mean outputs for each image and its mirror image.")


class JobListItem(BaseModel):
    id: int
    kind: Literal["train", "evaluate"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    network: Ref | None
    dataset: Ref
    model_id: int | None
    progress: Progress
    latest_metrics: dict[str, Any]
    params: dict[str, Any] = Field(description="The job's parameters as stored: every default written out, "
                                                "and what the worker decided once the job started.")
    processes: int | None = Field(description="Processes a train job computes each step's gradient with (its "
                                              "`workers`); null for an evaluate job, or until a worker decides.")
    result_summary: ResultSummary | None = Field(
        description="Accuracy, loss and macro F1 of the evaluation; null until the job has a result.")
    error: str | None
    attempt: int
    cancel_requested: bool
    timings: Timings
    url: str


class NetworkRef(Ref):
    summary_url: str = Field(description="The network's per-layer summary; not embedded, it can be large.")


class JobView(JobListItem):
    network: NetworkRef | None
    result: dict[str, Any] = Field(description="Evaluation: loss, accuracy, per-class scores, confusion matrix.")
    worker_name: str | None
    heartbeat_at: UtcDatetime | None
    submitted_by: str | None = Field(None, description="The user who submitted the job.")
    cancelled_by: str | None = Field(None, description="The user who asked to cancel it, if anyone did.")
    waiting_for: str | None = Field(None, description="Why a queued job cannot start now: its owner already "
                                                      "runs the running jobs quota.")
    metrics_url: str
    model_url: str | None


class MetricView(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    kind: Literal["train", "val"]
    epoch: int
    step: int
    loss: float
    accuracy: float
    learning_rate: float | None
    images_per_second: float | None
    created_at: UtcDatetime


class MetricsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: int = Field(0, ge=0, le=MAX_ID,
                       description="Only rows with seq greater than this (the last_seq you have).")
    limit: int = Field(1000, ge=1, le=10_000)


class MetricsPage(BaseModel):
    job_id: int
    status: str
    metrics: list[MetricView]
    last_seq: int = Field(description="Pass as `since` next time; equal to `since` when nothing is new.")
    has_more: bool
