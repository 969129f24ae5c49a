"""SGD (momentum, Nesterov, weight decay), Adam and AdamW, updating parameters in place.

The update rules are PyTorch's, so a run can be compared step by step.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import SpecError
from .json_types import Flag, Number


class OptimizerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: Annotated[Number, Field(gt=0, le=10)] = 0.01
    momentum: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    nesterov: Flag = False
    weight_decay: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    betas: tuple[Annotated[Number, Field(ge=0, lt=1)], Annotated[Number, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: Annotated[Number, Field(gt=0, le=1)] = 1e-8

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


def validate_spec(model, spec, where: str):
    """Validate a spec dict with a pydantic model, turning errors into ``SpecError``."""
    if isinstance(spec, model):
        return spec
    try:
        return model.model_validate(spec if spec is not None else {})
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = [where] + [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function"))]
            field = ".".join(str(p) for p in loc[1:])
            errors.append({"loc": loc, "msg": f"{where}{'.' + field if field else ''}: {err['msg']}"})
        raise SpecError(errors) from None


class Optimizer:
    def __init__(self, spec: OptimizerSpec, params: dict[str, np.ndarray]):
        self.spec = spec
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0
        self._keys = list(params)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float | None = None):
        lr = self.spec.lr if lr is None else lr
        self.steps += 1
        for key in self._keys:
            self._update(key, params[key], grads[key], lr)

    def _slot(self, key: str, like: np.ndarray) -> np.ndarray:
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"steps": np.array(self.steps, dtype=np.int64), **self.state}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps = int(state["steps"])
        self.state = {k: np.array(v) for k, v in state.items() if k != "steps"}


class SGD(Optimizer):
    def _update(self, key, param, grad, lr):
        # g = grad + wd * p; v = mu * v + g; p -= lr * (g + mu * v if nesterov else v)
        spec = self.spec
        if spec.weight_decay:
            grad = grad + spec.weight_decay * param
        if spec.momentum:
            velocity = self._slot(f"{key}.momentum", param)
            velocity *= spec.momentum
            velocity += grad
            grad = grad + spec.momentum * velocity if spec.nesterov else velocity
        param -= lr * grad


class Adam(Optimizer):
    decoupled = False

    def _update(self, key, param, grad, lr):
        # m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * m_hat / (sqrt(v_hat) + eps)
        spec = self.spec
        beta1, beta2 = spec.betas
        if spec.weight_decay and self.decoupled:
            param *= 1 - lr * spec.weight_decay  # AdamW: decay apart from the gradient
        elif spec.weight_decay:
            grad = grad + spec.weight_decay * param
        m = self._slot(f"{key}.exp_avg", param)
        v = self._slot(f"{key}.exp_avg_sq", param)
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        m_hat_scale = 1.0 / (1 - beta1 ** self.steps)
        v_hat_scale = 1.0 / (1 - beta2 ** self.steps)
        param -= (lr * m_hat_scale) * m / (np.sqrt(v * v_hat_scale) + spec.eps)


class AdamW(Adam):
    decoupled = True


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(spec: dict | OptimizerSpec, params: dict[str, np.ndarray]) -> Optimizer:
    parsed = validate_spec(OptimizerSpec, spec, "optimizer")
    return _OPTIMIZERS[parsed.type](parsed, params)
