"""ccnn's own whole-model file (model.save("m.ccnn")): a zip archive of

    manifest.json     {"format": "ccnn.model", "format_version": 1, "ccnn_version",
                       "model": {"class_name", "config", "build_config"},
                       "compile_config": {...} or null,
                       "arrays": {name: {"shape": [...], "dtype": "<f4"}, ...}}
    <name>.npy        one .npy file per array, stored (not compressed):
        weights/layer{i}/{key}   layer i's weights in Keras's layout (as
                                 save_weights writes them; BatchNormalization's
                                 moving statistics included)
        optimizer/...            optimizer.get_state() of the model's parameters
        rng/layer{i}             the state of a seeded random layer's own generator
                                 (rng/layer{i}/layer{j} in a nested model)

written atomically (a temporary file in the same directory, fsynced, renamed
over the target).  Reading trusts nothing in the file: every member is
checked (names, .npy headers against the manifest, sizes against the
archive, the manifest against the model rebuilt from it) before any array
data is read, nothing is unpickled (np.load is never used on it), and every
problem is a ValueError naming the file.
"""
from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..layers.initializers import weight_budget
from .._fileio import atomic_write, read_npy_header, weight_mismatches
from . import serialization_lib as slib
from .object_registration import CustomObjectScope

FORMAT_NAME = "ccnn.model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: the largest manifest read (a model's config is a few kB)
MAX_MANIFEST_BYTES = 16 << 20
#: the most members an archive may have
#: weight bytes a model rebuilt from a file may take beyond its arrays' bytes
BUDGET_SLACK = 1 << 16
MAX_MEMBERS = 100_000
WEIGHTS, OPTIMIZER, RNG = "weights/", "optimizer/", "rng/"
_PCG64_WORDS = 6    # state (2 words), inc (2), has_uint32, uinteger


#: what zipfile raises for a damaged archive (an unknown compression method
#: or the encryption flag in a damaged header included), besides OSError
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, struct.error,
              NotImplementedError, RuntimeError, UnicodeDecodeError, OverflowError)


class _Bad(ValueError):
    """A problem found in the file (its message does not name the file yet)."""


# ------------------------------------------------------------------ arrays of a model
def _params(model: Any) -> List[np.ndarray]:
    """The arrays the optimizer's state is saved against (model.weights' order)."""
    return [p for layer in model.layers for p in layer.params.values()]


def _random_layers(model: Any) -> List[Tuple[str, Any]]:
    """(name, layer) of every layer whose generator the file may hold:
    "layer{i}", and "layer{i}/{j}..." for the layers of a nested model."""
    from ..models.nested import ModelLayer
    out: List[Tuple[str, Any]] = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, ModelLayer):
            out += [(f"layer{i}/{name}", inner) for name, inner in _random_layers(layer)]
        else:
            out.append((f"layer{i}", layer))
    return out


def _rng_words(rng: Any) -> Optional[np.ndarray]:
    """A layer's own np.random.Generator (PCG64) as 6 uint64 words, or None."""
    if not isinstance(rng, np.random.Generator):
        return None
    state = rng.bit_generator.state
    if state.get("bit_generator") != "PCG64":
        return None
    mask = (1 << 64) - 1
    s, inc = state["state"]["state"], state["state"]["inc"]
    return np.array([s & mask, s >> 64, inc & mask, inc >> 64, state["has_uint32"],
                     state["uinteger"]], dtype=np.uint64)


def _set_rng_words(rng: np.random.Generator, words: np.ndarray) -> None:
    w = [int(v) for v in words]
    rng.bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": w[0] | (w[1] << 64),
                                         "inc": w[2] | (w[3] << 64)},
                               "has_uint32": w[4], "uinteger": w[5]}


