"""Core layers: Dense, and Input (the shape of a model's inputs)."""
from .dense import Dense
from .input_layer import Input, InputTensor

__all__ = ["Dense", "Input", "InputTensor"]
