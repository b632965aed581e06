"""ccnn.visualization -- what a network learned, as pictures (matplotlib: the `plot` extra).

    from ccnn import visualization as vis
    vis.plot_history(history)                      # loss and accuracy per epoch
    vis.plot_filters(model)                        # the first convolution's 3x3 filters
    vis.plot_feature_maps(model, x_test[0])        # one image and what each filter makes of it
    vis.plot_confusion_matrix(y_test, y_pred, "en", normalize="true")
    vis.plot_misclassified(x_test, y_test, y_pred, "ko", n=16)
    vis.plot_weight_histograms(model)

Every function returns a matplotlib Figure (show it in a notebook, or
`fig.savefig("filters.png")`); none touches pyplot's global state.

Which layer: `layer=0` (the default) is the model's first convolution, `1`
the second, ...; a layer's name or the layer object pick any layer.

Class names: a list of names, "en" (Fashion-MNIST's English names) or "ko"
(the Korean names of *Do it! 딥러닝 입문*).  Korean needs a font with Hangul:
Debian's `fonts-nanum` (apt-get install fonts-nanum) is found automatically.
"""
from __future__ import annotations

import contextlib
import numbers
import sys
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._warnings import warn as _warn

__all__ = ["plot_history", "plot_filters", "plot_feature_maps", "plot_confusion_matrix",
           "plot_misclassified", "plot_weight_histograms", "conv_kernel", "activations",
           "confusion_matrix", "class_names_for", "korean_font", "FASHION_MNIST_KO"]

#: Fashion-MNIST's classes as *Do it! 딥러닝 입문* names them.
FASHION_MNIST_KO = ("티셔츠", "바지", "스웨터", "드레스", "코트",
                    "샌들", "셔츠", "스니커즈", "가방", "앵클 부츠")

_WORDS = {  # the words the plots write next to class names, in the language of class_names
    "en": {"true": "true", "predicted": "predicted", "none_wrong": "no misclassified images",
           "confusion": "confusion matrix"},
    "ko": {"true": "정답", "predicted": "예측", "none_wrong": "잘못 분류한 이미지가 없습니다",
           "confusion": "오차 행렬"},
}

ClassNames = Union[None, str, Sequence[str]]


# ---------------------------------------------------------------- helpers (no matplotlib)

def class_names_for(class_names: ClassNames, n: int) -> Tuple[List[str], str]:
    """(names of classes 0..n-1, language of the labels) for a class_names argument."""
    if class_names is None:
        return [str(i) for i in range(n)], "en"
    if isinstance(class_names, str):
        if class_names not in ("en", "ko"):
            raise ValueError(f"class_names must be a list of names, 'en' or 'ko', "
                             f"got {class_names!r}")
        if class_names == "en":
            from .datasets.fashion_mnist import class_names as english
            names = list(english)
        else:
            names = list(FASHION_MNIST_KO)
        lang = class_names
    else:
        names, lang = [str(c) for c in class_names], "en"
    if len(names) < n:
        raise ValueError(f"class_names has {len(names)} names, but the labels go up to "
                         f"class {n - 1}")
    return names, lang


def _labels(y: Any, name: str) -> np.ndarray:
    """Integer class labels from labels, one-hot rows or predicted probabilities."""
    a = np.asarray(y)
    if a.ndim == 2:
        a = a.argmax(axis=1)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of class labels (or 2-D "
                         f"one-hot / probability rows), got shape {np.shape(y)}")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.floating) or not np.all(a == np.round(a)):
            raise TypeError(f"{name} must hold integer class labels, got dtype {a.dtype}")
        a = a.astype(np.int64)
    if a.min() < 0:
        raise ValueError(f"{name} holds a negative class label ({a.min()})")
    return a.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """cm[i, j]: how many images of class i were predicted as class j."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} "
                         f"and {p.shape[0]}")
    top = int(max(t.max(), p.max()))
    n = top + 1 if num_classes is None else int(num_classes)
    if top >= n:
        raise ValueError(f"class label {top} is out of range for num_classes={n}")
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _is_conv(layer: Any) -> bool:
    return any(np.ndim(w) == 4 for w in getattr(layer, "params", {}).values())


def conv_kernel(layer: Any) -> np.ndarray:
    """The convolution kernel of `layer` in Keras's layout (kh, kw, in_channels,
    filters): `layer.kernel`, which every layer gives in Keras's layout."""
    kernel = getattr(layer, "kernel", None) if getattr(layer, "params", None) else None
    if kernel is None or np.ndim(kernel) != 4:
        raise ValueError(f"layer {getattr(layer, 'name', None)!r} ({type(layer).__name__}) has "
                         f"no spatial weights (no 4-D kernel): filters and feature maps need a "
                         f"convolution layer such as Conv2D")
    return np.asarray(kernel)


