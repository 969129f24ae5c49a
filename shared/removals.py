"""Removing a deleted row's objects from the artifact store, crash-safe.

The row goes first, in a transaction that also records its objects' key prefixes in artifact_removals;
the objects go after the commit, then their record. A crash or a store outage in between leaves a record,
never a row pointing to a missing object, and `remove_pending` (run by every deletion) finishes the job.
"""
from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.db.models import ArtifactRemoval
from shared.storage import ArtifactStore, StoreError

log = logging.getLogger(__name__)
# Records handled per pass, so one request never takes long however much is pending.
MAX_REMOVALS_PER_PASS = 50


def schedule_removal(session: Session, prefixes: list[str]) -> None:
    """Record these prefixes in the session's transaction; commit together with the row's deletion."""
    session.add_all(ArtifactRemoval(prefix=prefix) for prefix in prefixes)


def remove_pending(session: Session, store: ArtifactStore, limit: int = MAX_REMOVALS_PER_PASS) -> int:
    """Remove the objects of up to `limit` pending records, oldest first, and those records; returns how
    many were done. A store failure stops the pass and leaves the rest for the next one."""
    pending = session.scalars(select(ArtifactRemoval).order_by(ArtifactRemoval.id).limit(limit)).all()
    done = []
    for removal in pending:
        try:
            store.delete_prefix(removal.prefix)
        except StoreError as exc:
            log.warning("could not remove %s from %s yet (%s); it stays pending", removal.prefix,
                        store.location, exc)
            break
        done.append(removal.id)
    if done:
        session.execute(delete(ArtifactRemoval).where(ArtifactRemoval.id.in_(done)))
        session.commit()
    return len(done)
