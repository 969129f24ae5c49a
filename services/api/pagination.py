"""Keyset pagination on the primary key, newest first: stable while rows are being added."""
from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.orm import Session

from services.api.schemas.common import PageQuery


def fetch_page(session: Session, statement: Select, id_column, query: PageQuery) -> tuple[list, str | None]:
    """Rows of `statement` with id below the cursor, newest first, and the next page's cursor."""
    if query.before_id is not None:
        statement = statement.where(id_column < query.before_id)
    rows = session.scalars(statement.order_by(id_column.desc()).limit(query.limit + 1)).all()
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        return rows, str(rows[-1].id)
    return list(rows), None