def _layers(model: Any) -> List[Any]:
    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError(f"model must be a ccnn model (with .layers), got {type(model).__name__}")
    if not getattr(model, "built", True):
        raise ValueError("the model is not built yet: give the first layer an input_shape, "
                         "call model.build(...) or train it first")
    return list(layers)


def _pick_layer(model: Any, layer: Any) -> Any:
    """The layer `layer` names in `model`: an int counts the convolution layers
    (0: the first), a str is a layer name, a layer object is itself."""
    layers = _layers(model)
    if isinstance(layer, str):
        for candidate in layers:
            if candidate.name == layer:
                return candidate
        raise ValueError(f"layer: the model has no layer named {layer!r}; its layers are "
                         f"{[c.name for c in layers]}")
    if isinstance(layer, numbers.Integral) and not isinstance(layer, bool):
        convs = [c for c in layers if _is_conv(c)]
        if not convs:
            raise ValueError("the model has no convolution layer (no layer with spatial "
                             "weights); pass layer= a layer name to pick another layer")
        if not -len(convs) <= int(layer) < len(convs):
            raise ValueError(f"layer={layer}: the model has {len(convs)} convolution "
                             f"layer(s): {[c.name for c in convs]}")
        return convs[int(layer)]
    if any(layer is c for c in layers):
        return layer
    raise TypeError(f"layer must be an int (the n-th convolution), a layer name or one of the "
                    f"model's layers, got {layer!r}")


def _images(model: Any, image: Any) -> np.ndarray:
    """A batch (N, *input_shape) from one image or a batch; (H, W) gains the channel axis."""
    x = np.asarray(image)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"image must be a numeric array, got dtype {x.dtype}")
    shape = getattr(model, "input_shape", None)
    rank = len(shape) - 1 if shape is not None else 3  # without the batch axis
    last = getattr(model.layers[0], "data_format", "channels_last") == "channels_last"
    gray = shape is not None and rank == 3 and shape[-1 if last else 1] == 1
    if gray and (x.ndim == 2 or (x.ndim == 3 and x.shape[-1 if last else 0] != 1)):
        x = x[..., None] if last else x[..., None, :, :]   # (H, W) or (N, H, W): one channel
    if x.ndim == rank:
        x = x[None]
    if x.ndim != rank + 1 or x.shape[0] == 0:
        raise ValueError(f"image must be one image {tuple(shape[1:]) if shape else ''} or a "
                         f"batch of them, got shape {np.shape(image)}")
    return x


def activations(model: Any, images: Any, layer: Any = 0) -> np.ndarray:
    """The output of `layer` (picked as in plot_feature_maps) for `images`,
    running the model's layers in inference mode up to it."""
    target = _pick_layer(model, layer)
    x = _images(model, images)
    for candidate in _layers(model):
        x = candidate.forward(x, training=False)
        if candidate is target:
            return np.array(x)  # a copy: layers may reuse their output buffers
    raise AssertionError("unreachable: the target is one of the model's layers")


def _history_dict(history: Any) -> Dict[str, List[float]]:
    h = getattr(history, "history", history)     # a History, or its .history dict
    if isinstance(h, Mapping) and isinstance(h.get("history"), Mapping):
        h = h["history"]                         # ccnn train's history.json record
    if not isinstance(h, Mapping) or not h:
        raise ValueError("history must be a History (model.fit's return value), its "
                         "non-empty .history dict, or ccnn train's history.json record")
    return {str(k): [float(v) for v in vs] for k, vs in h.items()}


# ---------------------------------------------------------------- matplotlib

def _figure(figsize: Tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("ccnn.visualization needs matplotlib: pip install 'ccnn[plot]'") \
            from None
    _show_figures_in_jupyter(Figure)
    return Figure(figsize=figsize)


def _show_figures_in_jupyter(figure_class: Any) -> None:
    """In IPython / Jupyter, display a returned Figure as a PNG (what `%matplotlib
    inline` sets up; pyplot is never involved, so nothing else would)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    if figure_class not in png.type_printers:
        from IPython.core.pylabtools import print_figure
        png.for_type(figure_class, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


_KOREAN_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR",
                 "UnDotum", "Malgun Gothic", "AppleGothic")


def korean_font() -> Optional[str]:
    """The name of an installed font with Hangul (Debian's fonts-nanum: NanumGothic), or None."""
    from matplotlib import font_manager

    def known() -> Optional[str]:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in _KOREAN_FONTS if n in names), None)
    name = known()
    if name is None:   # installed after matplotlib cached its font list
        for path in font_manager.findSystemFonts():
            if "nanum" in path.lower() or "notosanscjk" in path.lower().replace("-", ""):
                with contextlib.suppress(Exception):
                    font_manager.fontManager.addfont(path)
        name = known()
    return name


