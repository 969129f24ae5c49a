"""convforge's convolutional network engine, in NumPy alone.

    net = build_network(definition, seed=0)
    logits = net.forward(images, training=True)      # NCHW in, (N, classes) out
    loss, grad = softmax_cross_entropy(logits, labels)
    net.backward(grad)                                # fills net.grads
"""
from .definition import NetworkDefinition
from .errors import DefinitionError, ModelFileError, SpecError
from .losses import mean_squared_error, softmax_cross_entropy
from .network import Network, build_network
from .optimizers import Optimizer, OptimizerSpec, make_optimizer
from .schedules import ScheduleSpec, make_schedule
from .serialization import load_model, save_model
from .summary import NetworkSummary, summarize
from .training import StepResult, Trainer, evaluate, fit
from .validation import parse_definition

__all__ = [
    "DefinitionError", "ModelFileError", "Network", "NetworkDefinition", "NetworkSummary",
    "Optimizer", "OptimizerSpec", "ScheduleSpec", "SpecError", "StepResult", "Trainer",
    "build_network", "evaluate", "fit", "load_model", "make_optimizer", "make_schedule",
    "mean_squared_error", "parse_definition", "save_model", "softmax_cross_entropy", "summarize",
]
