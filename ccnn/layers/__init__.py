"""ccnn.layers -- Keras-named layers, each a small class you can read in one go.

One module per family, as in Keras 3's tree:

    layer.py            Layer (build / forward / backward / params / grads) and
                        ImageLayer, the base of the conv and pooling layers
    core/               Dense, Input
    convolutional/      Conv2D, Conv1D, DepthwiseConv2D, SeparableConv2D,
                        Conv2DTranspose
    pooling/            MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                        GlobalMaxPooling2D and their 1-D forms
    activations/        Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax (the functions,
                        and the activation= of Conv2D and Dense, are ccnn.activations)
    regularization/     Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout
    reshaping/          Flatten, Reshape, Permute, ZeroPadding2D/1D, Cropping2D/1D,
                        UpSampling2D/1D
    normalization/      BatchNormalization, LayerNormalization
    preprocessing/      RandomTranslation, RandomFlip, RandomRotation, RandomZoom, RandomCrop,
                        RandomContrast (augmentation, active only in training), Rescaling,
                        Normalization, Resizing
    merging/            Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate
                        (and add, subtract, ..., concatenate), for functional models
    initializers.py     Keras's kernel / bias initializers
    fused.py            the fused layers a model's fusion pass runs in place of
                        Conv2D(relu) + MaxPooling2D(2) and softmax + cross-entropy

Every layer computes through ccnn.functional: its arguments are checked when
it is built, and each batch goes to the same kernels the functional ops call.
Shapes include the batch axis as None, as in Keras: Conv2D(10, 3,
input_shape=(28, 28, 1)) is built for (None, 28, 28, 1).  Images are
channels-last (N, H, W, C) by default, as in Keras; the C kernels work on
channels-first (N, C, H, W) (see ImageLayer).  Arrays are float32 by default
(dtype='float32'); pass dtype='float64' to a layer for double precision (the
gradient checks do).
"""
from __future__ import annotations

from typing import Dict, Type

from .activations import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .convolutional import (Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D,
                            SeparableConv2D)
from .core import Dense, Input
from .initializers import INITIALIZERS, initialize
from .layer import ACTIVATIONS, Layer, Shape
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, maximum, minimum, multiply, subtract)
from .core.input_layer import InputLayer
from .normalization import BatchNormalization, LayerNormalization
from .preprocessing import (Normalization, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                            RandomTranslation, RandomZoom, Rescaling, Resizing)
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      MaxPooling1D, MaxPooling2D)
from .regularization import Dropout, GaussianDropout, GaussianNoise, SpatialDropout2D
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, Reshape, UpSampling1D,
                        UpSampling2D, ZeroPadding1D, ZeroPadding2D)

__all__ = ["Layer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "Flatten", "Dropout", "Dense", "ReLU", "LeakyReLU", "ELU",
           "Softmax",
           "BatchNormalization", "RandomTranslation", "Activation", "Input", "Reshape", "Permute",
           "ZeroPadding2D", "ZeroPadding1D", "Cropping2D", "Cropping1D", "UpSampling2D",
           "UpSampling1D", "Conv1D", "MaxPooling1D", "AveragePooling1D",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D", "PReLU", "LayerNormalization",
           "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "RandomFlip",
           "RandomRotation", "RandomZoom", "RandomCrop", "RandomContrast", "Rescaling",
           "Normalization", "Resizing", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "get",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
           "InputLayer",
           # Keras's other names for the same classes
           "Convolution1D", "Convolution2D", "Convolution2DTranspose", "SeparableConvolution2D",
           "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"]

# Keras's aliases: the same class objects under the names tutorials also use
# (keras.layers.MaxPool2D is keras.layers.MaxPooling2D); get_config and
# summary() give the class's own name, as in Keras
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution2DTranspose, SeparableConvolution2D = Conv2DTranspose, SeparableConv2D
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, \
    AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D

_LAYERS: Dict[str, Type[Layer]] = {
    cls.__name__: cls for cls in (Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dropout,
                                  Dense, ReLU, Softmax, BatchNormalization,
                                  RandomTranslation, Activation, LeakyReLU, ELU,
                                  GlobalAveragePooling2D, GlobalMaxPooling2D, Reshape, Permute,
                                  ZeroPadding2D, ZeroPadding1D, Cropping2D, Cropping1D,
                                  UpSampling2D, UpSampling1D, Conv1D, MaxPooling1D,
                                  AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
                                  PReLU, LayerNormalization, DepthwiseConv2D, SeparableConv2D,
                                  Conv2DTranspose, RandomFlip, RandomRotation, RandomZoom,
                                  RandomCrop, RandomContrast, Rescaling, Normalization,
                                  Resizing, SpatialDropout2D, GaussianNoise, GaussianDropout,
                                  Add, Subtract, Multiply, Average, Maximum, Minimum,
                                  Concatenate)}


def get(class_name: str) -> Type[Layer]:
    """The layer class named `class_name` (for rebuilding from get_config): a
    Layer subclass of the custom objects (ccnn.saving.custom_object_scope,
    register_keras_serializable) first, then ccnn's own."""
    from ..saving.object_registration import get_registered_object
    custom = get_registered_object(class_name)
    if isinstance(custom, type) and issubclass(custom, Layer):
        return custom
    if class_name in ("Sequential", "Functional", "Model"):    # a nested model
        from .. import models
        return models.Sequential if class_name == "Sequential" else \
            models.Model
    try:
        return _LAYERS[class_name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown layer class {class_name!r}; ccnn has "
                         f"{', '.join(_LAYERS)} (a layer of your own: pass it in "
                         f"custom_objects)") from None
