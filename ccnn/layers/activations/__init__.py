"""Activation layers, one module each: Activation, ReLU, LeakyReLU, ELU, PReLU,
Softmax (base_activation: what they share).  The functions, and the
activation= of Conv2D and Dense, are ccnn.activations."""
from .activation import Activation
from .base_activation import Pointwise
from .elu import ELU
from .leaky_relu import LeakyReLU
from .prelu import PReLU
from .relu import ReLU
from .softmax import Softmax

__all__ = ["Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Pointwise"]
