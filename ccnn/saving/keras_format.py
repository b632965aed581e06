"""Keras 3's files: `.keras` archives and `*.weights.h5` weights, read and
written through h5py (the optional extra: pip install "ccnn[keras-files]").

    save_keras_file(model, "m.keras")     # keras.saving.load_model reads it
    model = load_keras_file("m.keras")    # a file written by keras's model.save
    save_weights_h5(model, "m.weights.h5") / load_weights_h5(model, "m.weights.h5")

A `.keras` file is a zip of config.json (Keras 3's serialization: module,
class_name, config, registered_name, build_config, compile_config),
metadata.json and model.weights.h5.  The h5 file holds each layer's weights
under layers/<snake_case class name, "_1", "_2"... for repeats>/vars/<i>, in
the layer's get_weights() order (Keras's variable order); the model's own
group is vars/.  The compiled optimizer's state is optimizer/vars/<i> in
Keras's variable order (iterations, learning_rate, then the slots as Keras
builds them), translated to and from ccnn's get_state / set_state, so that
training resumes exactly on either side (SGD, RMSprop, Adam, AdamW, Adagrad,
Adadelta, Adamax, Nadam).

Safety: nothing is unpickled; h5py opens only the groups and datasets named
here (hard links only: no soft or external links are followed), every shape
and dtype is checked before anything is assigned, and a corrupt or truncated
file is a ValueError naming it.  Files are written atomically.
"""
from __future__ import annotations

import datetime
import inspect
import io
import json
import math
import os
import zipfile
import zlib
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..layers.initializers import weight_budget
from .._fileio import AtomicFile

__all__ = ["save_keras_file", "load_keras_file", "save_weights_h5", "load_weights_h5"]

_INSTALL = 'pip install "ccnn[keras-files]"'
_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_MAX_JSON = 64 << 20          # config.json / metadata.json larger than this are refused
#: the Keras version written to metadata.json (the serialization format ccnn writes)
KERAS_VERSION = "3.0.0"


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise ImportError(f"Keras files (.keras, .weights.h5) need h5py: {_INSTALL}") from e
    return h5py


# ===================================================================== h5 weights

def _snake(name: str) -> str:
    from ..layers.layer import to_snake_case
    return to_snake_case(name)


def _weight_layers(model: Any) -> List[Any]:
    """The model's layers in Keras's order, without input placeholders (Keras's
    InputLayer has no weights and a class name of its own, so it shifts no path)."""
    return [layer for layer in model.layers
            if hasattr(layer, "weight_arrays") and type(layer).__name__ != "InputLayer"]


def _is_model(layer: Any) -> bool:
    from ..models.nested import ModelLayer
    return isinstance(layer, ModelLayer)


def _layer_paths(model: Any, prefix: str = "layers/", models: Optional[List[Tuple[str, Any]]]
                 = None) -> List[Tuple[str, Any]]:
    """(h5 path, layer) of each layer: 'layers/<snake class name>' with Keras's
    '_1', '_2', ... for repeated classes (saving_lib's _get_unique_name); the
    layers of a nested model under '<its path>/layers/...' (its own path
    appended to `models`)."""
    used: Dict[str, int] = {}
    out = []
    for layer in _weight_layers(model):
        name = _snake(type(layer).__name__)
        if type(layer).__name__ == "Model":
            name = "functional"
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        if _is_model(layer):
            if models is not None:
                models.append((prefix + name, layer))
            out += _layer_paths(layer, prefix + name + "/layers/", models)
        else:
            out.append((prefix + name, layer))
    return out


def _write_weights(h5: Any, model: Any) -> None:
    """Write the model's weights into the open h5py File `h5` in Keras 3's layout."""
    _require_built(model)
    root = h5.create_group("vars")
    root.attrs["name"] = str(model.name)
    models: List[Tuple[str, Any]] = []
    paths = _layer_paths(model, models=models)
    for path, layer in models:          # a nested model: its own (empty) vars
        h5.create_group(path).create_group("vars").attrs["name"] = str(layer.name)
    for path, layer in paths:
        group = h5.create_group(path).create_group("vars")
        group.attrs["name"] = str(layer.name)
        for i, w in enumerate(layer.get_weights()):
            group.create_dataset(str(i), data=np.array(w, order="C"))


def _require_built(model: Any) -> None:
    if not getattr(model, "built", False):
        raise ValueError("the model is not built: give its first layer input_shape (or start "
                         "it with ccnn.Input) or call model.build(input_shape) before saving")


def _hard_child(group: Any, key: str, kind: Any, where: str) -> Any:
    """group[key], which must be a hard link to a `kind` (h5py Group or Dataset)."""
    h5py = _h5py()
    try:
        link = group.get(key, getlink=True)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise ValueError(f"{where}: unreadable entry {key!r} ({e})") from e
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{where}: {key!r} is a {type(link).__name__}; only plain groups and "
                         f"datasets are read")
    try:
        obj = group[key]
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise ValueError(f"{where}: unreadable entry {key!r} ({e})") from e
    if not isinstance(obj, kind):
        raise ValueError(f"{where}: {key!r} is not a {kind.__name__}")
    return obj


