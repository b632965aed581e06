"""ccnn.visualization: each plot checked for what it drew -- how many panels,
the pixels of each panel against the layer's weights or activations computed
here independently (ccnn.functional in NCHW), the titles and labels."""
import io

import numpy as np
import pytest
from _testutils import require_optional

matplotlib = require_optional("matplotlib", "the plot extra")
matplotlib.use("Agg")

import ccnn.functional as F  # noqa: E402
from ccnn import utils, visualization as vis  # noqa: E402
from ccnn.cli import build_model  # noqa: E402
from ccnn.datasets import fashion_mnist  # noqa: E402
from ccnn.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: E402
from ccnn.models import Sequential  # noqa: E402


@pytest.fixture
def book_model():
    utils.set_random_seed(3)
    return build_model()


def two_conv_model(data_format="channels_last"):
    utils.set_random_seed(5)
    shape = (9, 8, 3) if data_format == "channels_last" else (3, 9, 8)
    return Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=shape,
                              data_format=data_format),
                       Conv2D(5, (2, 3), padding="same", data_format=data_format),
                       Flatten(), Dense(2)])


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def pixels(ax):
    return np.asarray(ax.images[0].get_array())


def test_conv_kernel_is_keras_layout(book_model):
    conv = book_model.layers[0]
    k = vis.conv_kernel(conv)
    assert k.shape == (3, 3, 1, 10)
    internal = conv.params["kernel"]                       # (filters, in, kh, kw)
    for f in range(10):
        np.testing.assert_array_equal(k[:, :, 0, f], internal[f, 0])


def test_plot_filters_book_model(book_model):
    fig = vis.plot_filters(book_model)
    tiles = image_axes(fig)
    assert len(tiles) == 10                                # 10 filters x 1 input channel
    kernel = book_model.layers[0].params["kernel"]
    limit = np.abs(kernel).max()
    for f, ax in enumerate(tiles):
        np.testing.assert_array_equal(pixels(ax), kernel[f, 0])
        assert ax.get_title() == f"filter {f}"
        assert ax.images[0].get_cmap().name == "RdBu_r"    # diverging
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))  # centred, shared
    assert "conv2d" in fig._suptitle.get_text()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_filters_second_conv_every_channel():
    model = two_conv_model()
    second = model.layers[1]
    for fig in (vis.plot_filters(model, layer=1), vis.plot_filters(model, layer="conv2d_1"),
                vis.plot_filters(second)):
        tiles = image_axes(fig)
        assert len(tiles) == 5 * 4                         # filters x input channels
        kernel = second.params["kernel"]                   # (5, 4, 2, 3)
        for c in range(4):
            for f in range(5):
                ax = tiles[c * 5 + f]
                assert pixels(ax).shape == (2, 3)          # kh rows, kw columns
                np.testing.assert_array_equal(pixels(ax), kernel[f, c])
                assert ax.get_title() == f"f{f} c{c}"


def test_plot_filters_refuses_layers_without_spatial_weights(book_model):
    with pytest.raises(ValueError, match="no spatial weights"):
        vis.plot_filters(book_model, layer="dense")
    with pytest.raises(ValueError, match="no spatial weights"):
        vis.plot_filters(book_model.layers[-1])
    with pytest.raises(ValueError, match="1 convolution layer"):
        vis.plot_filters(book_model, layer=1)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        vis.plot_filters(book_model, layer="nope")
    dense_only = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(3)])
    with pytest.raises(ValueError, match="no convolution layer"):
        vis.plot_filters(dense_only)
    with pytest.raises(TypeError, match="layer must be"):
        vis.plot_filters(book_model, layer=1.5)


def expected_conv_maps(model, x_nhwc):
    """The book conv's relu(conv2d) output, channels last, from ccnn.functional."""
    conv = model.layers[0]
    y = F.conv2d(x_nhwc.transpose(0, 3, 1, 2), conv.params["kernel"], conv.params["bias"],
                 padding="same")
    return np.maximum(y, 0).transpose(0, 2, 3, 1)


def test_plot_feature_maps_one_image(book_model):
    rng = np.random.default_rng(0)
    img = rng.random((28, 28, 1)).astype(np.float32)
    before = img.copy()
    fig = vis.plot_feature_maps(book_model, img)
    tiles = image_axes(fig)
    assert len(tiles) == 1 + 10                            # the input, then 10 channels
    np.testing.assert_array_equal(pixels(tiles[0]), img[..., 0])
    assert tiles[0].get_title() == "input"
    want = expected_conv_maps(book_model, img[None])
    for c in range(10):
        np.testing.assert_allclose(pixels(tiles[c + 1]), want[0, :, :, c], rtol=1e-5, atol=1e-6)
        assert tiles[c + 1].get_title() == f"channel {c}"
    np.testing.assert_array_equal(img, before)             # the caller's array untouched
    # a 2-D image gains its channel axis
    same = image_axes(vis.plot_feature_maps(book_model, img[..., 0]))
    np.testing.assert_array_equal(pixels(same[3]), pixels(tiles[3]))


