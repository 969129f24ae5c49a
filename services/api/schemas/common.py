"""Shapes shared by every resource: problem documents, pages and the paging query."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.db.models import MAX_ID
from shared.jobs import as_utc

Item = TypeVar("Item")
# A cursor is a row id in decimal: items older than it follow (any number of up to 10 digits is accepted).
CURSOR_PATTERN = r"^[0-9]{1,10}$"


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


class Ref(BaseModel):
    """A link to another resource."""

    id: int
    name: str
    url: str


class ProblemError(BaseModel):
    loc: list[str | int] = Field(description="Where the error is, e.g. [\"layers\", 2, \"kernel_size\"].")
    msg: str


class ProblemDocument(BaseModel):
    """RFC 9457 problem details, sent as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None
    jobs: list[int] | None = Field(None, description="409 on DELETE: ids of the jobs that refer to it.")
    models: list[int] | None = Field(None, description="409 on DELETE: ids of the models that refer to it.")


class PageQuery(BaseModel):
    """Newest first. Pass a page's `next_cursor` as `cursor` to get the next page."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(50, ge=1, le=500, description="Items per page, 1-500.")
    cursor: str | None = Field(None, description="The `next_cursor` of the previous page: the items come after it.",
                               json_schema_extra={"pattern": CURSOR_PATTERN})

    @field_validator("cursor")
    @classmethod
    def _cursor_is_an_id(cls, cursor: str | None) -> str | None:
        if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
            raise ValueError("not a cursor; pass the next_cursor value of a previous page")
        return cursor

    @property
    def before_id(self) -> int | None:
        return int(self.cursor) if self.cursor else None


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None = Field(description="Null on the last page.")
