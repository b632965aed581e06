"""ccnn.callbacks.TensorBoard: the event files are read back and the logged
values compared with fit's History and the model's weights.

Two readers: tensorboard's EventAccumulator (what `tensorboard --logdir`
uses), and a plain TFRecord reader over tensorboardX's Event protobuf that
checks every record's masked CRC-32C and gives the histograms' statistics."""
import glob
import os
import struct

import numpy as np
import pytest

from _testutils import require_optional

tensorboardX = require_optional("tensorboardX", "the tensorboard extra")
require_optional("matplotlib", "the plot extra")

from tensorboardX.crc32c import crc32c  # noqa: E402
from tensorboardX.proto.event_pb2 import Event  # noqa: E402

from ccnn import optimizers, utils  # noqa: E402
from ccnn.callbacks import TensorBoard  # noqa: E402
from ccnn.cli import build_model  # noqa: E402
from ccnn.datasets import fashion_mnist  # noqa: E402


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(directory):
    """Every Event of the event files in `directory`, CRCs checked."""
    files = sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
    assert files, f"no event file in {directory}"
    events = []
    for path in files:
        with open(path, "rb") as f:
            blob = f.read()
        pos = 0
        while pos < len(blob):
            header = blob[pos:pos + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", blob[pos + 8:pos + 12])[0] == masked(header)
            data = blob[pos + 12:pos + 12 + length]
            assert struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])[0] == \
                masked(data)
            events.append(Event.FromString(data))
            pos += 16 + length
    return events


def scalars(events):
    out = {}
    for e in events:
        for v in e.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, []).append((e.step, v.simple_value))
    return out


def by_kind(events, kind):
    return {(v.tag, e.step): getattr(v, kind) for e in events for v in e.summary.value
            if v.HasField(kind)}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tb") / "logs"
    (x, y), (xt, yt) = fashion_mnist.load_sample()
    x = x[:320].astype(np.float32)[..., None] / 255
    xt = xt[:100].astype(np.float32)[..., None] / 255
    utils.set_random_seed(1)
    model = build_model()
    model.compile(optimizers.Adam(learning_rate=0.002), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    tb = TensorBoard(log_dir, histogram_freq=1, write_images=True, update_freq=4,
                     confusion_data=(xt, yt[:100]), class_names="en")
    history = model.fit(x, y[:320], batch_size=32, epochs=3, verbose=0,
                        validation_data=(xt, yt[:100]), callbacks=[tb])
    return log_dir, model, history


def test_epoch_scalars_match_history(logged):
    log_dir, model, history = logged
    train = scalars(read_events(log_dir / "train"))
    val = scalars(read_events(log_dir / "validation"))
    h = history.history
    for key in ("loss", "accuracy"):
        steps, values = zip(*train[f"epoch_{key}"])
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, h[key], rtol=1e-6)       # float32 in the event
        steps, values = zip(*val[f"epoch_{key}"])
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, h["val_" + key], rtol=1e-6)
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.002] * 3)
    # update_freq=4: 10 batches an epoch -> batch 4, 8, ..., 28 of the 30
    assert [s for s, _ in train["batch_loss"]] == [4, 8, 12, 16, 20, 24, 28]
    assert "epoch_val_loss" not in train and "epoch_learning_rate" not in val


def test_weight_histograms_and_pictures(logged):
    log_dir, model, _ = logged
    events = read_events(log_dir / "train")
    hists = by_kind(events, "histo")
    for layer in model.layers:
        for key, w in layer.params.items():
            assert {s for (t, s) in hists if t == f"{layer.name}/{key}"} == {0, 1, 2}
            last = hists[(f"{layer.name}/{key}", 2)]        # after the final epoch
            assert last.num == w.size
            assert last.min == pytest.approx(float(w.min()))
            assert last.max == pytest.approx(float(w.max()))
            assert last.sum == pytest.approx(float(w.astype(np.float64).sum()), rel=1e-4,
                                             abs=1e-4)
    images = by_kind(events, "image")
    assert {t for t, _ in images} == {"conv2d/filters", "confusion_matrix"}
    for (tag, step), img in images.items():
        assert img.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
        assert img.width > 100 and img.height > 100


def test_tensorboard_reads_them(logged):
    event_accumulator = require_optional("tensorboard.backend.event_processing.event_accumulator",
                                         "tensorboard, in the test extra")
    log_dir, model, history = logged
    acc = event_accumulator.EventAccumulator(str(log_dir / "train"),
                                             size_guidance={"histograms": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "epoch_loss" in tags["scalars"] and "conv2d/filters" in tags["images"]
    np.testing.assert_allclose([s.value for s in acc.Scalars("epoch_loss")],
                               history.history["loss"], rtol=1e-6)
    assert acc.Histograms("dense/kernel")[-1].histogram_value.num == 1960 * 100


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq="batch")
    with pytest.raises(ValueError, match="confusion_data"):
        TensorBoard(tmp_path, confusion_data=np.zeros(3))


def test_a_per_class_metric_is_a_value_error_as_in_keras(tmp_path):
    """Keras's TensorBoard writes every log with tf.summary.scalar, whose
    assert_scalar raises ValueError for an array (F1Score(average=None));
    ccnn's says which log, before writing any of the epoch's scalars."""
    import ccnn
    from ccnn import metrics
    from ccnn.layers import Dense
    utils.set_random_seed(0)
    model = ccnn.Sequential([ccnn.Input((4,)), Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy",
                  metrics=[metrics.F1Score(average=None, name="f1")])
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[
        rng.integers(0, 3, 16)]
    tb = TensorBoard(tmp_path / "a")
    with pytest.raises(ValueError, match=r"'f1' has shape \(3,\)"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tb])
    written = glob.glob(str(tmp_path / "a" / "train" / "events*"))
    assert not written or "epoch_loss" not in scalars(read_events(tmp_path / "a" / "train"))
    with pytest.raises(ValueError, match=r"'f1' has shape \(3,\)"):     # batch logs too
        model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                  callbacks=[TensorBoard(tmp_path / "b", update_freq=1)])
    # scalars, NumPy's included (0-d arrays, float32), are written as before
    tb = TensorBoard(tmp_path / "c")
    tb.set_model(model)
    tb.on_epoch_end(0, {"loss": np.float32(0.5), "f1": np.array(0.25), "val_loss": 2})
    tb.on_train_end()
    train = scalars(read_events(tmp_path / "c" / "train"))
    assert train["epoch_loss"] == [(0, 0.5)] and train["epoch_f1"] == [(0, 0.25)]
    assert scalars(read_events(tmp_path / "c" / "validation"))["epoch_loss"] == [(0, 2.0)]