def test_plot_feature_maps_batch_labels_and_pooling(book_model):
    (_, _), (x, y) = fashion_mnist.load_sample()
    idx = [int(np.flatnonzero(y == c)[0]) for c in (0, 5, 9)]
    imgs = x[idx].astype(np.float32)[..., None] / 255
    names = [fashion_mnist.class_names[c] for c in (0, 5, 9)]
    fig = vis.plot_feature_maps(book_model, imgs, labels=names)
    tiles = image_axes(fig)
    assert len(tiles) == 3 * 11
    assert [tiles[i * 11].get_title() for i in range(3)] == names
    want = expected_conv_maps(book_model, imgs)
    for i in range(3):
        np.testing.assert_array_equal(pixels(tiles[i * 11]), imgs[i, :, :, 0])
        np.testing.assert_allclose(pixels(tiles[i * 11 + 4]), want[i, :, :, 3],
                                   rtol=1e-5, atol=1e-6)
    pooled = image_axes(vis.plot_feature_maps(book_model, imgs[0], layer="max_pooling2d"))
    want_pool = want[0].reshape(14, 2, 14, 2, 10).max(axis=(1, 3))
    np.testing.assert_allclose(pixels(pooled[1]), want_pool[:, :, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vis.activations(book_model, imgs[0], "max_pooling2d")[0],
                               want_pool, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no spatial output"):
        vis.plot_feature_maps(book_model, imgs[0], layer="dense")
    with pytest.raises(ValueError, match="labels must name each"):
        vis.plot_feature_maps(book_model, imgs, labels=["one"])
    with pytest.raises(ValueError, match="image must be"):
        vis.plot_feature_maps(book_model, np.zeros((5, 5, 5, 5, 5)))


def test_plot_feature_maps_channels_first_second_conv():
    model = two_conv_model("channels_first")
    x = np.random.default_rng(1).random((3, 9, 8)).astype(np.float32)   # (C, H, W)
    fig = vis.plot_feature_maps(model, x, layer=1)
    tiles = image_axes(fig)
    assert len(tiles) == 1 + 5
    c1, c2 = model.layers[0], model.layers[1]
    h = np.maximum(F.conv2d(x[None], c1.params["kernel"], c1.params["bias"]), 0)
    want = F.conv2d(h, c2.params["kernel"], c2.params["bias"], padding="same")[0]  # (5, P, Q)
    np.testing.assert_array_equal(pixels(tiles[0]), x.transpose(1, 2, 0))
    for c in range(5):
        np.testing.assert_allclose(pixels(tiles[c + 1]), want[c], rtol=1e-5, atol=1e-6)


def test_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 2, 2, 2, 1, 0])
    y_pred = np.array([0, 1, 1, 2, 0, 2, 1, 0])
    want = np.zeros((3, 3), int)
    for t, p in zip(y_true, y_pred):
        want[t, p] += 1
    np.testing.assert_array_equal(vis.confusion_matrix(y_true, y_pred), want)
    onehot = np.eye(3)[y_true]
    np.testing.assert_array_equal(vis.confusion_matrix(onehot, np.eye(3)[y_pred]), want)
    with pytest.raises(ValueError, match="same length"):
        vis.confusion_matrix(y_true, y_pred[:-1])
    with pytest.raises(ValueError, match="label 2 is out of range for num_classes=2"):
        vis.confusion_matrix(y_true, y_pred, 2)
    with pytest.raises(TypeError, match="y_pred must hold integer"):
        vis.confusion_matrix(y_true, y_pred + 0.5)


def test_plot_confusion_matrix_draws_the_counts():
    y_true = np.array([0, 0, 1, 2, 2, 2, 1, 0, 3])
    y_pred = np.array([0, 1, 1, 2, 0, 2, 1, 0, 3])
    want = np.zeros((4, 4))
    for t, p in zip(y_true, y_pred):
        want[t, p] += 1
    names = ["cat", "dog", "owl", "emu"]
    fig = vis.plot_confusion_matrix(y_true, y_pred, names)
    ax = image_axes(fig)[0]
    np.testing.assert_array_equal(pixels(ax), want)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert ax.get_title() == "confusion matrix"
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    assert cells[(0, 0)] == "2" and cells[(2, 0)] == "1" and cells[(3, 3)] == "1"

    norm = vis.plot_confusion_matrix(y_true, y_pred, names, normalize="true")
    ax = image_axes(norm)[0]
    np.testing.assert_allclose(pixels(ax), want / want.sum(axis=1, keepdims=True))
    assert "0.67" in [t.get_text() for t in ax.texts]
    cols = image_axes(vis.plot_confusion_matrix(y_true, y_pred, names, normalize="pred"))[0]
    np.testing.assert_allclose(pixels(cols), want / want.sum(axis=0, keepdims=True))
    with pytest.raises(ValueError, match="normalize must be"):
        vis.plot_confusion_matrix(y_true, y_pred, names, normalize="rows")
    with pytest.raises(ValueError, match="class_names has 2 names"):
        vis.plot_confusion_matrix(y_true, y_pred, names[:2])


