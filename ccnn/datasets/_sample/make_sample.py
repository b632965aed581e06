"""Regenerate the bundled Fashion-MNIST sample (run by hand, not at runtime).

    python make_sample.py SRC_DIR [OUT_DIR]

SRC_DIR holds the four official Fashion-MNIST files (gzipped or plain; they
are verified against ccnn.datasets.fashion_mnist.FILES).  OUT_DIR defaults to
this directory.

Selection (deterministic, no RNG): the first N_TRAIN_PER_CLASS images of each
class in the official training file and the first N_TEST_PER_CLASS of each
class in the test file, kept in their original file order.  Written as gzipped
IDX (compresslevel 9, mtime 0, no file name, so the output is reproducible)
named sample-<official name>.gz.  Prints the SAMPLE_FILES table to paste into
fashion_mnist.py (SHA-256 and length of the decompressed IDX bytes).
"""

import gzip
import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

N_TRAIN_PER_CLASS = 160  # 1,600 training images
N_TEST_PER_CLASS = 40    # 400 test images

HERE = Path(__file__).resolve().parent


def _load_module():
    spec = importlib.util.spec_from_file_location(
        "_fmnist_for_sample", HERE.parent / "fashion_mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _idx_bytes(arr, magic):
    header = magic.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def main(argv):
    if not 2 <= len(argv) <= 3:
        sys.exit(__doc__)
    src = Path(argv[1])
    out = Path(argv[2]) if len(argv) == 3 else HERE
    fm = _load_module()
    (x_tr, y_tr), (x_te, y_te) = fm.load_data(path=src)

    def pick(y, per_class):
        idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
        return np.sort(idx)

    i_tr, i_te = pick(y_tr, N_TRAIN_PER_CLASS), pick(y_te, N_TEST_PER_CLASS)
    parts = {
        "train-images-idx3-ubyte": _idx_bytes(x_tr[i_tr], fm.IMAGE_MAGIC),
        "train-labels-idx1-ubyte": _idx_bytes(y_tr[i_tr], fm.LABEL_MAGIC),
        "t10k-images-idx3-ubyte": _idx_bytes(x_te[i_te], fm.IMAGE_MAGIC),
        "t10k-labels-idx1-ubyte": _idx_bytes(y_te[i_te], fm.LABEL_MAGIC),
    }
    print("SAMPLE_FILES = {")
    for base, data in parts.items():
        (out / f"sample-{base}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        print(f'    "{base}": (\n        "{hashlib.sha256(data).hexdigest()}", '
              f"{len(data)}),")
    print("}")


if __name__ == "__main__":
    main(sys.argv)
