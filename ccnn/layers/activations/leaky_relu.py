"""LeakyReLU."""
from __future__ import annotations

from ... import _checks as chk
from .base_activation import Pointwise


class LeakyReLU(Pointwise):
    """x where x > 0, negative_slope * x elsewhere (Keras's default slope 0.3)."""

    kind = "leaky_relu"

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        slope = chk.finite_float(negative_slope, "negative_slope")
        if slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
        super().__init__(slope, **kwargs)
        self.negative_slope = slope

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}