@contextlib.contextmanager
def _style(lang: str) -> Iterator[None]:
    """Texts created inside use a Hangul font when lang is 'ko'."""
    if lang != "ko":
        yield
        return
    from matplotlib import rc_context
    font = korean_font()
    if font is None:
        _warn("no font with Hangul found, so the Korean labels show as boxes: "
              "install one, e.g. Debian's fonts-nanum (apt-get install fonts-nanum)")
        yield
        return
    with rc_context({"font.family": [font, "sans-serif"], "axes.unicode_minus": False}):
        yield


def _grid(fig: Any, rows: int, cols: int, n: int) -> List[Any]:
    """The first n axes of a rows x cols grid, without ticks; the rest removed."""
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return list(axes[:n])


def _show_image(ax: Any, img: np.ndarray) -> None:
    """A (H, W, 1) / (H, W) image in gray, (H, W, 3) in colour."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        ax.imshow(np.clip(img, 0.0, 1.0) if img.max() <= 1.0 else img / 255.0)
    else:
        ax.imshow(img, cmap="gray_r")


def plot_history(history: Any) -> Any:
    """Loss and each metric per epoch, training and validation, one panel each."""
    h = _history_dict(history)
    bases = [k for k in h if not k.startswith("val_")]
    bases += [k[4:] for k in h if k.startswith("val_") and k[4:] not in h]
    fig = _figure((5.0 * len(bases), 4.0))
    axes = fig.subplots(1, len(bases), squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator
    for ax, key in zip(axes, bases):
        for name, label in ((key, f"train {key}"), ("val_" + key, f"val {key}")):
            if name in h:
                ax.plot(np.arange(1, len(h[name]) + 1), h[name], marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_filters(layer_or_model: Any, layer: Any = 0) -> Any:
    """One tile per filter and input channel of a convolution, in a diverging
    colormap centred on 0 with one scale shared by every tile (red positive,
    blue negative).  Rows: input channels (a single channel wraps onto rows of
    up to 8 filters)."""
    conv = layer_or_model if not hasattr(layer_or_model, "layers") \
        else _pick_layer(layer_or_model, layer)
    k = np.asarray(conv_kernel(conv), dtype=np.float64)      # (kh, kw, in, filters)
    kh, kw, cin, nf = k.shape
    limit = float(np.abs(k).max()) or 1.0
    if cin == 1:
        rows = -(-nf // 8)                  # rows of at most 8, as even as they come
        cols = -(-nf // rows)
    else:
        rows, cols = cin, nf
    fig = _figure((1.1 * cols + 1.0, 1.1 * rows + 0.6))
    axes = _grid(fig, rows, cols, nf * cin)
    im = None
    for c in range(cin):
        for f in range(nf):
            ax = axes[c * nf + f]
            im = ax.imshow(k[:, :, c, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"filter {f}" if cin == 1 else f"f{f} c{c}", fontsize=8)
    fig.suptitle(f"{conv.name}: {nf} filters of {kh}x{kw} x {cin} channel(s)")
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


def plot_feature_maps(model: Any, image: Any, layer: Any = 0,
                      labels: Optional[Sequence[str]] = None) -> Any:
    """Each input image (one per row) beside the maps of every channel of
    `layer`'s output (default: the first convolution, after its activation).
    `image` is one image or a batch; `labels` titles the input of each row."""
    target = _pick_layer(model, layer)
    x = _images(model, image)
    maps = activations(model, x, target)
    if maps.ndim != 4:
        raise ValueError(f"layer {target.name!r} ({type(target).__name__}) has no spatial "
                         f"output (its output has shape {maps.shape}): pick a convolution "
                         f"or pooling layer")
    if getattr(target, "data_format", "channels_last") == "channels_first":
        maps = maps.transpose(0, 2, 3, 1)
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"labels must name each of the {len(x)} image(s), got {len(labels)}")
    n, channels = maps.shape[0], maps.shape[-1]
    with _style("ko" if labels is not None and any(_hangul(s) for s in labels) else "en"):
        return _feature_map_grid(model, target, x, maps, labels)


def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def _feature_map_grid(model: Any, target: Any, x: np.ndarray, maps: np.ndarray,
                      labels: Optional[Sequence[str]]) -> Any:
    n, channels = maps.shape[0], maps.shape[-1]
    fig = _figure((0.95 * (channels + 1) + 0.4, 1.05 * n + 0.6))
    axes = _grid(fig, n, channels + 1, n * (channels + 1))
    for i in range(n):
        row = axes[i * (channels + 1):(i + 1) * (channels + 1)]
        _show_image(row[0], x[i] if getattr(model.layers[0], "data_format", "channels_last")
                    == "channels_last" else np.moveaxis(x[i], 0, -1))
        row[0].set_title(labels[i] if labels is not None else "input", fontsize=8)
        lo, hi = float(maps[i].min()), float(maps[i].max())
        for c in range(channels):
            row[c + 1].imshow(maps[i, :, :, c], cmap="viridis", vmin=lo, vmax=hi)
            if i == 0:
                row[c + 1].set_title(f"channel {c}", fontsize=8)
    fig.suptitle(f"feature maps of {target.name} ({type(target).__name__})")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true: Any, y_pred: Any, class_names: ClassNames = None,
                          normalize: Optional[str] = None) -> Any:
    """The confusion matrix (rows: true class, columns: predicted class), each
    cell written out.  normalize: None (counts), 'true' (each row sums to 1:
    recall on the diagonal), 'pred' (each column: precision) or 'all'."""
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    cm = confusion_matrix(y_true, y_pred)
    names, lang = class_names_for(class_names, len(cm))
    n = max(len(cm), len(names)) if class_names is not None else len(cm)
    if n > len(cm):
        cm = confusion_matrix(y_true, y_pred, n)
    values = cm.astype(np.float64)
    if normalize is not None:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        total = values.sum(axis=axis, keepdims=axis is not None)
        values = np.divide(values, total, out=np.zeros_like(values), where=total != 0)
    words = _WORDS[lang]
    with _style(lang):
        fig = _figure((1.0 + 0.6 * n, 0.8 + 0.55 * n))
        ax = fig.subplots()
        im = ax.imshow(values, cmap="Blues")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks(range(n), names[:n], rotation=45, ha="right")
        ax.set_yticks(range(n), names[:n])
        ax.set_xlabel(words["predicted"])
        ax.set_ylabel(words["true"])
        ax.set_title(words["confusion"] + (f" (normalize={normalize!r})" if normalize else ""))
        dark = values.max() / 2 if values.max() > 0 else 1.0
        for i in range(n):
            for j in range(n):
                text = f"{values[i, j]:.2f}" if normalize else f"{cm[i, j]:d}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if values[i, j] > dark else "black")
        fig.tight_layout()
    return fig


def plot_misclassified(x: Any, y_true: Any, y_pred: Any, class_names: ClassNames = None,
                       n: int = 16) -> Any:
    """The first `n` images the model got wrong, each titled with its true and
    predicted class."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    images = np.asarray(x)
    if not (len(images) == len(t) == len(p)):
        raise ValueError(f"x, y_true and y_pred must have the same length, got "
                         f"{len(images)}, {len(t)} and {len(p)}")
    names, lang = class_names_for(class_names, int(max(t.max(), p.max())) + 1)
    words = _WORDS[lang]
    wrong = np.flatnonzero(t != p)[:int(n)]
    with _style(lang):
        if len(wrong) == 0:
            fig = _figure((4.0, 1.5))
            ax = fig.subplots()
            ax.axis("off")
            ax.text(0.5, 0.5, words["none_wrong"], ha="center", va="center")
            return fig
        cols = min(len(wrong), 8)
        rows = -(-len(wrong) // cols)
        fig = _figure((1.4 * cols, 1.7 * rows))
        for ax, i in zip(_grid(fig, rows, cols, len(wrong)), wrong):
            _show_image(ax, images[i])
            ax.set_title(f"{words['true']}: {names[t[i]]}\n{words['predicted']}: {names[p[i]]}",
                         fontsize=7)
        fig.tight_layout()
    return fig


def plot_weight_histograms(model: Any, bins: int = 30) -> Any:
    """A histogram of every weight array (kernel, bias) of every layer."""
    arrays = [(f"{layer.name}/{key}", np.asarray(w)) for layer in _layers(model)
              for key, w in getattr(layer, "params", {}).items()]
    if not arrays:
        raise ValueError("the model has no weights to plot")
    cols = min(len(arrays), 3)
    rows = -(-len(arrays) // cols)
    fig = _figure((4.0 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(arrays):]:
        fig.delaxes(ax)
    for ax, (name, w) in zip(axes, arrays):
        ax.hist(w.ravel(), bins=bins, color="tab:blue")
        ax.set_title(f"{name} {w.shape}", fontsize=9)
        ax.set_xlabel("weight value")
        ax.set_ylabel("count")
    fig.tight_layout()
    return fig
