"""The database schema. Alembic migrations in migrations/ are the only way it is created.

The job row is the only source of truth for a job's state (DESIGN.md, "Job system conventions").
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


# Row ids are Integer columns: 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# Named constraints, so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict: JSON, list: JSON}


ROLES = ("admin", "user")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="user")  # admin | user
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is kept: the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # api: a bearer token; login: a one-time dashboard login, spent on first use.
    kind: Mapped[str] = mapped_column(String(10), default="api")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def owner_column() -> Mapped[int | None]:
    # Nullable in the schema so rows made outside the API (tests, scripts) need no user; the API always
    # sets it, and a row without an owner is seen by admins only.
    return mapped_column(ForeignKey("users.id"), nullable=True, index=True)


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")
JOB_KINDS = ("train", "evaluate")


class Network(Base):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = owner_column()
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[dict] = mapped_column(JSON)
    total_params: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = owner_column()
    name: Mapped[str] = mapped_column(String(200))
    source_format: Mapped[str] = mapped_column(String(20))  # npz, idx, csv, imagefolder
    # Folder in the artifact store, relative to ARTIFACT_DIR, holding x_train.npy, y_train.npy (+ test).
    path: Mapped[str] = mapped_column(String(500))
    num_samples: Mapped[int] = mapped_column(Integer)
    num_test_samples: Mapped[int] = mapped_column(Integer, default=0)
    input_shape: Mapped[list] = mapped_column(JSON)  # [C, H, W]
    num_classes: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list] = mapped_column(JSON)
    class_counts: Mapped[list] = mapped_column(JSON)
    channel_mean: Mapped[list] = mapped_column(JSON)  # per channel, of x_train scaled to [0, 1]
    channel_std: Mapped[list] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = owner_column()
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", use_alter=True), nullable=True)
    path: Mapped[str] = mapped_column(String(500))  # .npz relative to ARTIFACT_DIR
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = owner_column()  # who submitted it
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # train | evaluate
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"), nullable=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    # evaluate: the model to evaluate; train: the model produced, once succeeded.
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), nullable=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts whose worker vanished mid-run (no heartbeat past the lease); see MAX_LOST_ATTEMPTS.
    lost_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Progress. epoch: the epoch being run (1-based), of epochs. step: optimizer steps done in the whole
    # job, of steps (all epochs together), so fraction = step / steps.
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    latest_metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)  # evaluation: loss, accuracy, per class, confusion
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Artifact-store key of the latest complete checkpoint; set only after its upload finished.
    checkpoint_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Metric(Base):
    """One row per logged training step (kind 'train') or per epoch (kind 'val')."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_metrics_job_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per job, no gaps; ?since=SEQ pages on it
    kind: Mapped[str] = mapped_column(String(10))  # train | val
    epoch: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)  # global step within the job
    loss: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    images_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArtifactRemoval(Base):
    """Objects of the artifact store whose row was deleted: written in the same transaction that deletes
    the row, removed once the objects are gone. A row never points to a missing object, and what a crash
    leaves between the two steps is found here by the next sweep (shared.removals)."""

    __tablename__ = "artifact_removals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A key prefix: a dataset's folder ("datasets/<hex>/") or a model's file ("models/<name>.npz").
    prefix: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