def _empty_layer_group(layers_group: Any, name: str, source: str) -> bool:
    """True when layers/<name> holds no weights (Keras writes a group for every
    layer, InputLayer and Flatten included)."""
    h5py = _h5py()
    group = _hard_child(layers_group, name, h5py.Group, source)
    if group is None:
        raise ValueError(f"{source}: corrupt weights file (layers/{name} is listed but cannot "
                         f"be opened)")
    vars_group = _hard_child(group, "vars", h5py.Group, source) if "vars" in group else None
    return set(_keys(group)) <= {"vars"} and (vars_group is None or len(vars_group) == 0)


def _read_weights(h5: Any, model: Any, source: str) -> List[Tuple[Any, List[np.ndarray]]]:
    """[(layer, Keras-layout arrays)] read from the open h5py File `h5` and
    checked against the model (names, counts, shapes, dtypes); nothing is
    assigned.  What HDF5 itself reports of a damaged file is a ValueError."""
    try:
        read = _read_weights_unchecked(h5, model, source)
        state = _read_optimizer(h5, model, source)
        if state is not None:
            read.append((_OptimizerState(state), []))
        return read
    except (OSError, RuntimeError, KeyError, UnicodeDecodeError) as e:
        raise ValueError(f"{source}: corrupt or truncated weights file ({type(e).__name__}: "
                         f"{e})") from e


def _keys(group: Any) -> List[str]:
    """The member names of an h5py group, as str."""
    return [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)
            for k in group.keys()]


def _read_weights_unchecked(h5: Any, model: Any, source: str
                            ) -> List[Tuple[Any, List[np.ndarray]]]:
    h5py = _h5py()
    _require_built(model)
    layers_group = _hard_child(h5, "layers", h5py.Group, source)
    paths = _layer_paths(model)
    if layers_group is None:
        if any(layer.weight_arrays() for _, layer in paths):
            raise ValueError(f"{source}: no 'layers' group: not a Keras 3 weights file (a "
                             f"Keras 2 / tf.keras .h5 file is not read)")
        return [(layer, []) for _, layer in paths]
    try:
        in_file = set(_keys(layers_group))
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{source}: corrupt weights file ({e})") from e
    own = {p.split("/")[1] for p, _ in paths}
    problems = []
    extra = sorted(name for name in in_file - own
                   if not _empty_layer_group(layers_group, name, source))
    if extra:
        problems.append(f"layers in the file that this model does not have: {extra}")
    out = []
    for path, layer in paths:
        keys = list(layer.weight_arrays())
        name = path.split("/", 1)[1]
        group = _hard_child(layers_group, name, h5py.Group, source)
        vars_group = None if group is None else _hard_child(group, "vars", h5py.Group, source)
        found = [] if vars_group is None else sorted(_keys(vars_group))
        want = [str(i) for i in range(len(keys))]
        if sorted(found) != sorted(want):
            problems.append(f"{path} ({type(layer).__name__} {layer.name!r}): the file has "
                            f"{len(found)} weight arrays {found}, the layer {len(keys)}")
            continue
        arrays = []
        for i, key in enumerate(keys):
            ds = _hard_child(vars_group, str(i), h5py.Dataset, source)
            if ds is None:
                raise ValueError(f"{source}: corrupt weights file ({path}/vars/{i} is listed "
                                 f"but cannot be opened)")
            shape = layer.keras_shape(key)
            kind = "f" if layer.weight_arrays()[key].dtype.kind == "f" else "iu"
            if tuple(ds.shape) != tuple(shape) or ds.dtype.kind not in kind or \
                    ds.dtype.itemsize not in (2, 4, 8) or "dtype" in ds.attrs:
                what = "a float" if kind == "f" else "an integer"
                problems.append(f"{path}/vars/{i} ({layer.name!r} {key}): file has "
                                f"{ds.dtype}{list(ds.shape)}, the layer needs {what} array of "
                                f"shape {list(shape)}")
                continue
            try:
                a = np.empty(ds.shape, dtype=ds.dtype.newbyteorder("="))
                if a.size:
                    ds.read_direct(a)
            except (OSError, RuntimeError, ValueError, TypeError) as e:
                raise ValueError(f"{source}: corrupt or truncated weights ({path}/vars/{i}: "
                                 f"{e})") from e
            if kind == "f" and not np.isfinite(a).all():
                problems.append(f"{path}/vars/{i} ({layer.name!r} {key}) has NaN or inf values")
            arrays.append(a)
        out.append((layer, arrays))
    if problems:
        raise ValueError(f"{source}: the weights do not match this model: " + "; ".join(problems))
    return out


class _OptimizerState:
    """What _read_weights read of the optimizer's state (applied last by _assign)."""

    def __init__(self, state: Dict[str, np.ndarray]):
        self.state = state


