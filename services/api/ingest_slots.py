"""How many dataset uploads one API process parses at once (MAX_CONCURRENT_INGESTS). Parsing holds
memory and a core; past the limit an upload is answered 503 with Retry-After at once, instead of
piling up in threads until the process runs out of memory."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import Flask, current_app

from services.api.problems import Problem

EXTENSION_KEY = "convforge.ingest_slots"
RETRY_AFTER_SECONDS = 10


class IngestSlots:
    def __init__(self, count: int):
        self.count = count
        self._semaphore = threading.BoundedSemaphore(count)

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._semaphore.acquire(blocking=False):
            raise Problem(503, "Busy parsing uploads",
                          f"This server is already parsing {self.count} uploads (MAX_CONCURRENT_INGESTS); "
                          f"send the dataset again in {RETRY_AFTER_SECONDS} seconds.",
                          kind="ingest-busy", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        try:
            yield
        finally:
            self._semaphore.release()


def init_ingest_slots(app: Flask, count: int) -> IngestSlots:
    slots = app.extensions[EXTENSION_KEY] = IngestSlots(count)
    return slots


def ingest_slot():
    """A context manager holding one parsing slot of this process, or raising the 503 problem."""
    return current_app.extensions[EXTENSION_KEY].held()
