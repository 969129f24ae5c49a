"""Deleting networks, datasets, models and jobs: the rules every DELETE route shares.

Deletion never cascades. A network, dataset or model is deleted only when no job and no model refers to
it as an input: while a queued or running job uses it the answer is 409 naming those jobs; while finished
jobs or models still refer to it, 409 naming them, to delete first. What a resource produced is detached,
not deleted: a model keeps existing when the job that trained it is deleted (its job_id becomes null),
and a training job keeps its record when its model is deleted (its model_id becomes null).

The row goes first and its artifact-store objects after (shared.removals), so a row never points to a
missing object.
"""
from __future__ import annotations

from flask import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.api.extensions import db, store
from services.api.problems import Problem
from shared.db.models import FINAL_STATES, Job, Model
from shared.removals import remove_pending, schedule_removal

# Ids named in a 409, at most; the detail says when there are more.
MAX_LISTED = 100
DESCRIPTION = (
    "Deletion never cascades: 409 (with the ids in `jobs` and `models`) while a queued or running job uses "
    "it, or while finished jobs or models still refer to it; delete those first. Its stored files are "
    "removed after the row.")


def refuse_while_referenced(what: str, ident: int, jobs: list[Job], model_ids: list[int]) -> None:
    """409 when `jobs` or `model_ids` (the rows referring to the resource) are not empty."""
    active = [job.id for job in jobs if job.status not in FINAL_STATES]
    if active:
        raise Problem(409, "In use", f"{what} {ident} is used by queued or running jobs "
                      f"{_ids(active)}; cancel them or wait until they finish, then delete their records.",
                      kind="in-use", members={"jobs": active[:MAX_LISTED], "models": []})
    if jobs or model_ids:
        named = [part for part in (f"jobs {_ids([job.id for job in jobs])}" if jobs else "",
                                   f"models {_ids(model_ids)}" if model_ids else "") if part]
        raise Problem(409, "Still referenced", f"{what} {ident} is still referred to by {' and '.join(named)}; "
                      "delete those first (deletion never cascades).", kind="referenced",
                      members={"jobs": [job.id for job in jobs][:MAX_LISTED], "models": model_ids[:MAX_LISTED]})


def jobs_where(*conditions) -> list[Job]:
    return list(db().scalars(select(Job).where(*conditions).order_by(Job.id)))


def model_ids_where(*conditions) -> list[int]:
    return list(db().scalars(select(Model.id).where(*conditions).order_by(Model.id)))


def delete_row(row, what: str, object_prefixes: list[str]) -> Response:
    """Delete `row` (with whatever the session already holds) and record its objects for removal in one
    transaction, then remove the objects; answers 204."""
    session = db()
    session.delete(row)
    schedule_removal(session, object_prefixes)
    try:
        session.commit()
    except IntegrityError:
        # Another request made a row refer to this one between the check and the commit.
        session.rollback()
        raise Problem(409, "Still referenced", f"{what} {row.id} was referred to by a new job or model "
                      "while it was being deleted; nothing was deleted.", kind="referenced") from None
    remove_pending(session, store())  # this row's objects, and any a crash or outage left pending
    return Response(status=204)


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(ident) for ident in ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")
