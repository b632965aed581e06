"""ccnn.saving -- whole models on disk (Keras 3's keras.saving).

    model.save("m.ccnn")                           # or save_model(model, "m.ccnn")
    model = ccnn.models.load_model("m.ccnn")       # = ccnn.saving.load_model

    saving_api.py           save_model / load_model: which format a path means
    ccnn_format.py          ccnn's own format: a zip of manifest.json + .npy arrays
    keras_format.py         Keras 3's .keras files (needs h5py: ccnn[keras-files])
    serialization_lib.py    models and compile() arguments as JSON-able dicts
    object_registration.py  custom_objects: your own classes by name
"""
from __future__ import annotations

from .object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,
                                  get_registered_name, get_registered_object,
                                  register_keras_serializable)
from .saving_api import load_model, save_model

__all__ = ["save_model", "load_model", "CustomObjectScope", "custom_object_scope",
           "get_custom_objects", "register_keras_serializable", "get_registered_name",
           "get_registered_object"]
