"""SpatialLayer: the base of the padding, cropping and upsampling layers.

Their C kernels (F.pad_unchecked, F.upsample_nearest_unchecked) see an array
as (outer, h, w, inner), so both memory orders run without a transpose:
channels-last data is (N, H, W, C) -> outer = N, inner = C; channels-first
data -- and the channels-last *view* of an NCHW result that Conv2D and the
pooling layers hand on -- is (N * C, H, W, 1).  A 1-D layer's (N, steps,
features) is the same with w = 1."""
from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

import numpy as np

from ..layer import AnySize, Layer, Shape, data_format_arg, split_channels


class SpatialLayer(AnySize, Layer):
    """Images (rank 2: (N, H, W, C) / (N, C, H, W)) or sequences (rank 1:
    (N, steps, features) / (N, features, steps)) in the layer's data_format."""

    rank = 2

    def __init__(self, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)
        self.input_ndim = self.rank + 2

    def _split(self, shape: Shape) -> Tuple[Optional[int], Optional[int], Shape]:
        """(n, c, spatial sizes) of a shape in the layer's data_format."""
        return split_channels(self, shape)

    def _join(self, n: Optional[int], c: Optional[int], spatial: Iterable[Any]) -> Shape:
        spatial = tuple(spatial)
        return (n,) + spatial + (c,) if self.data_format == "channels_last" else \
            (n, c) + spatial

    def _rows(self, a: np.ndarray) -> Tuple[np.ndarray, bool]:
        """a as a C-contiguous (outer, h, w, inner) array, and whether it is
        channels-first memory (outer = N * C, inner = 1)."""
        a = a.astype(self.dtype, copy=False)
        n, c = a.shape[0], (a.shape[-1] if self.data_format == "channels_last" else a.shape[1])
        if self.data_format == "channels_last":
            order = (0, self.rank + 1) + tuple(range(1, self.rank + 1))
            first = a.transpose(order)
            if first.flags.c_contiguous and not a.flags.c_contiguous:
                return first.reshape((n * c,) + self._hw(first.shape[2:]) + (1,)), True
            return np.ascontiguousarray(a).reshape((n,) + self._hw(a.shape[1:-1]) + (c,)), False
        return np.ascontiguousarray(a).reshape((n * c,) + self._hw(a.shape[2:]) + (1,)), True

    @staticmethod
    def _hw(spatial: Tuple[int, ...]) -> Tuple[int, int]:
        """(h, w) of the kernels' view: a sequence's steps are h, with w = 1."""
        return (spatial[0], spatial[1]) if len(spatial) == 2 else (spatial[0], 1)

    def _unrows(self, a4: np.ndarray, channels_first: bool, n: int, c: int) -> np.ndarray:
        """The kernels' (outer, h', w', inner) result in the layer's data_format."""
        spatial = a4.shape[1:3] if self.rank == 2 else a4.shape[1:2]
        if not channels_first:
            return a4.reshape((n,) + spatial + (c,))
        y = a4.reshape((n, c) + spatial)
        if self.data_format == "channels_last":
            return y.transpose((0,) + tuple(range(2, self.rank + 2)) + (1,))
        return y

    def _apply(self, a: np.ndarray, kernel) -> np.ndarray:
        """kernel(a4) over a's rows, the result back in the layer's data_format."""
        n, c = a.shape[0], (a.shape[-1] if self.data_format == "channels_last" else a.shape[1])
        self._split(a.shape)                   # a clear error for the wrong rank
        a4, first = self._rows(a)
        return self._unrows(kernel(a4), first, n, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


def pad_pairs(v, name: str, rank: int) -> Tuple[Tuple[int, int], ...]:
    """Keras's padding / cropping argument as one (before, after) pair per
    spatial axis: an int (every side), one int per axis (both sides), or one
    pair per axis; every amount an int >= 0."""
    from ... import _checks as chk
    if not isinstance(v, (tuple, list)):
        p = chk.integer(v, name, 0)
        return ((p, p),) * rank
    if rank == 1:
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (before, after), got {v!r}")
        return ((chk.integer(v[0], f"{name}[0]", 0), chk.integer(v[1], f"{name}[1]", 0)),)
    if len(v) != rank:
        raise ValueError(f"{name} must be an int, {rank} ints or {rank} pairs "
                         f"((top, bottom), (left, right)), got {v!r}")
    out = []
    for i, e in enumerate(v):
        if isinstance(e, (tuple, list)):
            if len(e) != 2:
                raise ValueError(f"{name}[{i}] must be a pair (before, after), got {e!r}")
            out.append((chk.integer(e[0], f"{name}[{i}][0]", 0),
                        chk.integer(e[1], f"{name}[{i}][1]", 0)))
        else:
            p = chk.integer(e, f"{name}[{i}]", 0)
            out.append((p, p))
    return tuple(out)


def flat_pads(pairs: Tuple[Tuple[int, int], ...], sign: int) -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) for the pad kernel; sign -1 crops."""
    (t, b), (l, r) = pairs if len(pairs) == 2 else (pairs[0], (0, 0))
    return sign * t, sign * b, sign * l, sign * r