def _assign(read: List[Tuple[Any, List[np.ndarray]]], model: Any) -> None:
    """Set what _read_weights read: the optimizer's state first (set_state
    checks it all before changing anything), then the weights (checked already)."""
    for layer, _ in read:
        if isinstance(layer, _OptimizerState):
            _set_optimizer_state(model, layer.state)
    for layer, arrays in read:
        if arrays and not isinstance(layer, _OptimizerState):
            own = list(layer.weight_arrays().values())
            layer.set_weights([a.astype(p.dtype, copy=False) for a, p in zip(arrays, own)])


def _open_h5(h5py: Any, target: Any, source: str, mode: str = "r") -> Any:
    try:
        return h5py.File(target, mode)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{source}: not a readable HDF5 file (corrupt or truncated?): "
                         f"{e}") from e


# ------------------------------------------------------- the optimizer's state

def _optimizer_entries(model: Any) -> Optional[List[Tuple[str, Any, Any, Any]]]:
    """Keras's optimizer variables of a compiled model, in Keras's order, as
    (ccnn get_state key, param, layer, params key): 'iterations', then
    'learning_rate' (a float rate), then the slots -- interleaved per model
    variable within one add_optimizer_variables call, as Keras builds them --
    then Nadam's 'u_product'.  None when there is no mapping (no optimizer, an
    optimizer ccnn does not map, or a frozen layer with weights: Keras leaves
    those out of its trainable variables)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", False):
        return None
    from ..models.nested import leaf_layers
    layers = [layer for layer in leaf_layers(_weight_layers(model))
              if type(layer).__name__ != "InputLayer"]
    if any(layer.params and not layer.trainable for layer in layers) or \
            any(not layer.trainable for layer in _weight_layers(model)):
        return None
    name = type(optimizer).__name__
    groups: List[List[str]]
    if name in ("Adam", "AdamW"):
        groups = [["m", "v"]] + ([["vhat"]] if optimizer.amsgrad else [])
    elif name == "SGD":
        groups = [["velocity"]] if optimizer.momentum != 0 else []
    elif name == "RMSprop":
        groups = ([["velocity"]] + ([["momentum"]] if optimizer.momentum > 0 else [])
                  + ([["average_gradient"]] if optimizer.centered else []))
    elif name == "Adagrad":
        groups = [["accumulator"]]
    elif name == "Adadelta":
        groups = [["accumulated_grad", "accumulated_delta_var"]]
    elif name in ("Adamax", "Nadam"):
        groups = [list(optimizer._slot_names)]
    else:
        return None
    params = [(p, layer, key) for layer in layers for key, p in layer.params.items()]
    entries: List[Tuple[str, Any, Any, Any]] = [("iterations", None, None, None)]
    if not hasattr(optimizer.get_config()["learning_rate"], "keys"):
        entries.append(("learning_rate", None, None, None))
    for group in groups:
        for i, (p, layer, key) in enumerate(params):
            entries += [(f"{i}/{slot}", p, layer, key) for slot in group]
    entries += [(k, None, None, None) for k in optimizer._scalar_state]
    return entries


def _write_optimizer(h5: Any, model: Any) -> None:
    """The compiled optimizer's state as Keras's optimizer/vars/<i> (nothing
    when ccnn has no mapping for it)."""
    entries = _optimizer_entries(model)
    if entries is None:
        return
    optimizer = model.optimizer
    params = [p for key, p, _, _ in entries if p is not None]
    unique = list({id(p): p for p in params}.values())
    state = optimizer.get_state(unique)
    group = h5.create_group("optimizer").create_group("vars")
    group.attrs["name"] = str(optimizer.name)
    for i, (key, p, layer, pkey) in enumerate(entries):
        if p is None:
            value = state.get(key, np.array(1.0 if key == "u_product" else 0.0))
        else:
            slot = state.get(key)
            value = layer.to_keras(pkey, np.zeros_like(p) if slot is None else slot)
        group.create_dataset(str(i), data=np.array(value, order="C"))


def _read_optimizer(h5: Any, model: Any, source: str) -> Optional[Dict[str, np.ndarray]]:
    """The optimizer state (for optimizer.set_state) in the open h5 file, checked
    against the compiled model; None (and a warning) when the file has none that fits."""
    from .._warnings import warn
    entries = _optimizer_entries(model)
    h5py = _h5py()
    opt_group = _hard_child(h5, "optimizer", h5py.Group, source)
    vars_group = None if opt_group is None else _hard_child(opt_group, "vars", h5py.Group,
                                                            source)
    if entries is None or vars_group is None:
        return None
    found = _keys(vars_group)
    if sorted(found) != sorted(str(i) for i in range(len(entries))):
        if len(found) > 2:        # 2 or fewer: iterations and learning rate of an unbuilt one
            warn(f"{source}: the optimizer state in the file ({len(found)} variables) does not "
                 f"fit this model's {type(model.optimizer).__name__} ({len(entries)}); the "
                 f"optimizer starts afresh")
        return None
    state: Dict[str, np.ndarray] = {}
    for i, (key, p, layer, pkey) in enumerate(entries):
        ds = _hard_child(vars_group, str(i), h5py.Dataset, source)
        want = () if p is None else layer.keras_shape(pkey)
        if ds is None or tuple(ds.shape) != tuple(want) or ds.dtype.kind not in "iuf":
            raise ValueError(f"{source}: optimizer/vars/{i} ({key}) is "
                             f"{getattr(ds, 'dtype', None)}{list(getattr(ds, 'shape', []))}, "
                             f"expected a number array of shape {list(want)}")
        a = np.empty(ds.shape, dtype=ds.dtype.newbyteorder("="))
        if a.size:
            ds.read_direct(a)
        if ds.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{source}: optimizer/vars/{i} ({key}) has NaN or inf values")
        if p is not None:
            a = np.ascontiguousarray(layer.from_keras(pkey, a), dtype=p.dtype)
        state[key] = a
    return state


def _set_optimizer_state(model: Any, state: Optional[Dict[str, np.ndarray]]) -> None:
    if state is None:
        return
    entries = _optimizer_entries(model)
    assert entries is not None
    params = list({id(p): p for _, p, _, _ in entries if p is not None}.values())
    model.optimizer.set_state(state, params)


def save_weights_h5(model: Any, filepath: Any) -> None:
    """Write the model's weights (and a compiled model's optimizer state, as
    Keras does) to `filepath` (which must end in .weights.h5) in Keras 3's
    layout, atomically: keras_model.load_weights reads it."""
    h5py = _h5py()
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"filepath must end in .weights.h5 (Keras 3's weights files), got "
                         f"{path!r}")
    _require_built(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        _write_weights(h5, model)
        _write_optimizer(h5, model)
    _write_atomic(path, buf.getvalue())


def load_weights_h5(model: Any, filepath: Any) -> None:
    """Read Keras 3 weights (keras_model.save_weights("m.weights.h5")) into the
    model, every layer, count, shape and dtype checked before anything changes;
    a compiled model also takes the optimizer state the file holds."""
    h5py = _h5py()
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    with _open_h5(h5py, path, path) as h5:
        read = _read_weights(h5, model, path)
    _assign(read, model)


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with AtomicFile(directory, "." + os.path.basename(path) + ".", ".tmp") as tmp:
        tmp.file.write(data)
        tmp.commit(path)


# ============================================================ config: ccnn -> Keras

def _policy(dtype: str) -> Dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


_INIT_CLASSES = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
                 "he_uniform": "HeUniform", "he_normal": "HeNormal",
                 "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
                 "random_uniform": "RandomUniform", "random_normal": "RandomNormal",
                 "zeros": "Zeros", "ones": "Ones"}
#: the configs of ccnn's initializers, as Keras writes them (ccnn draws from its own
#: generator: the seed is always None)
_INIT_CONFIGS: Dict[str, Dict[str, Any]] = {
    "Zeros": {}, "Ones": {},
    "RandomUniform": {"minval": -0.05, "maxval": 0.05, "seed": None},
    "RandomNormal": {"mean": 0.0, "stddev": 0.05, "seed": None}}


def _initializer_to_keras(name: str) -> Dict[str, Any]:
    cls = _INIT_CLASSES[name]
    return {"module": "keras.initializers", "class_name": cls,
            "config": dict(_INIT_CONFIGS.get(cls, {"seed": None})), "registered_name": None}


#: ccnn config keys that Keras's layers do not take
_TO_KERAS_DROP = {"batch_input_shape"}
#: layers whose Keras __init__ takes no `trainable` and a plain dtype string
_PLAIN_KERAS_LAYERS = {"SpatialDropout2D"}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _layer_config_to_keras(layer: Any) -> Dict[str, Any]:
    if _is_model(layer):                # a nested model: its model config
        nested = model_config_to_keras(layer)
        nested.pop("compile_config", None)
        if type(layer).__name__ != "Sequential":
            nested["build_config"] = {"input_shape": list(layer.input_shape)}
        return nested
    config = dict(layer.get_config())
    plain = type(layer).__name__ in _PLAIN_KERAS_LAYERS
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if key in _TO_KERAS_DROP or (plain and key == "trainable"):
            continue
        if key == "dtype" and not plain:
            value = _policy(str(value))
        elif key.endswith("_initializer") and isinstance(value, str) and value in _INIT_CLASSES:
            value = _initializer_to_keras(value)
        elif key == "activation" and value is None:
            value = "linear"
        out[key] = _jsonable(value)
    layer_dict = {"module": "keras.layers", "class_name": type(layer).__name__,
                  "config": out, "registered_name": None}
    if layer.input_shape is not None:
        layer_dict["build_config"] = {"input_shape": list(layer.input_shape)}
    return layer_dict


def _compile_config_to_keras(model: Any) -> Optional[Dict[str, Any]]:
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    from .. import losses, metrics, optimizers
    opt = optimizers.serialize(model.optimizer)
    opt_config = _jsonable(opt["config"])
    lr = opt_config.get("learning_rate")
    if isinstance(lr, dict):                  # a schedule, as Keras serializes it
        opt_config["learning_rate"] = {"module": "keras.optimizers.schedules",
                                       "class_name": lr["class_name"],
                                       "config": lr.get("config", {}), "registered_name": None}
    opt_dict = {"module": "keras.optimizers", "class_name": opt["class_name"],
                "config": opt_config, "registered_name": None}
    loss_dict: Any = None                   # compiled without a loss, as Keras allows
    if model.loss is not None:
        loss = losses.serialize(model.loss)
        loss_dict = {"module": "keras.losses", "class_name": loss["class_name"],
                     "config": _jsonable(loss["config"]), "registered_name": None}

    def metric_list(ids: List[Any]) -> List[Any]:
        return [m if isinstance(m, str) else _compile_config_metric(m, metrics) for m in ids]

    loss_weights: Any = None
    if model._loss_weight != 1.0:       # a Sequential's (one output)
        loss_weights = model._loss_weight
    metrics_out: Any = metric_list(getattr(model, "_metric_ids", [])) or None
    weighted_out: Any = metric_list(getattr(model, "_weighted_metric_ids", [])) or None
    per_output = getattr(model, "_losses", None)          # a functional model
    weighted_ids = getattr(model, "_weighted_metric_ids_out", None) or \
        [[] for _ in getattr(model, "output_names", ())]
    if per_output is not None and len(model.output_names) > 1:
        # several outputs: dicts keyed by output name, as Keras writes them
        names = model.output_names
        loss_dict = {}
        for name, lossfn in zip(names, per_output):
            if lossfn is not None:
                d = losses.serialize(lossfn)
                loss_dict[name] = {"module": "keras.losses", "class_name": d["class_name"],
                                   "config": _jsonable(d["config"]), "registered_name": None}
        metrics_out = {name: metric_list(ids)
                       for name, ids in zip(names, model._metric_ids_out) if ids} or None
        weighted_out = {name: metric_list(ids)
                        for name, ids in zip(names, weighted_ids) if ids} or None
        loss_weights = dict(zip(names, model._loss_weights))
    elif per_output is not None:
        metrics_out = metric_list(model._metric_ids_out[0]) or None
        weighted_out = metric_list(weighted_ids[0]) or None
        if model._loss_weights[0] != 1.0:
            loss_weights = model._loss_weights[0]
    return {"optimizer": opt_dict, "loss": loss_dict, "loss_weights": loss_weights,
            "metrics": metrics_out, "weighted_metrics": weighted_out, "run_eagerly": False,
            "steps_per_execution": getattr(model, "steps_per_execution", 1),
            "jit_compile": False}


def _compile_config_metric(m: Any, metrics: Any) -> Any:
    """One compile() metric as Keras's compile_config holds it."""
    if isinstance(m, type) and issubclass(m, metrics.Metric):
        m = m()
    if isinstance(m, metrics.Metric):
        d = metrics.serialize(m)
        return {"module": "keras.metrics", "class_name": d["class_name"],
                "config": _jsonable(d["config"]), "registered_name": None}
    name = getattr(m, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"metric {m!r} cannot be written to a .keras file")
    return name