def model_arrays(model: Any) -> Dict[str, np.ndarray]:
    """Every array the file holds for `model` (views of the live arrays, or
    copies), by member name without '.npy'."""
    arrays: Dict[str, np.ndarray] = {}
    for i, layer in enumerate(model.layers):
        for key, p in layer.weight_arrays().items():
            arrays[f"{WEIGHTS}layer{i}/{key}"] = layer.to_keras(key, p)
    for name, layer in _random_layers(model):
        words = _rng_words(getattr(layer, "rng", None))
        if words is not None:
            arrays[f"{RNG}{name}"] = words
    optimizer = getattr(model, "optimizer", None)
    if getattr(model, "compiled", False) and optimizer is not None:
        for key, a in optimizer.get_state(_params(model)).items():
            arrays[OPTIMIZER + key] = a
    return arrays


def _expected(model: Any) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of the weight and rng arrays a file for `model`
    must hold (the optimizer's are checked by _check_optimizer)."""
    out: Dict[str, Tuple[Tuple[int, ...], np.dtype]] = {}
    for i, layer in enumerate(model.layers):
        for key, p in layer.weight_arrays().items():
            out[f"{WEIGHTS}layer{i}/{key}"] = (tuple(layer.keras_shape(key)), p.dtype)
    for name, layer in _random_layers(model):
        if _rng_words(getattr(layer, "rng", None)) is not None:
            out[f"{RNG}{name}"] = ((_PCG64_WORDS,), np.dtype(np.uint64))
    return out


def _check_optimizer(model: Any, found: Dict[str, Tuple[Tuple[int, ...], np.dtype]]) -> None:
    """The optimizer arrays of the file (names without the prefix) against the
    compiled model's optimizer: known names, the parameters' shapes and dtypes."""
    optimizer = model.optimizer
    params = _params(model)
    scalars = {"iterations", "learning_rate", *optimizer._scalar_state}
    if found and "iterations" not in found:
        raise _Bad("the optimizer's state has no 'iterations'")
    for key, (shape, dtype) in found.items():
        if key in scalars:
            if shape != () or dtype.kind not in "iuf":
                raise _Bad(f"optimizer state {key!r} must be one number, got "
                           f"{dtype}{list(shape)}")
            continue
        i_text, _, slot = key.partition("/")
        if not (i_text.isdigit() and len(i_text) < 10) or slot not in optimizer._slot_names:
            raise _Bad(f"optimizer state {key!r} is not one of this "
                       f"{type(optimizer).__name__}'s (slots {list(optimizer._slot_names)})")
        i = int(i_text)
        if i >= len(params):
            raise _Bad(f"optimizer state {key!r}: the model has {len(params)} parameters")
        if shape != params[i].shape or dtype != params[i].dtype:
            raise _Bad(f"optimizer state {key!r} is {dtype}{list(shape)}, its parameter "
                       f"{params[i].dtype}{list(params[i].shape)}")


# ------------------------------------------------------------------ writing
def save_model(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write `model` (architecture, weights, compile config, optimizer state)
    to the ccnn model file `filepath`, atomically."""
    model_data = slib.serialize_model(model)
    compile_config = slib.serialize_compile_config(model)
    arrays = model_arrays(model) if getattr(model, "built", False) else {}
    if not getattr(model, "built", False) and compile_config is not None:
        arrays = {OPTIMIZER + k: a for k, a in model.optimizer.get_state([]).items()}
    import ccnn
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "ccnn_version": ccnn.__version__, "model": model_data,
                "compile_config": compile_config,
                "arrays": {name: {"shape": list(a.shape), "dtype": a.dtype.str}
                           for name, a in arrays.items()}}
    text = slib.dumps(manifest).encode("utf-8")
    with atomic_write(filepath, overwrite) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, text)
            for name, a in arrays.items():
                a = a if a.flags.c_contiguous else a.copy(order="C")  # 0-d stays 0-d
                with zf.open(name + ".npy", "w", force_zip64=a.nbytes > (1 << 30)) as m:
                    np.lib.format.write_array(m, a, allow_pickle=False)


# ------------------------------------------------------------------ reading
def _read_manifest(zf: zipfile.ZipFile) -> Dict[str, Any]:
    info = zf.getinfo(MANIFEST)
    if info.file_size > MAX_MANIFEST_BYTES:
        raise _Bad(f"its manifest is {info.file_size} bytes (at most "
                   f"{MAX_MANIFEST_BYTES} are read)")
    with zf.open(info) as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _Bad(f"its manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _Bad(f"its manifest is not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(manifest, dict):
        raise _Bad("its manifest is not a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise _Bad(f"its manifest's format is {manifest.get('format')!r}, not "
                   f"{FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise _Bad(f"format version {version!r} is not one this ccnn reads ({FORMAT_VERSION}); "
                   f"written by a newer ccnn?")
    for key, kind in (("model", dict), ("arrays", dict)):
        if not isinstance(manifest.get(key), kind):
            raise _Bad(f"its manifest's {key!r} must be a JSON object")
    if manifest.get("compile_config") is not None and \
            not isinstance(manifest["compile_config"], dict):
        raise _Bad("its manifest's 'compile_config' must be a JSON object or null")
    return manifest


def _listing(manifest: Dict[str, Any]) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
    """The manifest's {name: (shape, dtype)}, every entry checked."""
    out = {}
    for name, entry in manifest["arrays"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            raise _Bad(f"its manifest's entry for array {name!r} must be "
                       f"{{'shape': [...], 'dtype': '...'}}")
        shape = slib.check_shape(entry.get("shape"), f"the shape of array {name!r}")
        try:
            dtype = np.dtype(entry["dtype"])
        except (TypeError, ValueError, SyntaxError):
            raise _Bad(f"array {name!r} has an unknown dtype {entry['dtype']!r}") from None
        if dtype.kind not in "biuf" or dtype.hasobject or dtype.names is not None:
            raise _Bad(f"array {name!r} has dtype {dtype}; ccnn files hold numbers only")
        out[name] = (shape, dtype)
    return out


def _check_members(zf: zipfile.ZipFile, listing: Dict[str, Tuple[Tuple[int, ...], np.dtype]],
                   archive_size: int) -> Dict[str, Tuple[zipfile.ZipInfo, int]]:
    """{array name: (member, data offset)}: the members are exactly the
    manifest's arrays, and each .npy header agrees with the manifest and with
    the member's size (shape x itemsize), read before any data."""
    infos = zf.infolist()
    members = {i.filename: i for i in infos}
    arrays = {n + ".npy" for n in listing}
    names = set(members) - {MANIFEST}
    if names != arrays:
        problems = []
        if arrays - names:
            problems.append(f"missing arrays {sorted(n[:-4] for n in arrays - names)}")
        if names - arrays:
            problems.append(f"members not in its manifest {sorted(names - arrays)}")
        raise _Bad("; ".join(problems))
    out = {}
    stored = 0
    for name, (shape, dtype) in listing.items():
        info = members[name + ".npy"]
        if info.compress_type == zipfile.ZIP_STORED:
            stored += info.file_size
            if info.file_size != info.compress_size or stored > archive_size:
                raise _Bad(f"member {info.filename!r} claims more bytes than the file has")
        try:
            with zf.open(info) as f:
                hshape, fortran, hdtype = read_npy_header(f)
                offset = f.tell()
        except ValueError as e:
            raise _Bad(f"member {info.filename!r} is not a valid .npy array: {e}") from None
        if hdtype.hasobject or hdtype.kind not in "biuf" or hdtype.names is not None:
            raise _Bad(f"member {info.filename!r} holds dtype {hdtype} (ccnn never unpickles "
                       f"objects; files hold numbers only)")
        if (tuple(hshape), hdtype) != (shape, dtype) or fortran:
            raise _Bad(f"member {info.filename!r} is {hdtype}{list(hshape)}"
                       f"{' (Fortran order)' if fortran else ''}, its manifest says "
                       f"{dtype}{list(shape)}")
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise _Bad(f"member {info.filename!r} is {info.file_size} bytes, but its header "
                       f"says {offset} + {nbytes} (shape {list(shape)} x {dtype.itemsize})")
        out[name] = (info, offset)
    return out


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, offset: int,
                shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    nbytes = math.prod(shape) * dtype.itemsize
    with zf.open(info) as f:
        f.read(offset)
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise _Bad(f"member {info.filename!r} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _open_archive(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise _Bad(f"not a zip archive, or a truncated one ({e})") from None


def load_model(filepath: Any, custom_objects: Optional[Mapping[str, Any]] = None,
               compile: bool = True) -> Any:
    """The model of the ccnn model file `filepath` (see the module's docstring)."""
    path = os.fspath(filepath)
    try:
        return _load(path, custom_objects, compile)
    except _Bad as e:
        raise ValueError(f"{path}: not a valid ccnn model file: {e}") from None
    except ZIP_ERRORS as e:
        raise ValueError(f"{path}: corrupt or truncated ccnn model file "
                         f"({type(e).__name__}: {e})") from None
    except OSError as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"{path}: corrupt or truncated ccnn model file "
                         f"({type(e).__name__}: {e})") from None


def _rebuild(what: str, fn: Any, *args: Any) -> Any:
    """fn(*args), any exception a _Bad saying what could not be rebuilt (the
    config is the file's, so any failure is the file's problem)."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:   # noqa: BLE001  -- a config from a file can fail anywhere
        raise _Bad(f"{what} ({type(e).__name__}: {e})") from None


def _load(path: str, custom_objects: Optional[Mapping[str, Any]], compile: bool) -> Any:
    archive_size = os.path.getsize(path)
    with _open_archive(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _Bad(f"it has {len(infos)} members (at most {MAX_MEMBERS})")
        if len({i.filename for i in infos}) != len(infos):
            raise _Bad("it has two members of the same name")
        if MANIFEST not in {i.filename for i in infos}:
            raise _Bad(f"it has no {MANIFEST}")
        manifest = _read_manifest(zf)
        listing = _listing(manifest)
        members = _check_members(zf, listing, archive_size)

        # the config may ask for no more weight memory than the file's arrays hold
        with CustomObjectScope(custom_objects), weight_budget(
                sum(i.file_size for i in infos) + BUDGET_SLACK):
            model = _rebuild("its model config cannot be rebuilt", slib.deserialize_model,
                             manifest["model"])
            compile_config = manifest.get("compile_config")
            if compile and compile_config is not None:
                _rebuild("its compile config cannot be applied",
                         lambda: model.compile_from_config(compile_config))
        found_opt = {k[len(OPTIMIZER):]: v for k, v in listing.items()
                     if k.startswith(OPTIMIZER)}
        if found_opt and compile_config is None:
            raise _Bad("it holds an optimizer state but no compile config")
        if model.built:
            problems = weight_mismatches(
                {k: v for k, v in listing.items() if not k.startswith(OPTIMIZER)},
                _expected(model))
            if problems:
                raise _Bad("the arrays do not match the model's config: " + "; ".join(problems))
        elif len(found_opt) != len(listing):
            raise _Bad("it holds weights for a model that is not built (its config gives "
                       "no input shape)")
        restore_opt = compile and compile_config is not None
        if restore_opt:
            _check_optimizer(model, found_opt)
        # every check passed: read the data
        data = {name: _read_array(zf, info, offset, *listing[name])
                for name, (info, offset) in members.items()
                if restore_opt or not name.startswith(OPTIMIZER)}
    for name, a in data.items():
        if name.startswith(RNG) and (int(a[4]) > 1 or int(a[5]) >= 1 << 32):
            raise _Bad(f"{name} is not the state of a random generator")
    if restore_opt and found_opt:
        state = {k[len(OPTIMIZER):]: v for k, v in data.items() if k.startswith(OPTIMIZER)}
        _rebuild("its optimizer state cannot be restored", model.optimizer.set_state, state,
                 _params(model))
    for i, layer in enumerate(model.layers if model.built else ()):
        for key, p in layer.weight_arrays().items():
            np.copyto(p, layer.from_keras(key, data[f"{WEIGHTS}layer{i}/{key}"]))
    for name, layer in _random_layers(model) if model.built else ():
        words = data.get(f"{RNG}{name}")
        if words is not None:
            _set_rng_words(layer.rng, words)
    return model
