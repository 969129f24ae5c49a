"""The one error an upload can raise: an HTTP status, a sentence, and where in the upload it went wrong."""
from __future__ import annotations


class DatasetRejected(Exception):
    """Bad input. `status` is 400 (malformed request), 413 (too large) or 422 (unusable content);
    `loc` points into the upload, e.g. ["file", "x_train", 17] or ["labels"]."""

    def __init__(self, status: int, detail: str, loc: list | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.loc = list(loc or [])

    def __repr__(self) -> str:
        return f"DatasetRejected({self.status}, {self.detail!r}, loc={self.loc!r})"
