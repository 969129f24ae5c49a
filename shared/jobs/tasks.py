"""The Celery task that runs each job kind. These names are a wire contract: messages already in a
broker carry them, so they never change."""
from __future__ import annotations

TRAIN_TASK = "convforge.train"
EVALUATE_TASK = "convforge.evaluate"
TASK_BY_KIND = {"train": TRAIN_TASK, "evaluate": EVALUATE_TASK}
JOB_TASKS = frozenset(TASK_BY_KIND.values())
