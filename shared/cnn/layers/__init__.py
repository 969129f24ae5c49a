"""Layer implementations, one class per layer type of the definition schema."""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm
from .conv2d import Conv2D
from .dense import Dense, Flatten
from .dropout import Dropout
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D

LAYER_CLASSES = {
    "conv2d": Conv2D, "maxpool2d": MaxPool2D, "avgpool2d": AvgPool2D,
    "global_avgpool2d": GlobalAvgPool2D, "flatten": Flatten, "dense": Dense, "relu": ReLU,
    "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "dropout": Dropout,
    "batchnorm": BatchNorm,
}