def _functional_config_to_keras(model: Any) -> Dict[str, Any]:
    """Keras's "Functional" config of a ccnn.Model whose get_config is in Keras
    3's functional format: each layer's config translated, the graph
    (name, inbound_nodes, input_layers, output_layers) kept as it is."""
    config = model.get_config()
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{type(model).__name__}.get_config() has no 'layers' list")
    by_name = {layer.name: layer for layer in _weight_layers(model)}
    layers = []
    for entry in config["layers"]:
        e = dict(entry)
        name = e.get("name") or (e.get("config") or {}).get("name")
        if e.get("class_name") == "InputLayer":
            cfg = {"sparse": False, "ragged": False, "optional": False,
                   **_jsonable(e.get("config") or {})}
            e.update({"module": "keras.layers", "config": cfg, "registered_name": None})
        elif name in by_name:
            e.update(_layer_config_to_keras(by_name[name]))
        else:
            raise ValueError(f"layer {name!r} of the config is not among the model's layers")
        e.setdefault("inbound_nodes", [])
        layers.append(_jsonable(e))
    inner = {"name": config.get("name", model.name), "trainable": True, **_jsonable(config),
             "layers": layers}
    if isinstance(inner.get("dtype"), str):
        inner["dtype"] = _policy(inner["dtype"])
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": inner, "registered_name": "Functional",
            "compile_config": _compile_config_to_keras(model) or {}}


