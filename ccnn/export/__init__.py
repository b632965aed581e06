"""Model export to other runtimes.

    onnx.py     export_onnx(model, path): a Sequential model as an ONNX file
                (opset 17), run by onnxruntime and other ONNX runtimes; needs
                the optional `onnx` package (pip install "ccnn[onnx]")

Nothing here imports an optional package at ccnn's import time.
"""
from .onnx import OPSET, export_onnx

__all__ = ["OPSET", "export_onnx"]
