"""save_model / load_model (Keras 3's keras/src/saving/saving_api.py): which
file format a path means, and the calls into it.

    a path ending in .keras   Keras 3's own format (config.json + model.weights.h5
                              in a zip, through h5py): ccnn.saving.keras_format,
                              pip install "ccnn[keras-files]"
    any other path            ccnn's own format (NumPy only; the README uses
                              "m.ccnn"): ccnn.saving.ccnn_format

load_model reads the archive's members to decide, whatever the suffix:
ccnn's manifest.json means ccnn's format, Keras's config.json and
model.weights.h5 Keras's.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import zipfile
from typing import Any, Dict, Mapping, Optional

from .. import _checks as chk
from . import ccnn_format
from . import serialization_lib as slib
from .object_registration import CustomObjectScope

__all__ = ["save_model", "load_model", "model_from_json", "clone_model"]

_KERAS_HINT = ('Keras 3 ".keras" files need h5py: pip install "ccnn[keras-files]"; or save '
               'to a ".ccnn" path, ccnn\'s own format (NumPy only)')


def _keras_format() -> Any:
    try:
        keras_format = importlib.import_module(".keras_format", __package__)
    except ImportError as e:
        raise ImportError(f"{_KERAS_HINT} ({e})") from e
    return keras_format


def _is_keras_path(path: str) -> bool:
    return str(path).endswith(".keras")


def save_model(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write the whole model -- architecture, weights, compile() arguments and
    the optimizer's state -- to `filepath`, atomically (a reader sees the old
    file or the complete new one).  A path ending in ".keras" is Keras 3's
    file format; any other (e.g. "m.ccnn") ccnn's own, NumPy-only one.  With
    overwrite=False an existing file is a FileExistsError."""
    if isinstance(filepath, bool) or not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"filepath must be a str or a path, got {type(filepath).__name__}")
    path = os.fspath(filepath)
    overwrite = chk.boolean(overwrite, "overwrite")
    slib.model_class_name(model)          # a TypeError for what is not a ccnn model
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if _is_keras_path(path):
        _keras_format().save_keras_file(model, path)
        return
    ccnn_format.save_model(model, path, overwrite)


def _archive_kind(path: str) -> str:
    """'ccnn', 'keras', or a ValueError saying what the file is instead."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a model file (Keras 2's SavedModel "
                         f"directories are not read by ccnn)") from None
    if head.startswith(b"\x89HDF"):
        raise ValueError(f"{path} is an HDF5 file (Keras 2's legacy .h5 model format), which "
                         f"ccnn does not read; save it from Keras 3 as a .keras file")
    if not head.startswith(b"PK"):
        raise ValueError(f"{path}: not a model file: not a zip archive (ccnn's .ccnn and "
                         f"Keras's .keras files are zip archives)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, ValueError) + ccnn_format.ZIP_ERRORS as e:
        if isinstance(e, (FileNotFoundError, PermissionError)):
            raise
        raise ValueError(f"{path}: not a valid model file: a corrupt or truncated zip "
                         f"archive ({type(e).__name__}: {e})") from None
    if ccnn_format.MANIFEST in names:
        return "ccnn"
    if "config.json" in names and "model.weights.h5" in names:
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        raise ValueError(f"{path}: not a model file: a zip of .npy arrays without ccnn's "
                         f"{ccnn_format.MANIFEST}; a weights file (.npz)? Build the model and "
                         f"call model.load_weights on it")
    raise ValueError(f"{path}: not a model file: a zip archive with neither ccnn's "
                     f"{ccnn_format.MANIFEST} nor Keras's config.json + model.weights.h5")


def load_model(filepath: Any, custom_objects: Optional[Mapping[str, Any]] = None,
               compile: bool = True) -> Any:
    """The model saved in `filepath` by model.save / save_model (ccnn's format,
    or a Keras 3 .keras file), compiled as it was when compile=True and it was,
    with the optimizer's state: it trains on exactly as the saved model would.
    custom_objects maps class names in the file to your own classes (Layer
    subclasses, losses, metrics).  The file is checked in full before any
    array is read; nothing is unpickled; a file that is not a valid model file
    is a ValueError saying why."""
    if isinstance(filepath, bool) or not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"filepath must be a str or a path, got {type(filepath).__name__}")
    path = os.fspath(filepath)
    compile = chk.boolean(compile, "compile")
    if custom_objects is not None and (not isinstance(custom_objects, Mapping) or not all(
            isinstance(k, str) for k in custom_objects)):
        raise TypeError(f"custom_objects must be a dict of name -> class or function, got "
                        f"{type(custom_objects).__name__}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found: filepath={path}. Please ensure the file is "
                                f"an accessible '.ccnn' or '.keras' zip file.")
    if _archive_kind(path) == "keras":
        load_keras_file = _keras_format().load_keras_file
        kwargs: Dict[str, Any] = {"compile": compile}
        if custom_objects and "custom_objects" in inspect.signature(load_keras_file).parameters:
            kwargs["custom_objects"] = custom_objects
        with CustomObjectScope(custom_objects):    # ccnn.layers.get finds them too
            return load_keras_file(path, **kwargs)
    return ccnn_format.load_model(path, custom_objects, compile)


def model_from_json(json_string: Any, custom_objects: Optional[Mapping[str, Any]] = None
                    ) -> Any:
    """A new model (fresh weights, not compiled) from model.to_json()'s string,
    or from a Keras 3 model's to_json() (through ccnn.saving.keras_format);
    anything that is not one is a ValueError."""
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"json_string must be a str, got {type(json_string).__name__}")
    try:
        data = json.loads(json_string)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"json_string is not valid JSON ({type(e).__name__}: {e})") from None
    if isinstance(data, dict) and data.get("module") == "keras":
        # Keras's own model JSON (keras_model.to_json()): its layer configs are
        # Keras's, which keras_format translates
        from_keras = getattr(_keras_format(), "model_from_keras_config", None)
        if from_keras is None:
            raise ImportError(f"reading Keras's model JSON needs ccnn.saving.keras_format's "
                              f"model_from_keras_config; {_KERAS_HINT}")
        with CustomObjectScope(custom_objects):
            return from_keras(data, "json_string")
    try:
        return slib.deserialize_model(data, custom_objects)
    except ValueError:
        raise
    except Exception as e:   # noqa: BLE001  -- a config from outside can fail anywhere
        raise ValueError(f"the model's config cannot be rebuilt ({type(e).__name__}: "
                         f"{e})") from None


def clone_model(model: Any) -> Any:
    """A new model of the same architecture (same config, built for the same
    input shape) with newly initialised weights, not compiled, as Keras's
    clone_model(model)."""
    return slib.deserialize_model(slib.serialize_model(model))
