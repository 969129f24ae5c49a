"""API token shapes. The secret appears once, in the answer to its creation."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas.common import UtcDatetime
from shared.cnn.json_types import Whole

MAX_TOKEN_DAYS = 3650


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("default", min_length=1, max_length=100, description="What the token is for.")
    expires_in_days: Whole | None = Field(None, ge=1, le=MAX_TOKEN_DAYS,
                                        description="Days until it stops working; none means never.")


class TokenView(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell it apart.")
    user: str
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    last_used_at: UtcDatetime | None
    url: str


class NewTokenView(TokenView):
    token: str = Field(description="The secret: send it as `Authorization: Bearer <token>`. Shown only now.")


class TokenList(BaseModel):
    items: list[TokenView]
