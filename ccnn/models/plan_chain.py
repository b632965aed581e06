"""What the inference plan (inference.py) and the training plan
(train_plan.py) share: the values of a chain of ops, and the builder's
moves between the layers' layouts.

A plan's tensors are Values -- 'raw' (the input as given), 'image' (NCHW
(n, c, h, w) in memory; logically in data format `fmt`) or 'flat' (n, c) --
each either its own buffer or a view of another's memory (`base`).  A
builder walks the layers keeping the current value (`cur`); where a layer
needs another layout it either reinterprets the memory (no op) or emits a
transpose, whose record each plan writes in its own format (`transpose`).
"""
from __future__ import annotations

import abc
import os
from typing import Any, Optional, Tuple

import numpy as np


class Switch:
    """A plan's on/off switch: on unless the environment variable `env` says
    0, false, no or off; set() takes a bool only."""

    def __init__(self, env: str) -> None:
        self.on = os.environ.get(env, "1").strip().lower() not in ("0", "false", "no", "off")

    def set(self, enabled: bool) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
        self.on = enabled


class Unsupported(Exception):
    """The layers cannot be compiled (the model runs the per-layer path)."""


class Value:
    """A tensor of the plan (see the module docstring)."""

    def __init__(self, kind: str, shape: Tuple[int, ...], fmt: Optional[str] = None,
                 base: Optional["Value"] = None):
        self.kind, self.shape, self.fmt = kind, shape, fmt
        self.base = base        # another view of base's memory (no op between them)

    @property
    def root(self) -> "Value":
        v = self
        while v.base is not None:
            v = v.base
        return v

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class ChainBuilder(abc.ABC):
    """The layout moves of a plan builder; subclasses keep `cur` and write
    the transpose record (n, a, b) -> (n, b, a) from src to dst."""

    cur: Value

    @abc.abstractmethod
    def transpose(self, src: Value, dst: Value, n: int, a: int, b: int, name: str) -> Any:
        """Emit the transpose (n, a, b) -> (n, b, a) from src to dst."""

    def to_image(self, fmt: str) -> Value:
        """The current value as an NCHW image of logical format fmt."""
        v = self.cur
        if v.kind == "image":
            if v.fmt != fmt:
                raise Unsupported("layers of different data formats")
            return v
        if v.kind != "raw" or len(v.shape) != 4:
            raise Unsupported("an image layer on a non-image tensor")
        if fmt == "channels_first":
            img = self.cur = Value("image", v.shape, fmt, base=v)
            return img
        n, h, w, c = v.shape
        if c == 1 or h * w == 1:       # the same memory order
            img = self.cur = Value("image", (n, c, h, w), fmt, base=v)
            return img
        img = Value("image", (n, c, h, w), fmt)
        self.transpose(v, img, n, h * w, c, "nhwc->nchw")
        return img

    def norm_rows(self, layer: Any) -> Tuple[Value, int, int, int]:
        """The current value as BatchNormalization(layer)'s (value, outer, c,
        inner): an NCHW image by its channels, a flat (n, c) tensor (or a 2-D
        raw input, which becomes one) by its columns."""
        v = self.cur
        if v.kind == "raw" and len(v.shape) == 2:
            v = self.cur = Value("flat", v.shape, base=v)
        if v.kind == "image":
            n, c, h, w = v.shape
            if layer._channel_axis(4) != (3 if v.fmt == "channels_last" else 1):
                raise Unsupported("BatchNormalization over a spatial axis")
            return v, n, c, h * w
        if v.kind == "flat":
            if layer._channel_axis(2) != 1:
                raise Unsupported("BatchNormalization axis")
            return v, v.shape[0], v.shape[1], 1
        raise Unsupported("BatchNormalization on the raw input")

    def flatten_view(self, data_format: Optional[str]) -> Optional[Tuple[Value, int, int, int]]:
        """Flatten(data_format) of the current value where the memory already
        is in Keras's order (cur becomes the flat view, None returned); else
        (the image, n, c, h * w) that a transpose to channels-last order must flatten."""
        v = self.cur
        if v.kind == "flat":
            return None
        n = v.shape[0]
        size = v.size // max(n, 1)
        if v.kind == "raw":
            self.cur = Value("flat", (n, size), base=v)
            return None
        _, c, h, w = v.shape
        if v.fmt == "channels_last" and data_format == "channels_first":
            raise Unsupported("Flatten(data_format='channels_first') of channels-last images")
        nhwc = v.fmt == "channels_last" or data_format == "channels_first"
        if not nhwc or c == 1 or h * w == 1:
            self.cur = Value("flat", (n, size), base=v)
            return None
        return v, n, c, h * w


def eager(model: Any) -> bool:
    """Whether the model was compiled with run_eagerly=True (or had it set
    since, as Keras allows): its steps run the per-layer path, no plan."""
    return getattr(model, "run_eagerly", False) is True
