"""ccnn.models -- Keras's Sequential model over ccnn.layers.

    model = Sequential()
    model.add(Conv2D(10, (3, 3), activation='relu', padding='same', input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dropout(0.5))
    model.add(Dense(100, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x_train, y_train_encoded, epochs=20, validation_data=(x_val, y_val_encoded))

One training step: forward through every layer (training=True), loss,
backward through every layer in reverse, optimizer.apply_gradients.  When the
last layer is Dense(activation='softmax') or Softmax, the softmax and the
cross-entropy are computed together from the logits in C (log-sum-exp,
stable for any logits) and the gradient (probs - targets) / N goes straight
into that layer's linear part.
"""
from __future__ import annotations

import functools
import math
import numbers
import os
import tempfile
import warnings
import zipfile
import zlib
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union, cast

import numpy as np

from . import losses as losses_mod
from ._blas import single_threaded_blas
from ._interrupt import keyboard_interrupt_guard
from . import optimizers as optimizers_mod
from . import utils
from .callbacks import Callback, CallbackList, History, ProgbarLogger
from .layers import Dense, Layer, Softmax, _Pooling2D, _snake, Conv2D

__all__ = ["Sequential"]

_METRICS = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _one_blas_thread(method: _Method) -> _Method:
    """Run `method` with NumPy's BLAS on one thread (see ccnn._blas): the
    OpenMP kernels and a second spinning thread pool would fight for the cores."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return method(*args, **kwargs)
    return cast(_Method, wrapper)


def _interrupt_guarded(method: _Method) -> _Method:
    """Run `method` inside keyboard_interrupt_guard(): one SIGINT handler for
    the whole loop instead of a swap per optimizer step (ccnn._interrupt)."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with keyboard_interrupt_guard():
            return method(*args, **kwargs)
    return cast(_Method, wrapper)