def test_plot_confusion_matrix_fashion_names_en_and_ko():
    y = np.arange(10)
    en = image_axes(vis.plot_confusion_matrix(y, y, "en"))[0]
    assert [t.get_text() for t in en.get_xticklabels()] == list(fashion_mnist.class_names)
    with pytest.warns() if vis.korean_font() is None else _nothing():
        ko = image_axes(vis.plot_confusion_matrix(y, y, "ko"))[0]
    assert [t.get_text() for t in ko.get_yticklabels()] == list(vis.FASHION_MNIST_KO)
    assert ko.get_xlabel() == "예측" and ko.get_ylabel() == "정답" and ko.get_title() == "오차 행렬"
    with pytest.raises(ValueError, match="'en' or 'ko'"):
        vis.plot_confusion_matrix(y, y, "fr")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_plot_misclassified():
    rng = np.random.default_rng(2)
    x = rng.random((12, 28, 28, 1))
    y_true = np.arange(12) % 10
    y_pred = y_true.copy()
    wrong = [1, 4, 7, 10]
    y_pred[wrong] = (y_true[wrong] + 1) % 10
    fig = vis.plot_misclassified(x, y_true, y_pred, "en", n=3)
    tiles = image_axes(fig)
    assert len(tiles) == 3
    names = fashion_mnist.class_names
    for ax, i in zip(tiles, wrong):
        np.testing.assert_array_equal(pixels(ax), x[i, :, :, 0])
        assert ax.get_title() == f"true: {names[y_true[i]]}\npredicted: {names[y_pred[i]]}"
    assert len(image_axes(vis.plot_misclassified(x, y_true, y_pred, n=16))) == 4
    none = vis.plot_misclassified(x, y_true, y_true)
    assert not image_axes(none) and none.axes[0].texts[0].get_text() == "no misclassified images"
    with pytest.raises(ValueError, match="n must be"):
        vis.plot_misclassified(x, y_true, y_pred, n=0)
    with pytest.raises(ValueError, match="same length"):
        vis.plot_misclassified(x[:5], y_true, y_pred)


def test_plot_weight_histograms(book_model):
    fig = vis.plot_weight_histograms(book_model)
    named = [(layer.name, k, w) for layer in book_model.layers for k, w in layer.params.items()]
    assert len(fig.axes) == len(named) == 6
    for ax, (layer, key, w) in zip(fig.axes, named):
        assert ax.get_title().startswith(f"{layer}/{key}")
        assert sum(p.get_height() for p in ax.patches) == w.size
        if w.min() < w.max():   # (a zero bias's histogram spans -0.5 .. 0.5)
            assert min(p.get_x() for p in ax.patches) == pytest.approx(float(w.min()))


def test_plot_history_from_fit_dict_and_record():
    h = {"loss": [0.9, 0.5, 0.4], "accuracy": [0.6, 0.8, 0.85],
         "val_loss": [0.7, 0.6, 0.55], "val_accuracy": [0.7, 0.75, 0.8]}
    for arg in (h, {"history": h, "test_accuracy": 0.8}):
        fig = vis.plot_history(arg)
        assert len(fig.axes) == 2
        for ax, key in zip(fig.axes, ("loss", "accuracy")):
            lines = {line.get_label(): line for line in ax.get_lines()}
            assert set(lines) == {f"train {key}", f"val {key}"}
            np.testing.assert_allclose(lines[f"train {key}"].get_ydata(), h[key])
            np.testing.assert_allclose(lines[f"val {key}"].get_ydata(), h["val_" + key])
            np.testing.assert_array_equal(lines[f"train {key}"].get_xdata(), [1, 2, 3])
            assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == key
    model = Sequential([Flatten(input_shape=(2, 2, 1)), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(np.zeros((8, 2, 2, 1)), np.arange(8) % 2, epochs=2, verbose=0)
    ax = vis.plot_history(history).axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), history.history["loss"])
    with pytest.raises(ValueError, match="history must be"):
        vis.plot_history({})


def test_no_pyplot_figures_left_open(book_model):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    vis.plot_filters(book_model)
    vis.plot_weight_histograms(book_model)
    assert plt.get_fignums() == before


def test_maxpool_is_not_a_convolution():
    model = Sequential([MaxPooling2D(input_shape=(4, 4, 1)), Conv2D(2, 1)])
    assert vis.conv_kernel(model.layers[1]).shape == (1, 1, 1, 2)
    assert len(image_axes(vis.plot_filters(model))) == 2
