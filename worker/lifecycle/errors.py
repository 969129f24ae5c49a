"""How a job stops early. Each maps to one final state (see `job_outcome` in worker/lifecycle/outcome.py)."""
from __future__ import annotations


class JobFailed(Exception):
    """The job cannot finish; the message is a sentence a person can act on."""


class JobCancelled(Exception):
    """A cancel was requested for the job."""


class ShutdownRequested(Exception):
    """The worker is shutting down; the job goes back to the queue."""
