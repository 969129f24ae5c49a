"""The parameters of each job kind, with their defaults and bounds: what POST /jobs accepts, what a
job's row stores and what the worker runs.

`batch_size` means one thing per kind: for a train job, the images of one optimizer step; for an
evaluate job, the images of one forward pass. A train job scores its validation split and the test
split `scoring_batch_size` images per forward pass.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.cnn import OptimizerSpec, ScheduleSpec
from shared.cnn.json_types import Flag, Number, Whole

# The learning rate a job gets for each optimizer when it names none.
DEFAULT_LEARNING_RATES = {"sgd": 0.05, "adam": 0.001, "adamw": 0.001}
DEFAULT_MOMENTUM = 0.9
DEFAULT_OPTIMIZER = {"type": "sgd", "lr": DEFAULT_LEARNING_RATES["sgd"], "momentum": DEFAULT_MOMENTUM}
# Images per forward pass when a network is only scored (no gradients): memory is activations only.
DEFAULT_SCORING_BATCH_SIZE = 256
MAX_BATCH_SIZE = 65_536
MAX_WORKERS = 256
# Enough points for a readable loss curve, few enough to keep the metrics table small.
TRAIN_LOGS_PER_EPOCH = 20


def default_optimizer(kind: str = "sgd") -> dict:
    """The optimizer a job gets for `kind` when it says no more: its default rate, and momentum for SGD."""
    spec = {"type": kind, "lr": DEFAULT_LEARNING_RATES[kind]}
    if kind == "sgd":
        spec["momentum"] = DEFAULT_MOMENTUM
    return spec


class AugmentSpec(BaseModel):
    """Training-time augmentation: random crop after zero padding, random horizontal flip, random
    erasing (a rectangle set to the mean, with probability `erase`)."""

    model_config = ConfigDict(extra="forbid")
    crop_padding: Whole = Field(0, ge=0, le=32)
    flip: Flag = False
    erase: Number = Field(0.0, ge=0, le=1, description="Probability that an image gets a rectangle erased.")


class TrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: Whole = Field(1, ge=1, le=10_000)
    batch_size: Whole = Field(64, ge=1, le=MAX_BATCH_SIZE, description="Images per optimizer step.")
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(**DEFAULT_OPTIMIZER))
    schedule: ScheduleSpec | None = Field(None, description="Learning-rate schedule; constant when null.")
    seed: Whole = Field(0, ge=0, le=2**32 - 1)
    validation_split: Number = Field(0.1, ge=0, lt=1)
    workers: Whole | None = Field(
        None, ge=1, le=MAX_WORKERS,
        description="Data-parallel processes per step. Null: the worker decides (its cores, but no shard too "
                    "small to gain from it) and writes its choice here when the job starts.")
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    label_smoothing: Number = Field(0.0, ge=0, lt=1,
                                    description="Cross-entropy against (1 - e) * one-hot + e / classes.")
    checkpoint_every_steps: Whole = Field(500, ge=1, le=10**9, description="Checkpoints besides every epoch's.")
    log_every_steps: Whole | None = Field(
        None, ge=1, le=10**9,
        description=f"Train metrics interval. Null: the worker picks about {TRAIN_LOGS_PER_EPOCH} points per "
                    "epoch and writes its choice here when the job starts.")
    scoring_batch_size: Whole = Field(
        DEFAULT_SCORING_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE,
        description="Images per forward pass when the job scores its validation split and the test split.")
    test_time_flip: Flag = Field(
        False, description="Score the validation and test splits (and later evaluations of the model) on the "
                           "mean of the outputs for each image and its left-right mirror image.")

    def loss(self) -> str | dict:
        """The loss the engine computes for these parameters."""
        if self.label_smoothing:
            return {"type": "cross_entropy", "label_smoothing": self.label_smoothing}
        return "cross_entropy"

    def log_interval(self, steps_per_epoch: int) -> int:
        return self.log_every_steps or max(1, steps_per_epoch // TRAIN_LOGS_PER_EPOCH)


class EvaluateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_size: Whole = Field(DEFAULT_SCORING_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE,
                            description="Images per forward pass.")
    test_time_flip: Flag | None = Field(
        None, description="Average the outputs for each image and its mirror image. Null: as the model was "
                          "trained to be scored (its train job's test_time_flip).")


PARAMS_BY_KIND: dict[str, type[BaseModel]] = {"train": TrainParams, "evaluate": EvaluateParams}


def resolved_params(params: BaseModel) -> dict[str, Any]:
    """The parameters as a job row stores them: every field written out, nulls included."""
    return params.model_dump(mode="json")