def model_config_to_keras(model: Any) -> Dict[str, Any]:
    """The Keras 3 config.json dict of a built ccnn Sequential (or ccnn.Model)."""
    _require_built(model)
    if type(model).__name__ != "Sequential":
        if hasattr(model, "get_config") and hasattr(model, "layers"):
            return _functional_config_to_keras(model)
        raise ValueError(f"save_keras_file writes Sequential models and ccnn.Model; got "
                         f"{type(model).__name__}")
    shape = list(model.input_shape)
    first = getattr(model, "_input", None)
    dtype = model.layers[0].dtype if model.layers else "float32"
    input_layer = {"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": shape,
                              "dtype": first.dtype if first is not None else dtype,
                              "sparse": False, "ragged": False,
                              "name": (first.name if first is not None and first.name
                                       else "input_layer"),
                              "optional": False},
                   "registered_name": None}
    config: Dict[str, Any] = {
        "module": "keras", "class_name": "Sequential",
        "config": {"name": model.name, "trainable": model.trainable,
                   "dtype": _policy("float32"),
                   "layers": [input_layer] + [_layer_config_to_keras(l) for l in model.layers],
                   "build_input_shape": shape},
        "registered_name": None, "build_config": {"input_shape": shape}}
    # {} for a model that is not compiled, as Keras writes it
    config["compile_config"] = _compile_config_to_keras(model) or {}
    return config


