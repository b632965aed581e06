"""ELU."""
from __future__ import annotations

from ... import _checks as chk
from .base_activation import Pointwise


class ELU(Pointwise):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(chk.finite_float(alpha, "alpha"), **kwargs)
        self.alpha = self._alpha

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}
