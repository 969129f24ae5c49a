"""The job contract between the API and the worker: the parameters of each job kind (defaults and
bounds), the Celery task that runs each kind, and the time rules both sides apply to a job's row.

The API stores a job's parameters resolved by these models (every field written out); the worker
parses the stored row with the same models and writes back what it decided (`workers`,
`log_every_steps`), so the row always says how the job runs.
"""
from shared.jobs.clock import as_utc, lease_expired
from shared.jobs.params import (
    DEFAULT_LEARNING_RATES,
    DEFAULT_MOMENTUM,
    DEFAULT_OPTIMIZER,
    PARAMS_BY_KIND,
    AugmentSpec,
    EvaluateParams,
    TrainParams,
    default_optimizer,
    resolved_params,
)
from shared.jobs.tasks import EVALUATE_TASK, JOB_TASKS, TASK_BY_KIND, TRAIN_TASK

__all__ = [
    "DEFAULT_LEARNING_RATES", "DEFAULT_MOMENTUM", "DEFAULT_OPTIMIZER", "EVALUATE_TASK", "JOB_TASKS",
    "PARAMS_BY_KIND", "TASK_BY_KIND", "TRAIN_TASK",
    "AugmentSpec", "EvaluateParams", "TrainParams", "as_utc", "default_optimizer", "lease_expired",
    "resolved_params",
]
