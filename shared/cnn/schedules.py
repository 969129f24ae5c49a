"""Learning-rate schedules: a function from the step number (0-based) to the learning rate."""
from __future__ import annotations

import math
from typing import Annotated, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

from .errors import SpecError
from .optimizers import validate_spec
from .json_types import Number, Whole


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConstantSchedule(_Schedule):
    type: Literal["constant"] = "constant"


class StepSchedule(_Schedule):
    """lr = base_lr * gamma ** (step // step_size)"""

    type: Literal["step"]
    step_size: Annotated[Whole, Field(gt=0)]
    gamma: Annotated[Number, Field(gt=0, le=1)] = 0.1


class CosineSchedule(_Schedule):
    """Linear warm-up, then lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2, t in [0, 1]."""

    type: Literal["cosine"]
    min_lr: Annotated[Number, Field(ge=0)] = 0.0
    warmup_steps: Annotated[Whole, Field(ge=0)] = 0


class ScheduleSpec(RootModel):
    root: Annotated[Union[ConstantSchedule, StepSchedule, CosineSchedule], Field(discriminator="type")]


def make_schedule(spec: dict | ScheduleSpec | None, base_lr: float, total_steps: int
                  ) -> Callable[[int], float]:
    if spec is None:
        spec = {"type": "constant"}
    schedule = validate_spec(ScheduleSpec, spec, "schedule").root
    if isinstance(schedule, StepSchedule):
        return lambda step: base_lr * schedule.gamma ** (step // schedule.step_size)
    if isinstance(schedule, CosineSchedule):
        if total_steps is None:
            raise SpecError([{"loc": ["schedule", "type"],
                              "msg": "schedule.type: a cosine schedule needs the total number of steps"}])
        warmup, total = schedule.warmup_steps, max(int(total_steps), 1)

        def cosine(step: int) -> float:
            if step < warmup:
                return base_lr * (step + 1) / warmup
            t = min((step - warmup) / max(total - warmup, 1), 1.0)
            return schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1 + math.cos(math.pi * t))
        return cosine
    return lambda step: base_lr