def _positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _shape_matches(shape: Tuple[Optional[int], ...],
                   want: Tuple[Optional[int], ...]) -> bool:
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_npz_atomic(path: Any, arrays: Dict[str, np.ndarray]) -> None:
    """Write `arrays` to the .npz file `path` atomically: a temporary file in
    the same directory, flushed and fsynced, then renamed over `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                    suffix=".tmp")
    tmp: Optional[str] = tmp_path
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds oddly
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
        tmp = None
        _fsync_dir(directory)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def load_npz_checked(path: Any) -> Dict[str, np.ndarray]:
    """Every array of the .npz file `path`, read without unpickling anything.
    A file that is not an .npz, is truncated or corrupt, or holds pickled
    objects raises a ValueError naming the file."""
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise ValueError(f"{path}: not a ccnn weights file: it holds pickled Python data, "
                             f"which ccnn never loads") from e
        raise ValueError(f"{path}: not a valid ccnn weights file (.npz): {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a ccnn weights file: expected an .npz archive, found a "
                         f"single .npy array")
    try:
        with data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e):
            raise ValueError(f"{path}: not a ccnn weights file: it holds object arrays "
                             f"(pickled Python objects), which ccnn never loads") from e
        raise ValueError(f"{path}: corrupt weights file: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):  # np.load gives the raw bytes of a non-.npy member
            raise ValueError(f"{path}: not a ccnn weights file: its member {k!r} is not a "
                             f".npy array")
    return arrays


def npz_headers(path: Any) -> Optional[Dict[str, Tuple[Tuple[int, ...], np.dtype]]]:
    """{name: (shape, dtype)} of every array of the .npz file `path`, read from the
    .npy headers alone: no array data is read and nothing is unpickled.  None
    when `path` is not a zip archive (load_npz_checked then says what it is).
    A member that is not a .npy array, an object array or an unreadable header
    is a ValueError naming the file."""
    path = os.fspath(path)
    try:
        if not zipfile.is_zipfile(path):
            return None
    except OSError:
        return None
    out: Dict[str, Tuple[Tuple[int, ...], np.dtype]] = {}
    fmt = np.lib.format
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise ValueError(f"{path}: not a ccnn weights file: its member {name!r} "
                                     f"is not a .npy array")
                with zf.open(info) as f:
                    version = fmt.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = fmt.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = fmt.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy format version {version}")
                if dtype.hasobject:
                    raise ValueError(f"{path}: not a ccnn weights file: it holds object arrays "
                                     f"(pickled Python objects), which ccnn never loads")
                out[name[:-4]] = (tuple(shape), dtype)
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: corrupt weights file: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise ValueError(f"{path}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e
    return out


def _check_weights_match(path: str, found: Dict[str, Tuple[Tuple[int, ...], np.dtype]],
                         own: Dict[str, np.ndarray]) -> None:
    """A ValueError listing every name, shape or dtype in `found` that differs from `own`."""
    missing = sorted(set(own) - set(found))
    unexpected = sorted(set(found) - set(own))
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    for key in sorted(set(own) & set(found)):
        (shape, dtype), b = found[key], own[key]
        if tuple(shape) != b.shape or dtype != b.dtype:
            problems.append(f"{key}: file has {dtype}{list(shape)}, the model "
                            f"{b.dtype}{list(b.shape)}")
    if problems:
        raise ValueError(f"{path}: the weights do not match this model (saved from "
                         f"another architecture?): " + "; ".join(problems))


class Sequential:
    """A linear stack of layers with Keras's compile / fit / evaluate / predict."""

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None):
        self.name = name or "sequential"
        self.layers: List[Layer] = []
        self.built = False
        self.input_shape: Optional[Tuple[Optional[int], ...]] = None
        self.optimizer: Optional[optimizers_mod.Optimizer] = None
        self.loss: Optional[losses_mod.Loss] = None
        self.metrics: List[str] = []
        self.compiled = False
        self.stop_training = False
        self.history: Optional[History] = None
        for layer in layers or ():
            self.add(layer)

    # ------------------------------------------------------------ structure
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a ccnn.layers.Layer, got "
                            f"{type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        names = {other.name for other in self.layers}
        if layer.name is None:
            base = _snake(type(layer).__name__)
            name, i = base, 0
            while name in names:
                i += 1
                name = f"{base}_{i}"
            layer.name = name
        elif layer.name in names:
            raise ValueError(f"All layers added to a Sequential model should have unique "
                             f"names; {layer.name!r} is already used")
        if self.layers and layer.batch_input_shape is not None:
            raise ValueError(f"input_shape may only be given to the first layer, not to "
                             f"{layer.name!r}")
        self.layers.append(layer)
        try:
            if len(self.layers) == 1 and layer.batch_input_shape is not None:
                self.build(layer.batch_input_shape)
            elif self.built:
                prev = self.layers[-2].output_shape
                assert prev is not None
                self._build_layer(layer, prev)
        except Exception:
            self.layers.pop()
            raise

    def _build_layer(self, layer: Layer, shape: Sequence[Optional[int]]) -> None:
        shape = tuple(shape)
        if layer.built and layer.input_shape is not None:
            if not _shape_matches(shape[1:], tuple(layer.input_shape[1:])):
                raise ValueError(f"layer {layer.name!r} was built for inputs "
                                 f"{layer.input_shape}, but receives {shape}")
            return
        try:
            layer.build(shape)
        except ValueError as e:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): {e}") from None

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Create every layer's weights for inputs of `input_shape` (batch axis
        included, as in Keras: e.g. (None, 28, 28, 1))."""
        if not self.layers:
            raise ValueError("the model has no layers; add some first")
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            self._build_layer(layer, shape)
            assert layer.output_shape is not None
            shape = layer.output_shape
        self.built = True

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    @property
    def weights(self) -> List[np.ndarray]:
        """Every parameter array (the live arrays, not copies)."""
        return [p for layer in self.layers for p in layer.params.values()]

    @property
    def trainable_weights(self) -> List[np.ndarray]:
        return [p for layer in self.layers if layer.trainable for p in layer.params.values()]

    def count_params(self) -> int:
        self._require_built()
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every parameter array, layer by layer (kernel, bias)."""
        return [p.copy() for p in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Copy `weights` (like get_weights()) into the model's arrays, in place."""
        self._require_built()
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"the model has {len(own)} weight arrays, got {len(weights)}")
        for i, (p, w) in enumerate(zip(own, weights)):
            if np.shape(w) != p.shape:
                raise ValueError(f"weight {i} must have shape {p.shape}, got {np.shape(w)}")
        for p, w in zip(own, weights):
            np.copyto(p, w, casting="same_kind")

    def _require_built(self) -> None:
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first by "
                             "giving the first layer an input_shape, calling build(), or "
                             "calling the model on a batch of data.")

    def summary(self, print_fn=None) -> None:
        """Print Keras's table: layer name (type), output shape, parameter count."""
        self._require_built()
        print_fn = print_fn or print
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape),
                 f"{layer.count_params():,}") for layer in self.layers]
        w1 = max([29] + [len(r[0]) + 2 for r in rows])
        w2 = max([26] + [len(r[1]) + 2 for r in rows])
        width = w1 + w2 + 12
        total = self.count_params()
        trainable = sum(layer.count_params() for layer in self.layers if layer.trainable)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}Param #", "=" * width]
        for i, (a, b, c) in enumerate(rows):
            lines.append(f"{a:<{w1}}{b:<{w2}}{c}")
            lines.append("_" * width if i < len(rows) - 1 else "=" * width)
        lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", "_" * width]
        for line in lines:
            print_fn(line)

    # ------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "adam", loss: Any = None,
                metrics: Optional[Sequence[str]] = None) -> None:
        """optimizer: 'adam', 'sgd' or a ccnn.optimizers instance; loss:
        'categorical_crossentropy' (one-hot targets) or
        'sparse_categorical_crossentropy' (integer labels); metrics: ['accuracy'] or None."""
        if loss is None:
            raise ValueError("compile needs a loss: 'categorical_crossentropy' or "
                             "'sparse_categorical_crossentropy'")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list such as ['accuracy'], got {metrics!r}")
        for m in metrics:
            if m not in _METRICS:
                raise ValueError(f"Unknown metric {m!r}; ccnn supports {list(_METRICS)}")
        if len(metrics) > 1:
            raise ValueError(f"ccnn computes one accuracy metric; got {list(metrics)}")
        self.metrics = list(metrics)
        self.compiled = True

    def _require_compiled(self) -> None:
        if not self.compiled:
            raise RuntimeError("You must compile your model before training/testing. Use "
                               "`model.compile(optimizer, loss)`.")

    @property
    def metrics_names(self) -> List[str]:
        return ["loss"] + self.metrics

    # ------------------------------------------------------------ data checks
    def _dtype(self) -> np.dtype:
        return np.dtype(self.layers[0].dtype)

    def _prepare_x(self, x: Any, name: str = "x") -> np.ndarray:
        """x as a float array of the model's input shape.  (N, H, W) images get
        their channel axis; integers (e.g. uint8 pixels) are converted, not scaled."""
        if not self.layers:
            raise ValueError("the model has no layers; add some first")
        if x is None:
            raise ValueError(f"{name} is required")
        try:
            x = np.asarray(x)
        except ValueError as e:
            raise TypeError(f"{name} must be an array of numbers ({e})") from None
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be an array of real numbers, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{name} must have a batch axis and at least one feature axis, "
                             f"got shape {x.shape}")
        if not self.built:
            shape = x.shape[1:]
            first = self.layers[0]
            if len(shape) == 2 and isinstance(first, (Conv2D, _Pooling2D)):
                fmt = first.data_format
                shape = shape + (1,) if fmt == "channels_last" else (1,) + shape
            self.build((None,) + tuple(shape))
        want = self.input_shape
        assert want is not None
        if x.ndim == len(want) - 1 and len(want) == 4:
            if want[-1] == 1 and _shape_matches(x.shape[1:], want[1:-1]):
                x = x[..., np.newaxis]
            elif want[1] == 1 and _shape_matches(x.shape[1:], want[2:]):
                x = x[:, np.newaxis]
        if not _shape_matches(x.shape[1:], want[1:]):
            raise ValueError(f"Input {name} is incompatible with the model: expected shape "
                             f"{want}, got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} has no samples (shape {x.shape})")
        return x.astype(self._dtype(), copy=False)

    def _classes(self) -> int:
        out = self.layers[-1].output_shape
        if out is None or out[-1] is None:
            raise ValueError("the model's output size is unknown; build it first")
        return int(out[-1])

    @property
    def _lossfn(self) -> losses_mod.Loss:
        if self.loss is None:
            self._require_compiled()
        assert self.loss is not None
        return self.loss

    def _prepare_y(self, y: Any, n: int, name: str = "y") -> np.ndarray:
        if y is None:
            raise ValueError(f"{name} is required")
        y = self._lossfn.check(y, n, self._classes())
        if not self._lossfn.sparse:
            y = np.asarray(y, dtype=self._dtype())
        return y

    # ------------------------------------------------------------ one step
    def _fused_head(self) -> bool:
        """True when the first two layers are Conv2D(relu) + MaxPooling2D(2)
        that run as one kernel (Conv2D.forward_pooled): the textbook's model.
        Only as the first layers -- the fused backward has no input gradient."""
        layers = self.layers
        return (len(layers) >= 3 and isinstance(layers[0], Conv2D)
                and layers[0].can_fuse_pool(layers[1]))

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        start = 0
        if self._fused_head():
            x = cast(Conv2D, self.layers[0]).forward_pooled(x)
            start = 2
        for layer in self.layers[start:]:
            x = layer.forward(x, training)
        return x

    def _fused(self) -> bool:
        last = self.layers[-1]
        return isinstance(last, Softmax) or (isinstance(last, Dense)
                                             and last.activation == "softmax")

    def _loss_and_backward(self, out: np.ndarray, y: np.ndarray) -> float:
        """Loss of the batch; fills every layer's grads."""
        last = self.layers[-1]
        if self._lossfn.from_logits:
            loss, _, d = self._lossfn.fused(out, y)
            d = last.backward(d)
        elif self._fused():
            head = cast(Union[Dense, Softmax], last)
            # a Dense head's logits (N, classes) and y are checked already
            fused = self._lossfn._fused if isinstance(head, Dense) else self._lossfn.fused
            loss, _, d = fused(head.logits, y)
            d = head.backward(d, from_logits=True)
        else:
            loss, d = self._lossfn.from_probs(out, y)
            d = last.backward(d)
        if self._fused_head():   # the first two layers ran as one kernel
            for layer in reversed(self.layers[2:-1]):
                d = layer.backward(d)
            cast(Conv2D, self.layers[0]).backward_pooled(d)
            return loss
        for layer in reversed(self.layers[1:-1]):
            d = layer.backward(d)
        if len(self.layers) > 1:
            first = self.layers[0]
            first.need_input_grad = False  # nothing consumes it: let the layer skip the work
            try:
                first.backward(d)
            finally:
                first.need_input_grad = True
        return loss

    def _batch_loss(self, out: np.ndarray, y: np.ndarray) -> float:
        if self._lossfn.from_logits:
            return self._lossfn.fused(out, y)[0]
        if self._fused():
            return self._lossfn.fused(cast(Union[Dense, Softmax], self.layers[-1]).logits, y)[0]
        return self._lossfn.from_probs(out, y)[0]

    def _correct(self, out: np.ndarray, y: np.ndarray) -> int:
        return int(np.count_nonzero(out.argmax(axis=-1) == self._lossfn.true_classes(y)))

    @_one_blas_thread
    def compute_gradients(self, x: Any, y: Any, training: bool = True
                          ) -> Tuple[float, List[np.ndarray]]:
        """(loss, grads) for one batch without updating anything; grads are in
        the order of model.weights.  (The gradient checks use this.)"""
        self._require_compiled()
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        out = self._forward(x, training)
        loss = self._loss_and_backward(out, y)
        return loss, [layer.grads[k] for layer in self.layers for k in layer.params]

    def _train_step(self, x: np.ndarray, y: np.ndarray,
                    skip_nonfinite: bool = False) -> Tuple[float, int, bool]:
        """Forward, loss, backward, then one optimizer update -- which Ctrl-C
        cannot cut in half (Optimizer.apply_gradients).  Returns (loss, correct
        predictions, applied).  With skip_nonfinite a batch whose loss or
        gradients hold a NaN or an infinity updates nothing (applied False)."""
        out = self._forward(x, training=True)
        loss = self._loss_and_backward(out, y)
        correct = self._correct(out, y)
        pairs = [(layer.grads[k], p) for layer in self.layers if layer.trainable
                 for k, p in layer.params.items()]
        if skip_nonfinite and not (math.isfinite(loss) and
                                   optimizers_mod.all_finite([g for g, _ in pairs])):
            return loss, correct, False
        assert self.optimizer is not None
        self.optimizer.apply_gradients(pairs)
        return loss, correct, True

    @_one_blas_thread
    def train_on_batch(self, x: Any, y: Any):
        """One optimizer step on one batch; returns [loss, accuracy] (or loss)."""
        self._require_compiled()
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        loss, correct, _ = self._train_step(x, y)
        return [loss, correct / x.shape[0]] if self.metrics else loss

    # ------------------------------------------------------------ fit
    @_one_blas_thread
    @_interrupt_guarded
    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = 32,
            epochs: int = 1, verbose: Any = 1, callbacks: Optional[List[Callback]] = None,
            validation_split: float = 0.0, validation_data: Any = None,
            shuffle: bool = True, initial_epoch: int = 0,
            terminate_on_nan: bool = True) -> History:
        """Train for `epochs` passes over (x, y) in shuffled minibatches.

        validation_split takes the *last* fraction of the samples (before any
        shuffling), as Keras does.  Each epoch's 'loss' / 'accuracy' is the
        mean over its batches weighted by batch size (training mode, before
        each batch's update); 'val_loss' / 'val_accuracy' are computed in
        inference mode at the end of the epoch.  Returns a History whose
        .history maps each name to its per-epoch list.

        terminate_on_nan (default True): a batch whose loss (or gradient) is
        NaN or infinite stops training, like Keras's TerminateOnNaN callback
        but before that batch's update -- the weights stay those of the last
        finite step.  A RuntimeWarning names the epoch and the step,
        model.stop_training is set, the epoch is recorded (its loss is NaN)
        and fit returns its History.  With terminate_on_nan=False training
        goes on regardless.

        Ctrl-C (KeyboardInterrupt) is re-raised, as in Keras, and leaves the
        weights and the optimizer's state as they were after the last
        completed step (an update is never half applied) and model.history
        holding every completed epoch."""
        self._require_compiled()
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs", 0)
        initial_epoch = _positive_int(initial_epoch, "initial_epoch", 0)
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        if callbacks is not None and not all(isinstance(c, Callback) for c in callbacks):
            raise TypeError("callbacks must be a list of ccnn.callbacks.Callback instances")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        x_val = y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            x_val = self._prepare_x(validation_data[0], "x_val")
            y_val = self._prepare_y(validation_data[1], x_val.shape[0], "y_val")
        elif validation_split:
            if isinstance(validation_split, bool) or not isinstance(validation_split,
                                                                    numbers.Real) \
                    or not 0.0 <= validation_split < 1.0:
                raise ValueError(f"validation_split must be a float in [0, 1), got "
                                 f"{validation_split!r}")
            split = int(x.shape[0] * (1.0 - validation_split))
            if split == 0 or split == x.shape[0]:
                raise ValueError(f"Training data contains {x.shape[0]} samples, which is not "
                                 f"sufficient to split it into a validation and training set "
                                 f"as specified by validation_split={validation_split}")
            x, x_val = x[:split], x[split:]
            y, y_val = y[:split], y[split:]

        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        history = History()
        cbs: List[Callback] = [ProgbarLogger(verbose)] if verbose else []
        cbs += list(callbacks or []) + [history]
        cbl = CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                       "batch_size": batch_size, "samples": n})
        metric = self.metrics[0] if self.metrics else None
        rng = utils.get_rng()
        self.stop_training = False
        terminate_on_nan = bool(terminate_on_nan)
        self.history = history  # filled epoch by epoch: complete up to an interruption
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbl.on_epoch_begin(epoch)
            order = rng.permutation(n) if shuffle else None
            loss_sum, correct, seen = 0.0, 0, 0
            logs: Dict[str, float] = {}
            for step in range(steps):
                lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
                if order is None:
                    xb, yb = x[lo:hi], y[lo:hi]
                else:
                    idx = order[lo:hi]
                    xb, yb = x[idx], y[idx]
                cbl.on_train_batch_begin(step)
                loss, ok, applied = self._train_step(xb, yb, skip_nonfinite=terminate_on_nan)
                loss_sum += loss * (hi - lo)
                correct += ok
                seen += hi - lo
                logs = {"loss": loss_sum / seen}
                if metric:
                    logs[metric] = correct / seen
                cbl.on_train_batch_end(step, logs)
                if not applied:
                    what = (f"the loss is {loss}" if not math.isfinite(loss) else
                            f"the gradients are not finite (the loss is {loss:.6g})")
                    warnings.warn(f"Epoch {epoch + 1}/{epochs}, step {step + 1}/{steps}: {what}; "
                                  f"terminating training (the weights are those of the last "
                                  f"finite step; fit(..., terminate_on_nan=False) would train "
                                  f"on)", RuntimeWarning, stacklevel=3)
                    self.stop_training = True
                if self.stop_training:
                    break
            if x_val is not None and y_val is not None:
                val_loss, val_correct = self._evaluate_arrays(x_val, y_val, batch_size)
                logs["val_loss"] = val_loss
                if metric:
                    logs["val_" + metric] = val_correct
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbl.on_train_end()
        self.history = history
        return history

    # ------------------------------------------------------------ inference
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int
                         ) -> Tuple[float, float]:
        loss_sum, correct = 0.0, 0
        n = x.shape[0]
        for lo in range(0, n, batch_size):
            xb, yb = x[lo:lo + batch_size], y[lo:lo + batch_size]
            out = self._forward(xb, training=False)
            loss_sum += self._batch_loss(out, yb) * xb.shape[0]
            correct += self._correct(out, yb)
        return loss_sum / n, correct / n

    @_one_blas_thread
    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = 32,
                 verbose: Any = 0):
        """[loss, accuracy] on (x, y) in inference mode (just the loss without metrics)."""
        self._require_compiled()
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        loss, acc = self._evaluate_arrays(x, y, batch_size)
        if verbose:
            extra = f" - {self.metrics[0]}: {acc:.4f}" if self.metrics else ""
            print(f"{math.ceil(x.shape[0] / batch_size)} steps - loss: {loss:.4f}{extra}")
        return [loss, acc] if self.metrics else loss

    @_one_blas_thread
    def predict(self, x: Any, batch_size: Optional[int] = 32, verbose: Any = 0) -> np.ndarray:
        """The model's outputs (softmax probabilities for the book's model), batch by batch."""
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        x = self._prepare_x(x)
        outs = [self._forward(x[lo:lo + batch_size], training=False).copy()
                for lo in range(0, x.shape[0], batch_size)]
        return np.concatenate(outs, axis=0)

    @_one_blas_thread
    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        return self._forward(self._prepare_x(x), training)

    # ------------------------------------------------------------ weights on disk
    def _named_weights(self) -> Dict[str, np.ndarray]:
        return {f"layer{i}/{k}": p for i, layer in enumerate(self.layers)
                for k, p in layer.params.items()}

    def save_weights(self, filepath: Any) -> None:
        """Write every weight array to the .npz file `filepath` (keys
        'layer0/kernel', 'layer0/bias', ...), atomically: a temporary file in
        the same directory is fsynced and renamed over `filepath`."""
        self._require_built()
        save_npz_atomic(filepath, self._named_weights())

    def load_weights(self, filepath: Any) -> None:
        """Read weights written by save_weights, checking names, shapes and
        dtypes against this model before changing anything; nothing is unpickled."""
        if not self.built:
            first = self.layers[0] if self.layers else None
            if first is None or first.batch_input_shape is None:
                self._require_built()
                return
            self.build(first.batch_input_shape)
        own = self._named_weights()
        path = os.fspath(filepath)
        # names, shapes and dtypes from the .npy headers first: a file that does not
        # match is refused before any of its data is read (or memory allocated for it)
        headers = npz_headers(path)
        if headers is not None:
            _check_weights_match(path, headers, own)
        loaded = load_npz_checked(filepath)
        _check_weights_match(path, {k: (a.shape, a.dtype) for k, a in loaded.items()}, own)
        for key, p in own.items():
            np.copyto(p, loaded[key])

    def get_config(self) -> dict:
        return {"name": self.name,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """A new, untrained model with the architecture of get_config()."""
        from .layers import get as layer_class
        return cls([layer_class(d["class_name"]).from_config(d["config"])
                    for d in config["layers"]], name=config.get("name"))

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self.layers)} built={self.built}>"