def save_keras_file(model: Any, filepath: Any) -> None:
    """Write the built ccnn model to the Keras 3 archive `filepath` (.keras),
    atomically: keras.saving.load_model reads it (architecture, weights, and
    the compile settings and the optimizer's state when the model is compiled)."""
    h5py = _h5py()
    path = os.fspath(filepath)
    config = model_config_to_keras(model)
    config_json = json.dumps(config, allow_nan=False)
    try:
        from .. import __version__ as ccnn_version
    except ImportError:                                   # pragma: no cover
        ccnn_version = "unknown"
    metadata = json.dumps({"keras_version": KERAS_VERSION, "date_saved":
                           datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                           "written_by": f"ccnn {ccnn_version}"})
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        _write_weights(h5, model)
        _write_optimizer(h5, model)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with AtomicFile(directory, "." + os.path.basename(path) + ".", ".tmp") as tmp:
        with zipfile.ZipFile(tmp.file, "w") as zf:
            zf.writestr(_METADATA, metadata)
            zf.writestr(_CONFIG, config_json)
            zf.writestr(_WEIGHTS, weights.getvalue())
        tmp.commit(path)


# ============================================================ config: Keras -> ccnn

#: Keras arguments ccnn's layers do not take, with the value at which they do
#: nothing (a file with that value loads; any other value is a ValueError)
_KERAS_ONLY_ARGS: Dict[str, Any] = {
    "kernel_constraint": None, "bias_constraint": None, "depthwise_constraint": None,
    "pointwise_constraint": None, "alpha_constraint": None, "beta_constraint": None,
    "gamma_constraint": None, "quantization_config": None, "lora_rank": None,
    "lora_alpha": None, "renorm": False, "renorm_clipping": None, "synchronized": False,
    "alpha_regularizer": None, "beta_regularizer": None, "gamma_regularizer": None,
    "depthwise_regularizer": None, "pointwise_regularizer": None, "kernel_regularizer": None,
    "bias_regularizer": None, "activity_regularizer": None, "rms_scaling": False,
    "noise_shape": None, "seed": None, "autocast": True,
}
#: Keras arguments ignored whatever their value: they only matter together
#: with another one checked above (renorm_momentum needs renorm=True)
_IGNORED_ARGS = {"renorm_momentum"}

#: initializer class -> the config at which it is ccnn's initializer of that name
_INIT_FROM_KERAS = {cls: name for name, cls in _INIT_CLASSES.items()}


def _initializer_from_keras(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        return value
    cls = value.get("class_name")
    if cls not in _INIT_FROM_KERAS:
        raise ValueError(f"{where}: initializer {cls!r} is not supported by ccnn (it has "
                         f"{', '.join(_INIT_FROM_KERAS)})")
    config = value.get("config") or {}
    defaults = {"seed": None, "input_axes": None, "output_axes": None,
                **_INIT_CONFIGS.get(cls, {})}
    for k, v in config.items():
        # the seed only draws a new layer's first weights, which the file's replace
        if k == "seed":
            continue
        if k not in defaults or not _same(v, defaults[k]):
            raise ValueError(f"{where}: initializer {cls}({k}={v!r}) is not supported by ccnn "
                             f"(only {cls}'s defaults)")
    return _INIT_FROM_KERAS[cls]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.0)
    return bool(a == b)


