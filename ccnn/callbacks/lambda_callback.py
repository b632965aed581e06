"""LambdaCallback: a callback made of plain functions."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from .callback import Callback


_LAMBDA_HOOKS = {  # hook -> whether its first argument is an epoch / batch index
    "on_train_begin": False, "on_train_end": False, "on_epoch_begin": True,
    "on_epoch_end": True, "on_train_batch_begin": True, "on_train_batch_end": True,
    "on_test_begin": False, "on_test_end": False, "on_test_batch_begin": True,
    "on_test_batch_end": True, "on_predict_begin": False, "on_predict_end": False,
    "on_predict_batch_begin": True, "on_predict_batch_end": True}


class LambdaCallback(Callback):
    """Keras's LambdaCallback: a callback from functions, e.g.

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    on_epoch_* and on_*_batch_* functions take (index, logs), on_*_begin/end
    take (logs); logs is always a dict (fit passes none to some hooks; {} is
    given then, as Keras's CallbackList does)."""

    def __init__(self, on_epoch_begin: Optional[Callable[..., Any]] = None,
                 on_epoch_end: Optional[Callable[..., Any]] = None,
                 on_train_begin: Optional[Callable[..., Any]] = None,
                 on_train_end: Optional[Callable[..., Any]] = None,
                 on_train_batch_begin: Optional[Callable[..., Any]] = None,
                 on_train_batch_end: Optional[Callable[..., Any]] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(_LAMBDA_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {unknown}; the hooks are "
                            f"{sorted(_LAMBDA_HOOKS)}")
        given = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"{hook} must be a function, got {type(fn).__name__}")
            setattr(self, hook, self._wrap(fn, _LAMBDA_HOOKS[hook]))

    @staticmethod
    def _wrap(fn: Callable[..., Any], indexed: bool) -> Callable[..., None]:
        if indexed:
            def hook(index: int, logs: Optional[Dict[str, Any]] = None) -> None:
                fn(index, logs if logs is not None else {})
        else:
            def hook(logs: Optional[Dict[str, Any]] = None) -> None:  # type: ignore[misc]
                fn(logs if logs is not None else {})
        return hook
