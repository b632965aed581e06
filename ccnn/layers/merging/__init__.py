"""The merge layers (Keras 3's keras/src/layers/merging/): Add, Subtract,
Multiply, Average, Maximum, Minimum, Concatenate, and their functional forms
add, subtract, ... (a layer made and called on a list of tensors)."""
from .add import Add, add
from .average import Average, average
from .base_merge import Merge
from .concatenate import Concatenate, concatenate
from .maximum import Maximum, maximum
from .minimum import Minimum, minimum
from .multiply import Multiply, multiply
from .subtract import Subtract, subtract

__all__ = ["Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
           "Concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum",
           "concatenate"]
