"""The ccnn command line: train and evaluate the textbook's Fashion-MNIST CNN.

    ccnn train                 # 20 epochs, batch 32, Adam: ~0.92 validation accuracy
    ccnn train --epochs 1 --limit 2000 --out /tmp/run
    mpiexec -n 2 ccnn train    # data-parallel over 2 MPI ranks (pip install "ccnn[mpi]")
    ccnn evaluate --weights ccnn-out/weights.npz [--out DIR]
    ccnn report ccnn-out       # rebuild ccnn-out/report.html from the run's files
    ccnn info                  # how ccnn was built (ccnn.show_config())

The model is chapter 8's (Do it! 딥러닝 입문): Conv2D(10, 3x3, same, relu) ->
MaxPooling2D(2x2) -> Flatten -> Dropout(0.5) -> Dense(100, relu) ->
Dense(10, softmax), trained with Adam on pixels scaled to [0, 1], with
48,000 / 12,000 training / validation images (a permutation of the 60,000
training images with the fixed seed 42, whatever --seed says) and the 10,000
test images held out.  --seed sets the initial weights, the dropout masks and
the shuffling.

`train` writes into --out: weights.npz, model.json, history.json (settings,
per-epoch numbers, final metrics, the test confusion matrix), the pictures
curves.png, filters.png, feature-maps.png, confusion-matrix.png and
misclassified.png (with matplotlib, the plot extra) and report.html, one
self-contained page of all of it.

Data: --data DIR, else $CCNN_DATA, else the download cache, else a download;
when none of those works the packaged 1,600 / 400-image sample is used, with
a loud warning (its accuracies are not comparable to the book's).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import Any, Callable, List, NamedTuple, Optional

import numpy as np

N_CLASSES = 10


def build_model(dropout: bool = True):
    """The book's CNN (with its Dropout(0.5) variant by default)."""
    from .layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from .models import Sequential

    model = Sequential()
    model.add(Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    if dropout:
        model.add(Dropout(0.5))
    model.add(Dense(100, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


def build_modern_model():
    """A modern small CNN (examples/fashion_modern.py): random shifts, two
    Conv-BatchNorm-ReLU blocks per resolution, dropout before the head."""
    from . import Input
    from .layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                         MaxPooling2D, RandomTranslation)
    from .models import Sequential

    def block(filters):
        return [Conv2D(filters, 3, padding="same", use_bias=False), BatchNormalization(),
                Activation("relu")]

    return Sequential([Input((28, 28, 1)), RandomTranslation(0.1, 0.1),
                       *block(32), *block(32), MaxPooling2D(),
                       *block(64), *block(64), MaxPooling2D(),
                       Flatten(), Dropout(0.5), Dense(128, activation="relu"),
                       Dense(10, activation="softmax")])


def build_resnet_small():
    """A small residual network (examples/resnet_small.py), a functional
    ccnn.Model: random shifts, a Conv-BN-ReLU stem, three residual blocks
    (identity shortcut at 28x28x32, strided 1x1 projection shortcuts to
    14x14x64 and 7x7x128), GlobalAveragePooling2D, Dense(10, softmax)."""
    from . import Input
    from .layers import (Activation, Add, BatchNormalization, Conv2D, Dense,
                         GlobalAveragePooling2D, RandomTranslation)
    from .models import Model

    def conv_bn(x, filters, strides=1, relu=True):
        """Conv2D 3x3 without bias (BatchNormalization's beta is the bias) -> BN (-> ReLU)."""
        x = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = BatchNormalization()(x)
        return Activation("relu")(x) if relu else x

    def residual_block(x, filters, strides=1):
        """Two conv-BN layers with the block's input added back before the last ReLU."""
        shortcut = x
        if strides != 1 or x.shape[-1] != filters:       # projection shortcut
            shortcut = Conv2D(filters, 1, strides=strides, use_bias=False)(x)
            shortcut = BatchNormalization()(shortcut)
        y = conv_bn(x, filters, strides)
        y = conv_bn(y, filters, relu=False)
        return Activation("relu")(Add()([y, shortcut]))

    inputs = Input((28, 28, 1))
    x = RandomTranslation(0.1, 0.1)(inputs)
    x = conv_bn(x, 32)
    x = residual_block(x, 32)                 # identity shortcut, 28x28x32
    x = residual_block(x, 64, strides=2)      # projection, 14x14x64
    x = residual_block(x, 128, strides=2)     # projection, 7x7x128
    x = GlobalAveragePooling2D()(x)
    outputs = Dense(10, activation="softmax")(x)
    return Model(inputs, outputs, name="resnet_small")


class ModelRecipe(NamedTuple):
    """What `ccnn train --model NAME` trains, and its defaults."""
    build: Callable[[], Any]
    epochs: int
    batch_size: int
    cosine_decay: bool      # Adam's learning rate follows CosineDecay to 0 over the run
    split: str              # "permutation": the book's seeded 80/20 split; "tail": the
                            # first 48,000 images train, the last 12,000 validate
    learning_rate: Optional[float] = None   # None: the optimizer's default


#: compile(steps_per_execution=) of `ccnn train` (--steps-per-execution)
STEPS_PER_EXECUTION = 32

MODELS = {
    "book": ModelRecipe(build_model, 20, 32, False, "permutation"),
    "modern": ModelRecipe(build_modern_model, 30, 64, True, "tail"),
    "resnet": ModelRecipe(build_resnet_small, 10, 128, True, "tail", 2e-3),
}


def _banner(lines: List[str]) -> None:
    width = max(len(s) for s in lines) + 4
    print("!" * width)
    for s in lines:
        print(f"! {s:<{width - 4}} !")
    print("!" * width, flush=True)


def load_fashion_mnist(data_dir: Optional[str], sample: bool):
    """((x_train, y_train), (x_test, y_test), is_sample, description)."""
    from .datasets import fashion_mnist

    if sample:
        return (*fashion_mnist.load_sample(), True, "the packaged sample (--sample)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (x_tr, y_tr), (x_te, y_te) = fashion_mnist.load_data(path=data_dir,
                                                             fallback_to_sample=True)
    is_sample = any(issubclass(w.category, fashion_mnist.SampleFallbackWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, fashion_mnist.SampleFallbackWarning):
            print(f"ccnn: note: {w.message}", file=sys.stderr)
    if is_sample:
        _banner(["FULL FASHION-MNIST NOT FOUND AND NOT DOWNLOADABLE:",
                 f"USING THE PACKAGED SAMPLE ({len(x_tr)} train / {len(x_te)} test images).",
                 "Accuracies are NOT comparable to the book's.",
                 "Set CCNN_DATA or --data to a directory with the four Fashion-MNIST files."])
        return (x_tr, y_tr), (x_te, y_te), True, "the packaged sample (fallback)"
    return (x_tr, y_tr), (x_te, y_te), False, "full Fashion-MNIST"


def _scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], with the channel axis (N, 28, 28, 1)."""
    out = x.astype(np.float32)
    np.divide(out, np.float32(255.0), out=out)   # in place: no second full-size copy
    return out.reshape(-1, 28, 28, 1)


SPLIT_SEED = 42  # the validation images never change with --seed, so runs compare


def split_train_val(n: int, val_fraction: float = 0.2, seed: int = SPLIT_SEED):
    """(train_idx, val_idx): a fixed-seed permutation of range(n); its first
    n - n * val_fraction entries train, the rest validate (48,000 / 12,000 of
    60,000, the split of the project's PyTorch reference run)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = n - int(round(n * val_fraction))
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def format_confusion(cm: np.ndarray, names) -> str:
    """Rows: true class; columns: predicted class; last column: per-class accuracy."""
    w = max(5, len(str(cm.max())) + 1)
    corner = "true \\ predicted"
    head = f"{corner:<18}" + "".join(f"{j:>{w}d}" for j in range(len(cm))) \
        + "  accuracy"
    lines = [head]
    for i, row in enumerate(cm):
        total = row.sum()
        acc = row[i] / total if total else float("nan")
        label = f"{i} {names[i]}"[:17]
        lines.append(f"{label:<18}" + "".join(f"{v:>{w}d}" for v in row) + f"  {acc:8.4f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- commands

def _class_names(option: str) -> List[str]:
    from .visualization import class_names_for
    return class_names_for(option, N_CLASSES)[0]


def cmd_train(args) -> int:
    """`ccnn train`; under `mpiexec -n K` (K > 1) data-parallel over the K ranks."""
    import contextlib

    from . import distribution

    ranks = distribution.launched_under_mpi()
    if ranks <= 1:
        return _train(args, None)
    try:
        dp = distribution.DataParallel()
    except ImportError as e:
        print(f"ccnn: error: started by mpiexec with {ranks} ranks, but {e}", file=sys.stderr)
        return 2
    if args.threads is None:
        from . import set_num_threads
        set_num_threads(distribution.threads_per_rank())
    with contextlib.ExitStack() as stack:
        if not dp.is_chief:       # only rank 0 prints
            stack.enter_context(contextlib.redirect_stdout(
                stack.enter_context(open(os.devnull, "w"))))
        with dp:                  # a rank that fails (or Ctrl-C) aborts every rank
            return _train(args, dp)
    return 1    # pragma: no cover - not reached


def _train(args, dp) -> int:
    from . import optimizers, report, utils
    from .visualization import confusion_matrix

    (x_all, y_all), (x_test, y_test), is_sample, source = load_fashion_mnist(args.data,
                                                                             args.sample)
    if args.limit is not None:
        x_all, y_all = x_all[:args.limit], y_all[:args.limit]
    if len(x_all) < 5:
        print("ccnn: error: need at least 5 training images", file=sys.stderr)
        return 2
    recipe = MODELS[args.model]
    epochs = args.epochs or recipe.epochs
    batch_size = args.batch_size or recipe.batch_size
    ranks = 1 if dp is None else dp.size
    if batch_size < ranks:
        print(f"ccnn: error: --batch-size {batch_size} is the global batch: it must be at least "
              f"the number of ranks ({ranks})", file=sys.stderr)
        return 2
    if recipe.split == "tail":   # the first 80 % train, the rest validate (modern_tf.py's split)
        n_train = len(x_all) - int(round(len(x_all) * 0.2))
        tr, va = np.arange(n_train), np.arange(n_train, len(x_all))
    else:
        tr, va = split_train_val(len(x_all))
    x_train, y_train = _scale(x_all[tr]), utils.to_categorical(y_all[tr], N_CLASSES)
    x_val, y_val = _scale(x_all[va]), utils.to_categorical(y_all[va], N_CLASSES)
    x_te, y_te = _scale(x_test), utils.to_categorical(y_test, N_CLASSES)
    print(f"ccnn: data: {source}: {len(x_train)} train / {len(x_val)} validation / "
          f"{len(x_te)} test images; split seed {SPLIT_SEED}, seed {args.seed}; "
          f"{__import__('ccnn').get_num_threads()} threads"
          + (f"; {ranks} MPI ranks, global batch {batch_size} ({batch_size // ranks}"
             f"{'+' if batch_size % ranks else ''} per rank)" if dp is not None else ""),
          flush=True)

    utils.set_random_seed(args.seed)
    model = recipe.build()
    opt_cls: Any = type(optimizers.get(args.optimizer))
    lr = args.learning_rate
    if lr is None:
        lr = opt_cls().learning_rate if recipe.learning_rate is None else recipe.learning_rate
    if recipe.cosine_decay:
        steps = epochs * -(-len(x_train) // batch_size)
        lr = optimizers.schedules.CosineDecay(lr, decay_steps=steps)
    opt = opt_cls(learning_rate=lr)
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=args.steps_per_execution)
    summary: List[str] = []
    model.summary(print_fn=summary.append)
    print("\n".join(summary))

    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_data=(x_val, y_val), verbose=args.verbose)
    train_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    # evaluated in the training batch size: a layer keeps its last batch for a
    # backward pass, so larger batches here would only raise the peak memory
    val_loss, val_acc = model.evaluate(x_val, y_val, batch_size=batch_size)
    test_loss, test_acc = model.evaluate(x_te, y_te, batch_size=batch_size)
    if dp is not None and not dp.is_chief:
        return 0               # rank 0 predicts, writes the files and prints
    test_pred = model.predict(x_te, batch_size=batch_size).argmax(axis=1)
    evaluate_time = time.perf_counter() - t0

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "weights.npz")
    model.save_weights(weights)
    report.write_json(os.path.join(args.out, "model.json"), model.get_config())
    hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    t0 = time.perf_counter()
    pictures, skipped = report.draw_pictures(args.out, model, x_te, y_test, test_pred, hist,
                                             args.class_names)
    record = {"history": hist, "val_loss": val_loss, "val_accuracy": val_acc,
              "test_loss": test_loss, "test_accuracy": test_acc, "epochs": epochs,
              "model": args.model, "batch_size": batch_size,
              "steps_per_execution": args.steps_per_execution,
              "optimizer": opt.get_config(), "seed": args.seed,
              "train_images": len(x_train), "val_images": len(x_val),
              "test_images": len(x_te), "data": source, "train_seconds": train_time,
              "evaluate_seconds": evaluate_time, "picture_seconds": time.perf_counter() - t0,
              "threads": __import__('ccnn').get_num_threads(), "ranks": ranks,
              "ccnn_version": __import__('ccnn').__version__,
              "class_names": _class_names(args.class_names),
              "confusion_matrix": confusion_matrix(y_test, test_pred, N_CLASSES).tolist(),
              "summary": summary}
    if skipped:
        record["pictures_skipped_because"] = "matplotlib is not installed"
    report.write_json(os.path.join(args.out, "history.json"), record)
    html_path = report.write_report(args.out)

    epochs_run = max(1, len(hist.get("loss", [])))
    print(f"training time: {train_time:.1f} s ({train_time / epochs_run:.1f} s/epoch)")
    if dp is not None and dp.allreduce_steps:
        print(f"all-reduce: {dp.allreduce_seconds / dp.allreduce_steps * 1e3:.2f} ms per step "
              f"({dp.allreduce_steps} steps, {ranks} ranks)")
    print(f"validation accuracy: {val_acc:.4f} (loss {val_loss:.4f})")
    print(f"test accuracy: {test_acc:.4f} (loss {test_loss:.4f})")
    print(f"weights: {weights}")
    for png in pictures:
        print(f"picture: {png}")
    if skipped:
        print(f"note: matplotlib is not installed, so these pictures were not drawn: "
              f"{', '.join(skipped)} (pip install 'ccnn[plot]'); the per-epoch numbers are in "
              f"{os.path.join(args.out, 'history.json')}")
    print(f"report: {html_path}")
    if is_sample:
        _banner(["TRAINED ON THE SMALL PACKAGED SAMPLE, NOT THE FULL DATA SET."])
    return 0


def _model_for_weights(weights: str):
    """The model `ccnn train` saved beside `weights` (its model.json), or the
    book's model when there is no model.json (weights from elsewhere)."""
    import json

    from .models import Model, Sequential

    path = os.path.join(os.path.dirname(os.path.abspath(weights)), "model.json")
    if not os.path.exists(path):
        return build_model()
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None
    if isinstance(config, dict) and "output_layers" in config:      # a functional model
        return Model.from_config(config)
    return Sequential.from_config(config)


def cmd_evaluate(args) -> int:
    from .datasets import fashion_mnist
    from .visualization import confusion_matrix

    (_, _), (x_test, y_test), is_sample, source = load_fashion_mnist(args.data, args.sample)
    if args.limit is not None:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    try:
        model = _model_for_weights(args.weights)
    except ValueError as e:
        print(f"ccnn: error: cannot rebuild the model: {e}", file=sys.stderr)
        return 2
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    try:
        model.load_weights(args.weights)
    except (ValueError, OSError) as e:
        print(f"ccnn: error: cannot load weights: {e}", file=sys.stderr)
        return 2
    x = _scale(x_test)
    loss, acc = model.evaluate(x, y_test, batch_size=256)
    pred = model.predict(x, batch_size=256).argmax(axis=1)
    print(f"ccnn: data: {source}: {len(x)} test images; weights {args.weights}")
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    print()
    print(format_confusion(confusion_matrix(y_test, pred, N_CLASSES), fashion_mnist.class_names))
    if args.out is not None:
        from . import report
        os.makedirs(args.out, exist_ok=True)
        pictures, skipped = report.draw_pictures(
            args.out, model, x, y_test, pred, class_names=args.class_names,
            which=("confusion-matrix.png", "misclassified.png"))
        for png in pictures:
            print(f"picture: {png}")
        if skipped:
            print(f"note: matplotlib is not installed, so these pictures were not drawn: "
                  f"{', '.join(skipped)} (pip install 'ccnn[plot]')")
    return 0


def cmd_report(args) -> int:
    from . import report
    try:
        path = report.write_report(args.run_dir)
    except (OSError, ValueError) as e:
        print(f"ccnn: error: {e}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def cmd_info(args) -> int:
    from . import show_config

    show_config()
    return 0


def _checked(s: str, parse: Any, ok: Any, what: str, parse_what: str) -> Any:
    """parse(s) for argparse: an ArgumentTypeError "expected <parse_what>"
    when it does not parse, "expected <what>" when ok(value) is false."""
    try:
        v = parse(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {parse_what}, got {s!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {what}, got {v if parse is int else s}")
    return v


def _positive(s: str) -> int:
    return int(_checked(s, int, lambda v: v >= 1, "a positive integer", "a positive integer"))


def _nonneg_int(s: str) -> int:
    return int(_checked(s, int, lambda v: v >= 0, "an integer >= 0", "an integer >= 0"))


def _nonneg_float(s: str) -> float:
    return float(_checked(s, float, lambda v: v >= 0, "a number >= 0", "a number"))


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ccnn", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{train,evaluate,report,info}")
    sub.required = True

    t = sub.add_parser("train", help="train the book's CNN on Fashion-MNIST")
    t.add_argument("--model", choices=sorted(MODELS), default="book",
                   help="book: chapter 8's CNN (default); modern: Conv-BatchNorm-ReLU blocks "
                        "with random shifts, Adam with cosine decay (examples/fashion_modern.py); "
                        "resnet: a small residual network, Adam with cosine decay from 2e-3 "
                        "(examples/resnet_small.py)")
    t.add_argument("--epochs", type=_positive, default=None,
                   help="epochs (default 20 for book, 30 for modern, 10 for resnet)")
    t.add_argument("--batch-size", type=_positive, default=None,
                   help="batch size (default 32 for book, 64 for modern, 128 for resnet)")
    t.add_argument("--steps-per-execution", type=_positive, default=STEPS_PER_EXECUTION,
                   help="training steps run by one C call, as Keras's compile(steps_per_execution=N); "
                        "the weights and history are the same bit for bit for every N, the "
                        "progress bar moves every N steps (default %(default)s)")
    t.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop", "adagrad",
                                           "adadelta", "adamax", "nadam"], default="adam",
                   help="optimizer, with Keras's defaults (default adam)")
    t.add_argument("--learning-rate", type=_nonneg_float, default=None,
                   help="learning rate (default: Keras's, 0.001 for adam, 0.01 for sgd; "
                        "2e-3 for resnet)")
    t.add_argument("--seed", type=_nonneg_int, default=42, help="seed of the initial weights, dropout masks and shuffling (default 42; "
                        "the validation split always uses seed 42)")
    t.add_argument("--data", default=None, help="directory holding the Fashion-MNIST files "
                   "(default: $CCNN_DATA, the cache, or a download)")
    t.add_argument("--sample", action="store_true", help="use the packaged 1,600-image sample")
    t.add_argument("--out", default="ccnn-out", help="output directory (default ./ccnn-out)")
    t.add_argument("--limit", type=_positive, default=None,
                   help="use only the first N training images (quick runs)")
    t.add_argument("--threads", type=_positive, default=None,
                   help="kernel threads (default: OpenMP's)")
    t.add_argument("--class-names", choices=["en", "ko"], default="en",
                   help="class names on the pictures: English (default) or the book's Korean "
                        "(needs a Hangul font, e.g. Debian's fonts-nanum)")
    t.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="1: progress bar (one line per epoch when not a terminal), "
                        "2: one line per epoch, 0: quiet")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy and confusion table of saved weights")
    e.add_argument("--weights", required=True, help="weights file written by train")
    e.add_argument("--data", default=None, help="directory holding the Fashion-MNIST files")
    e.add_argument("--sample", action="store_true", help="use the packaged 400-image test sample")
    e.add_argument("--limit", type=_positive, default=None,
                   help="use only the first N test images")
    e.add_argument("--threads", type=_positive, default=None, help="kernel threads")
    e.add_argument("--out", default=None, help="also draw confusion-matrix.png and "
                   "misclassified.png into this directory (needs matplotlib)")
    e.add_argument("--class-names", choices=["en", "ko"], default="en",
                   help="class names on the pictures (default en)")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("report", help="rebuild RUN_DIR/report.html from the files of a "
                                      "training run")
    r.add_argument("run_dir", metavar="RUN_DIR", help="the --out directory of `ccnn train`")
    r.set_defaults(func=cmd_report, threads=None)

    i = sub.add_parser("info", help="how ccnn was built (ccnn.show_config())")
    i.set_defaults(func=cmd_info, threads=None)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    if args.threads is not None:
        from . import set_num_threads
        set_num_threads(args.threads)
    from .datasets.fashion_mnist import DatasetError

    try:
        return args.func(args)
    except DatasetError as e:
        print(f"ccnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nccnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout's reader went away (`ccnn info | head -1`): stop quietly, as
        # the Python documentation's recipe does -- stdout to /dev/null so the
        # interpreter's last flush does not raise again
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
