"""The app's shared resources, set up in one place: settings, the database, the job queue and the
artifact store.

Views reach them through `settings()`, `db()` (a session for this request, closed at teardown),
`job_queue()` and `store()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.api.job_queue import JobQueue
from shared.config import Settings
from shared.db.session import make_engine
from shared.storage import ArtifactStore, open_store

EXTENSION_KEY = "convforge"


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    job_queue: JobQueue
    store: ArtifactStore


def init_resources(app: Flask, settings: Settings) -> Resources:
    engine = make_engine(settings.database_url)
    resources = Resources(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(bind=engine, expire_on_commit=False),
        job_queue=JobQueue(settings),
        store=open_store(settings),
    )
    app.extensions[EXTENSION_KEY] = resources

    @app.teardown_appcontext
    def _close_session(_error):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    return resources


def resources() -> Resources:
    return current_app.extensions[EXTENSION_KEY]


def settings() -> Settings:
    return resources().settings


def db() -> Session:
    if "db_session" not in g:
        g.db_session = resources().sessions()
    return g.db_session


def job_queue() -> JobQueue:
    return resources().job_queue


def store() -> ArtifactStore:
    return resources().store
