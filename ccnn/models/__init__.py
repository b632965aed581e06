"""ccnn.models -- Keras's Sequential model.

    sequential.py   Sequential: add, build, weights, summary, get_config
    functional.py   Model: functional models, graphs of layers from ccnn.Input
    trainer.py      the training loop: compile, fit, evaluate, predict
    fusion.py       the fusion pass: the steps a model runs for its layers
    saving.py       weights on disk: atomic .npz files, read without unpickling
    (whole models on disk: ccnn.saving; load_model, model_from_json and
    clone_model are here too, as in keras.models)
"""
from __future__ import annotations

from .saving import load_npz_checked, npz_headers, save_npz_atomic
from .sequential import Sequential
from .functional import Model
from ..saving.saving_api import clone_model, load_model, model_from_json

__all__ = ["Sequential", "Model", "load_model", "model_from_json", "clone_model"]