def _dtype_from_keras(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        name = (value.get("config") or {}).get("name")
        if value.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy", "Policy") \
                or not isinstance(name, str):
            raise ValueError(f"{where}: dtype policy {value!r} is not supported by ccnn")
        value = name
    if value not in ("float32", "float64"):
        raise ValueError(f"{where}: dtype {value!r} is not supported by ccnn (float32 or "
                         f"float64)")
    return value


def _accepted_args(cls: type) -> set:
    """The keyword arguments `cls(...)` takes, through its __init__ chain."""
    names: set = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    names |= set(getattr(cls, "_REGULARIZED", {}))
    names.discard("self")
    return names


def layer_config_from_keras(class_name: str, config: Any) -> Dict[str, Any]:
    """The ccnn config (for ccnn.layers.get(class_name).from_config) of a Keras
    3 layer config; a ValueError naming the layer and the argument ccnn lacks."""
    from ..layers import get as layer_class
    cls = layer_class(class_name)
    if not isinstance(config, dict):
        raise ValueError(f"layer {class_name}: config must be a dict, got {config!r}")
    where = f"layer {config.get('name')!r} ({class_name})"
    accepted = _accepted_args(cls)
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if key == "dtype":
            value = _dtype_from_keras(value, where)
        elif key.endswith("_initializer"):
            value = _initializer_from_keras(value, f"{where} {key}")
        elif key == "activation" and isinstance(value, dict):
            raise ValueError(f"{where}: activation {value!r} is not a built-in Keras activation")
        if key == "batch_input_shape" and value is not None:
            out[key] = tuple(value)
            continue
        if key in accepted:
            out[key] = value
        elif key in _IGNORED_ARGS:
            continue
        elif key in _KERAS_ONLY_ARGS and _same(value, _KERAS_ONLY_ARGS[key]):
            continue
        else:
            raise ValueError(f"{where}: Keras argument {key}={value!r} is not supported by "
                             f"ccnn's {class_name}")
    return out


def _translate_layer(d: Any, where: str) -> Dict[str, Any]:
    if not isinstance(d, dict) or not isinstance(d.get("class_name"), str):
        raise ValueError(f"{where}: a layer entry must be a dict with 'class_name', got {d!r}")
    config = d.get("config")
    if d["class_name"] == "InputLayer":
        if not isinstance(config, dict):
            raise ValueError(f"{where}: InputLayer config must be a dict")
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if not isinstance(shape, (list, tuple)) or not shape:
            raise ValueError(f"{where}: InputLayer needs a batch_shape, got {shape!r}")
        for key in ("sparse", "ragged", "optional"):
            if config.get(key, False):
                raise ValueError(f"{where}: InputLayer {key}=True is not supported by ccnn")
        dtype = _dtype_from_keras(config.get("dtype") or "float32", where)
        return {"class_name": "InputLayer",
                "config": {"batch_shape": list(shape), "dtype": dtype,
                           "name": config.get("name")}}
    if d["class_name"] in ("Sequential", "Functional"):     # a nested model
        model = model_from_keras_config(d, where)
        if isinstance(config, dict) and config.get("trainable") is False:
            model.trainable = False
        return {"class_name": d["class_name"], "config": model.get_config()}
    translated = layer_config_from_keras(d["class_name"], config)
    from ..layers import get as layer_class
    try:                               # the layer's own checks, named after the layer
        layer_class(d["class_name"]).from_config(dict(translated))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: layer {translated.get('name')!r} ({d['class_name']}): "
                         f"{e}") from e
    return {"class_name": d["class_name"], "config": translated}


def _check_known(layer_dicts: List[Any], source: str) -> None:
    from ..layers import _LAYERS
    unknown = sorted({d.get("class_name") for d in layer_dicts if isinstance(d, dict)
                      and d.get("class_name") not in ("InputLayer", "Sequential", "Functional")
                      and d.get("class_name") not in _LAYERS}, key=str)
    if unknown:
        raise ValueError(f"{source}: ccnn has no layer {', '.join(map(str, unknown))} (the "
                         f"model uses {'it' if len(unknown) == 1 else 'them'})")


