"""TerminateOnNaN: stop training at a loss that is not finite."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from .callback import Callback


class TerminateOnNaN(Callback):
    """Keras's TerminateOnNaN: stop training when a batch's loss is NaN or
    infinite.  (Sequential.fit already does so by default, before that batch's
    update: fit(..., terminate_on_nan=True); this callback is for Keras code
    that lists it, and acts after the update, as in Keras.)"""

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
