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
from services.api.ownership import may_see
from services.api.problems import Problem
from shared.db.models import FINAL_STATES, Job, Model
from shared.removals import remove_pending, schedule_removal

# Ids named in a 409, at most; the detail says when there are more.
MAX_LISTED = 100
DESCRIPTION = (
    "Deletion never cascades: 409 (with the ids in `jobs` and `models`) while a queued or running job uses "
    "it, or while finished jobs or models still refer to it; delete those first. Its stored files are "
    "removed after the row.")


def refuse_while_referenced(what: str, ident: int, jobs: list[Job], models: list[Model]) -> None:
    """409 when `jobs` or `models` (the rows referring to the resource) are not empty. Rows of other
    users refuse the deletion too, but only their number is told."""
    active = [job for job in jobs if job.status not in FINAL_STATES]
    if active:
        raise Problem(409, "In use", f"{what} {ident} is used by queued or running {_named('jobs', active)}; "
                      "cancel them or wait until they finish, then delete their records.",
                      kind="in-use", members={"jobs": _ids(active), "models": []})
    if jobs or models:
        named = [_named(kind, rows) for kind, rows in (("jobs", jobs), ("models", models)) if rows]
        raise Problem(409, "Still referenced", f"{what} {ident} is still referred to by {' and '.join(named)}; "
                      "delete those first (deletion never cascades).", kind="referenced",
                      members={"jobs": _ids(jobs), "models": _ids(models)})


def jobs_where(*conditions) -> list[Job]:
    return list(db().scalars(select(Job).where(*conditions).order_by(Job.id)))


def models_where(*conditions) -> list[Model]:
    return list(db().scalars(select(Model).where(*conditions).order_by(Model.id)))


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


def _ids(rows) -> list[int]:
    """The ids the current user may see, at most MAX_LISTED."""
    return [row.id for row in rows if may_see(row)][:MAX_LISTED]


def _named(kind: str, rows) -> str:
    shown = _ids(rows)
    text = f"{kind} {', '.join(str(ident) for ident in shown)}" if shown else kind
    others = len(rows) - len(shown)
    return text + (f" and {others} more" if others else "")
