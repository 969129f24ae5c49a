"""The API process sweeps what crashed or killed uploads left in the artifact store (shared.data.sweep):
once when it starts and then every SWEEP_INTERVAL_SECONDS, in a daemon thread."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from services.api.extensions import EXTENSION_KEY
from services.api.resources.datasets import DATASETS_DIR
from services.api.uploads import UPLOAD_TMP
from shared.data.sweep import SweepReport, sweep_dataset_folders, sweep_upload_folders
from shared.db.models import Dataset

SWEEP_INTERVAL_SECONDS = 600

log = logging.getLogger(__name__)


def sweep_artifacts(app: Flask) -> SweepReport:
    resources = app.extensions[EXTENSION_KEY]
    settings = resources.settings
    with resources.sessions() as session:
        known = {Path(path).name for path in session.scalars(select(Dataset.path))
                 if path.startswith(f"{DATASETS_DIR}/")}
    grace = settings.artifact_sweep_grace_seconds
    report = sweep_dataset_folders(settings.artifact_dir / DATASETS_DIR, known, grace)
    report.uploads = sweep_upload_folders(settings.artifact_dir / UPLOAD_TMP, grace)
    if report.removed:
        log.warning("removed what interrupted uploads left behind: staging %s, dataset folders without a row "
                    "%s, upload folders %s", report.staging, report.orphans, report.uploads)
    return report


def start_housekeeping(app: Flask, stopping: threading.Event | None = None) -> threading.Thread:
    stopping = stopping or threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep_artifacts(app)
            except Exception:  # a database outage must not end the sweeps
                log.exception("artifact sweep failed; trying again later")
            if stopping.wait(SWEEP_INTERVAL_SECONDS):
                return

    thread = threading.Thread(target=loop, name="convforge-artifact-sweep", daemon=True)
    thread.start()
    return thread
