"""One rule for every stored object: a user sees and uses their own, an admin sees all. Another
user's object is not found (404), exactly like one that does not exist, so ids leak nothing."""
from __future__ import annotations

from sqlalchemy import Select

from services.api.auth import current_user
from services.api.extensions import db
from services.api.problems import not_found, validation_problem
from shared.db.models import MAX_ID


def visible(statement: Select, entity) -> Select:
    """`statement` narrowed to the rows of `entity` the current user may see."""
    user = current_user()
    return statement if user.is_admin else statement.where(entity.owner_id == user.id)


def may_see(row) -> bool:
    user = current_user()
    return row is not None and (user.is_admin or row.owner_id == user.id)


def load_visible(entity, ident: int, what: str):
    """The row, or a 404 when it does not exist or belongs to someone else."""
    row = db().get(entity, ident) if 1 <= ident <= MAX_ID else None  # a larger id is no row, not an overflow
    if not may_see(row):
        raise not_found(what, ident)
    return row


def owner_id() -> int:
    """The owner of an object being created: whoever asks."""
    return current_user().id


def referenced(entity, ident: int, field: str, what: str):
    """The row a request body names in `field`, or a 422 naming the field when it does not exist or
    belongs to someone else (the same answer either way)."""
    row = db().get(entity, ident) if 1 <= ident <= MAX_ID else None
    if not may_see(row):
        raise validation_problem([{"loc": [field], "msg": f"{field}: {what} {ident} does not exist"}])
    return row