def model_from_keras_config(config: Any, source: str = "config") -> Any:
    """A new ccnn model (untrained weights) from a Keras 3 config.json dict."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ValueError(f"{source}: not a Keras 3 model config (no 'config' dict)")
    class_name = config.get("class_name")
    inner = config["config"]
    layer_dicts = inner.get("layers")
    if class_name not in ("Sequential", "Functional", "Model"):
        raise ValueError(f"{source}: model class {class_name!r} is not supported by ccnn "
                         f"(Sequential, or Functional with ccnn.Model)")
    if not isinstance(layer_dicts, list):
        raise ValueError(f"{source}: the model config has no 'layers' list")
    _check_known(layer_dicts, source)
    if "dtype" in inner and inner["dtype"] is not None:
        _dtype_from_keras(inner["dtype"], f"{source}: model")
    if class_name == "Sequential":
        from ..models import Sequential
        layers = [_translate_layer(d, f"{source}: layer {i}") for i, d in enumerate(layer_dicts)]
        model = Sequential.from_config({"name": inner.get("name"), "layers": layers})
        shape = inner.get("build_input_shape") or (config.get("build_config") or {}).get(
            "input_shape")
        if not model.built and model.layers and isinstance(shape, (list, tuple)):
            model.build(tuple(shape))
        return model
    # Functional: each layer's config translated; the graph (inbound_nodes,
    # input_layers, output_layers) kept as Keras wrote it
    translated = dict(inner)
    if translated.get("dtype") is not None:
        translated["dtype"] = _dtype_from_keras(translated["dtype"], f"{source}: model")
    translated["layers"] = []
    for i, d in enumerate(layer_dicts):
        t = _translate_layer(d, f"{source}: layer {i}")
        entry = {k: v for k, v in d.items() if k not in ("config", "module", "registered_name",
                                                         "build_config")}
        entry["class_name"] = t["class_name"]
        entry["config"] = t["config"]
        translated["layers"].append(entry)
    from .. import models
    model_cls = getattr(models, "Model", None)
    if model_cls is None or not hasattr(model_cls, "from_config"):
        raise ValueError(f"{source}: a functional Keras model needs ccnn.Model (functional "
                         f"models), which this ccnn does not have; Sequential files load")
    return model_cls.from_config(translated)


def _compile_from_keras(model: Any, compile_config: Any, source: str) -> None:
    if not isinstance(compile_config, dict):
        raise ValueError(f"{source}: compile_config must be a dict")
    functional = hasattr(model, "output_names")
    from .. import optimizers
    optimizer = compile_config.get("optimizer", "rmsprop")
    if isinstance(optimizer, dict):
        try:
            optimizer = optimizers.deserialize(optimizer)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: its optimizer cannot be used by ccnn: {e}") from e
    loss = compile_config.get("loss")       # None: compiled without a loss, as Keras allows
    if isinstance(loss, dict) and "class_name" in loss:
        # one serialized loss (Keras's form for a single output), not a dict of outputs
        from .. import losses
        try:
            loss = losses.deserialize(loss)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"{source}: its compile_config's loss cannot be used by ccnn: "
                             f"{e}") from e
    from .. import metrics as metrics_mod

    def metric_list(ms: Any) -> List[Any]:
        if not isinstance(ms, list):
            raise ValueError(f"{source}: compile metrics {ms!r}: ccnn reads a list per output")
        return [metrics_mod.deserialize(m) if isinstance(m, dict) else m for m in ms]

    def metric_arg(key: str) -> Any:
        ms = compile_config.get(key) or []
        if isinstance(ms, list) and len(ms) == 1 and isinstance(ms[0], list):
            ms = ms[0]                        # one output's list, as Keras may write it
        return ({k: metric_list(v) for k, v in ms.items()}
                if functional and isinstance(ms, dict) else metric_list(ms))

    extra: Dict[str, Any] = {}
    if compile_config.get("steps_per_execution", 1) != 1:
        extra["steps_per_execution"] = compile_config["steps_per_execution"]
    if compile_config.get("loss_weights") is not None:
        extra["loss_weights"] = compile_config["loss_weights"]
    try:
        weighted = metric_arg("weighted_metrics")
        if weighted:
            extra["weighted_metrics"] = weighted
        model.compile(optimizer=optimizer, loss=loss, metrics=metric_arg("metrics"), **extra)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{source}: its compile_config cannot be used by ccnn: {e}") from e


def _read_json(zf: zipfile.ZipFile, name: str, source: str) -> Any:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(f"{source}: not a Keras 3 .keras file: no {name}") from None
    if info.file_size > _MAX_JSON:
        raise ValueError(f"{source}: {name} is {info.file_size} bytes; ccnn reads at most "
                         f"{_MAX_JSON}")
    try:
        return json.loads(zf.read(info).decode("utf-8"))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
        raise ValueError(f"{source}: corrupt or truncated .keras file ({name}: {e})") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{source}: {name} is not valid JSON ({e})") from e


def load_keras_file(filepath: Any, compile: bool = True) -> Any:
    """A ccnn model from a Keras 3 `.keras` file (keras_model.save("m.keras")):
    its architecture, weights and (with compile=True, when the file has them)
    its loss, metrics and optimizer settings.  A layer or argument ccnn does not
    have is a ValueError naming it; a corrupt file is a ValueError."""
    h5py = _h5py()
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ValueError(f"{path}: not a .keras file (not a readable zip archive: {e})") from e
    with zf:
        config = _read_json(zf, _CONFIG, path)
        if _METADATA in zf.namelist():
            metadata = _read_json(zf, _METADATA, path)
            version = metadata.get("keras_version") if isinstance(metadata, dict) else None
            if isinstance(version, str) and not version.startswith("3."):
                raise ValueError(f"{path}: written by Keras {version}; ccnn reads Keras 3 files")
        # the config may ask for no more weight memory than the archive holds
        # (its members' sizes, which deflate bounds at ~1032x the archive's)
        held = min(sum(i.file_size for i in zf.infolist()), 1100 * os.path.getsize(path))
        with weight_budget(held + (1 << 16)):
            try:
                model = model_from_keras_config(config, path)
            except (ValueError, KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:   # noqa: BLE001  -- a config from a file can fail anywhere
                raise ValueError(f"{path}: its model config cannot be rebuilt "
                                 f"({type(e).__name__}: {e})") from None
        if compile and config.get("compile_config"):   # first: its state is read with the weights
            _compile_from_keras(model, config["compile_config"], path)
        names = zf.namelist()
        if _WEIGHTS not in names:
            other = [n for n in names if n.startswith("model.weights")]
            raise ValueError(f"{path}: no {_WEIGHTS} in the archive" +
                             (f" ({other[0]}: only h5 weights are read)" if other else ""))
        try:
            with zf.open(_WEIGHTS) as raw:
                with _open_h5(h5py, raw, f"{path}:{_WEIGHTS}") as h5:
                    read = _read_weights(h5, model, f"{path}:{_WEIGHTS}")
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            raise ValueError(f"{path}: corrupt or truncated .keras file ({e})") from e
    _assign(read, model)
    return model
