"""ccnn.distribution.DataParallel: data-parallel fit over MPI ranks.

Every test launches `mpiexec -n 2 --oversubscribe` in a subprocess with a
timeout (a hang fails the test instead of the suite).  The reference of the
equivalence tests is the ordinary single-process fit with the global batch,
run in this process."""
import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ccnn
from _testutils import require_optional

require_optional("mpi4py", "the data-parallel tests; pip install 'ccnn[mpi]'")

TIMEOUT = 90      # seconds for one mpiexec run (a loaded 2-core machine; each takes < 20 s)


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else "mpiexec"


def _env():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _mpi_cmd(script, n=2, args=()):
    return [_mpiexec(), "-n", str(n), "--oversubscribe", sys.executable, str(script), *args]


# the job script's last line, at module level: each rank that ran the script
# to its end prints it (run_mpi's check counts them)
_DONE = "run_mpi: rank {} reached the end of the script"
# before the test's code: an exception in a thread exits non-zero (Python's own
# default prints it and the process still exits 0)
_GUARD = '''
import threading as _threading
def _thread_failed(args, _hook=_threading.excepthook):
    _hook(args)
    os._exit(1)
_threading.excepthook = _thread_failed
'''


def _job_script(code):
    """PRELUDE, the guard, code dedented and the end marker; an AssertionError
    (nothing launched) when code is not a valid script on its own or its last
    line would not run at module level (e.g. indented under the def that ends
    the text it was appended to: the job would do nothing and exit 0)."""
    code = textwrap.dedent(code)
    try:
        ast.parse(code)
    except SyntaxError as e:
        raise AssertionError(f"run_mpi: the job's code is not a valid script "
                             f"(its indentation?): {e}\n{code}") from None
    head = PRELUDE + _GUARD
    lines = code.rstrip().splitlines()
    last = head.count("\n") + len(lines)      # the code's last line in the script
    tree = ast.parse(head + code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                             ast.Lambda)) and node.lineno <= last <= node.end_lineno:
            raise AssertionError(f"run_mpi: the job's last line ({lines[-1].strip()!r}) is "
                                 f"inside {getattr(node, 'name', 'a lambda')!r} and never "
                                 f"runs (its indentation?)\n{code}")
    end = "\nprint(" + repr(_DONE) + ".format(os.environ.get('OMPI_COMM_WORLD_RANK')), " \
        "flush=True)\n"
    return head + code + end


def run_mpi(tmp_path, code, n=2, args=(), timeout=TIMEOUT, check=True):
    """Run PRELUDE + code (dedented) under `mpiexec -n n`; with check, an
    AssertionError unless it exits 0 and every rank reached the script's end."""
    script = tmp_path / "job.py"
    script.write_text(_job_script(code))
    t0 = time.monotonic()
    r = subprocess.run(_mpi_cmd(script, n, args), cwd=tmp_path, env=_env(), timeout=timeout,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    r.seconds = time.monotonic() - t0
    if check and r.returncode != 0:
        raise AssertionError(f"mpiexec failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    missing = [k for k in range(n) if _DONE.format(k) not in r.stdout]
    if check and missing:
        raise AssertionError(f"mpiexec exited 0 but rank(s) {missing} did not reach the end "
                             f"of the script:\n{r.stdout}\n{r.stderr}")
    return r


# what every job script starts with: the test's model and data
PRELUDE = '''
import json, os, sys
import numpy as np
import ccnn
from ccnn import utils
from ccnn.callbacks import Callback, BackupAndRestore
from ccnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D)
from ccnn.distribution import DataParallel

def book(dtype="float32", dropout=False, optimizer="adam"):
    layers = [ccnn.Input((28, 28, 1)), Conv2D(10, 3, activation="relu", padding="same",
              dtype=dtype), MaxPooling2D(2), Flatten(dtype=dtype)]
    layers += [Dropout(0.5)] if dropout else []
    layers += [Dense(100, activation="relu", dtype=dtype), Dense(10, activation="softmax",
               dtype=dtype)]
    m = ccnn.Sequential(layers)
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m

def data(n, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1)).astype(dtype), rng.integers(0, 10, n)
'''


def _load_prelude():
    ns = {}
    exec(PRELUDE.replace("from ccnn.distribution import DataParallel", ""), ns)
    return ns


def _rel(a, b):
    """The largest ||x - y|| / ||y|| over the arrays (||x - y|| where y is 0)."""
    return max(float(np.linalg.norm(x - y)) / (float(np.linalg.norm(y)) or 1.0)
               for x, y in zip(a, b))


@pytest.mark.parametrize("dtype,batch,n,tol", [
    ("float32", 32, 3200, 1e-5),     # 100 steps of 2 x 16
    ("float64", 32, 3200, 1e-12),
    ("float64", 31, 3107, 1e-12),    # shards of 16 and 15, a last batch of 7 (4 + 3)
])
def test_two_ranks_reach_the_single_process_weights(tmp_path, dtype, batch, n, tol):
    """No dropout: 2 ranks with B/2 each reach the weights of one process with
    batch B (same seed, same shuffling) after 100 steps."""
    run_mpi(tmp_path, f'''
        x, y = data({n}, "{dtype}")
        utils.set_random_seed(7)
        m = book("{dtype}")
        with DataParallel() as dp:
            h = m.fit(x, y, batch_size={batch}, epochs=1, verbose=0)
        assert dp.size == 2 and dp.allreduce_steps == {-(-n // batch)}, dp.allreduce_steps
        np.savez(f"w{{dp.rank}}.npz", *m.weights)
        json.dump(h.history, open(f"h{{dp.rank}}.json", "w"))
    ''')
    ns = _load_prelude()
    x, y = ns["data"](n, dtype)
    ccnn.utils.set_random_seed(7)
    ref = ns["book"](dtype)
    h = ref.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    for rank in (0, 1):
        got = list(np.load(tmp_path / f"w{rank}.npz").values())
        assert _rel(got, ref.weights) <= tol, (rank, _rel(got, ref.weights))
    # the epoch's loss and accuracy are those of all samples
    logs = json.loads((tmp_path / "h0.json").read_text())
    assert logs["loss"][0] == pytest.approx(h.history["loss"][0], rel=1e-5)
    assert logs["accuracy"][0] == pytest.approx(h.history["accuracy"][0], abs=1e-12)


def test_untrained_replicas_start_from_rank_0(tmp_path):
    """Different seeds per rank: rank 0's weights are broadcast before the
    first step, so one step from them equals one single-process step."""
    run_mpi(tmp_path, '''
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.Get_rank()
        utils.set_random_seed(100 + rank)          # rank 1 starts elsewhere
        m = book("float64")
        x, y = data(64, "float64")
        np.savez(f"init{rank}.npz", *m.weights)
        with DataParallel():
            m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        np.savez(f"w{rank}.npz", *m.weights)
    ''')
    ns = _load_prelude()
    ref = ns["book"]("float64")
    x, y = ns["data"](64, "float64")
    ref.fit(x[:1], y[:1], epochs=0, verbose=0)               # builds
    init0 = list(np.load(tmp_path / "init0.npz").values())
    assert _rel(list(np.load(tmp_path / "init1.npz").values()), init0) > 0.1
    for w, v in zip(ref.weights, init0):
        w[...] = v
    ref.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    for rank in (0, 1):
        assert _rel(list(np.load(tmp_path / f"w{rank}.npz").values()), ref.weights) <= 1e-12


def test_replicas_bit_identical_after_every_epoch(tmp_path):
    """Dropout, BatchNormalization and Adam: after every epoch each rank's
    weights, moving statistics and optimizer state are the same bits, and so
    are the logs every rank's callbacks see; the dropout masks differ per rank."""
    run_mpi(tmp_path, '''
        import hashlib
        from ccnn.layers import Activation
        class Digest(Callback):
            def __init__(self): self.rows = []
            def on_epoch_end(self, epoch, logs=None):
                h = hashlib.sha256()
                for layer in self.model.layers:
                    for a in layer.weight_arrays().values():
                        h.update(np.ascontiguousarray(a).tobytes())
                for a in self.model.optimizer.variables:
                    h.update(a.tobytes())
                self.rows.append([epoch, h.hexdigest(), logs])
        class Masks(Callback):     # the dropout mask of the first step
            def on_train_batch_end(self, batch, logs=None):
                if batch == 0 and not hasattr(self, "mask"):
                    d = [l for l in self.model.layers if isinstance(l, Dropout)][0]
                    self.mask = [float(v) for v in np.ravel(d.mask)[:64]]
        utils.set_random_seed(3)
        m = ccnn.Sequential([ccnn.Input((28, 28, 1)), Conv2D(8, 3, use_bias=False),
                             BatchNormalization(), Activation("relu"), MaxPooling2D(2),
                             Flatten(), Dropout(0.5), Dense(10, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = data(600)
        dig, masks = Digest(), Masks()
        with DataParallel() as dp:
            m.fit(x, y, batch_size=64, epochs=3, validation_split=0.25, verbose=0,
                  callbacks=[dig, masks])
        json.dump({"rows": dig.rows, "mask": masks.mask}, open(f"d{dp.rank}.json", "w"))
    ''')
    d0, d1 = (json.loads((tmp_path / f"d{r}.json").read_text()) for r in (0, 1))
    assert [r[0] for r in d0["rows"]] == [0, 1, 2]
    assert d0["rows"] == d1["rows"]       # same digests and the same logs, every epoch
    assert len({r[1] for r in d0["rows"]}) == 3
    assert d0["mask"] != d1["mask"]


def test_dropout_masks_reproducible_from_the_seed(tmp_path):
    code = '''
        utils.set_random_seed(11)
        m = book(dropout=True)
        x, y = data(256)
        with DataParallel() as dp:
            m.fit(x, y, batch_size=64, epochs=1, verbose=0)
        np.savez(f"w{dp.rank}_{sys.argv[1]}.npz", *m.weights)
    '''
    run_mpi(tmp_path, code, args=("a",))
    run_mpi(tmp_path, code, args=("b",))
    a, b = (list(np.load(tmp_path / f"w0_{t}.npz").values()) for t in "ab")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_evaluate_is_sharded_and_summed(tmp_path):
    run_mpi(tmp_path, '''
        utils.set_random_seed(5)
        m = book("float64")
        x, y = data(203, "float64")
        m.fit(x[:8], y[:8], epochs=0, verbose=0)
        np.savez("init.npz", *m.weights) if int(os.environ["OMPI_COMM_WORLD_RANK"]) == 0 else None
        with DataParallel() as dp:
            res = m.evaluate(x, y, batch_size=50)
        json.dump(res, open(f"e{dp.rank}.json", "w"))
    ''')
    ns = _load_prelude()
    ref = ns["book"]("float64")
    x, y = ns["data"](203, "float64")
    ref.fit(x[:8], y[:8], epochs=0, verbose=0)
    for w, v in zip(ref.weights, np.load(tmp_path / "init.npz").values()):
        w[...] = v
    want = ref.evaluate(x, y, batch_size=50)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"e{rank}.json").read_text())
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_raising_rank_ends_the_job(tmp_path):
    r = run_mpi(tmp_path, '''
        class Fail(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1 and os.environ["OMPI_COMM_WORLD_RANK"] == "1":
                    raise ValueError("rank one gives up")
        m = book()
        x, y = data(256)
        with DataParallel():
            m.fit(x, y, batch_size=32, epochs=50, verbose=0, callbacks=[Fail()])
        open("finished", "w").close()
    ''', check=False)
    assert r.returncode != 0
    assert "ccnn: rank 1 of 2 failed: ValueError: rank one gives up" in r.stderr, r.stderr
    assert not (tmp_path / "finished").exists()
    assert r.seconds < 60


def test_an_uncaught_error_outside_the_scope_ends_the_job(tmp_path):
    """set_distribution instead of `with`: the excepthook aborts."""
    r = run_mpi(tmp_path, '''
        from ccnn.distribution import set_distribution
        dp = DataParallel()
        set_distribution(dp)
        m = book()
        x, y = data(128)
        if dp.rank == 0:
            raise RuntimeError("rank zero fails before fit")
        m.fit(x, y, batch_size=32, epochs=50, verbose=0)
    ''', check=False)
    assert r.returncode != 0
    assert "ccnn: rank 0 of 2 failed: RuntimeError: rank zero fails before fit" in r.stderr
    assert r.seconds < 60


def test_a_killed_rank_ends_the_job(tmp_path):
    """SIGKILL leaves no chance to print: Open MPI's launcher notices the
    dead process, names it and ends the others."""
    r = run_mpi(tmp_path, '''
        import signal
        class Die(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1 and os.environ["OMPI_COMM_WORLD_RANK"] == "1":
                    os.kill(os.getpid(), signal.SIGKILL)
        m = book()
        x, y = data(256)
        with DataParallel():
            m.fit(x, y, batch_size=32, epochs=50, verbose=0, callbacks=[Die()])
        open("finished", "w").close()
    ''', check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "rank 1" in out and "signal 9" in out, out
    assert not (tmp_path / "finished").exists()
    assert r.seconds < 60


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                      # a zombie is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("target", ["mpiexec", "group"])
def test_ctrl_c_stops_every_rank(tmp_path, target):
    """SIGINT to mpiexec (or to the whole foreground process group, as a
    terminal's Ctrl-C) ends every rank within seconds."""
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + textwrap.dedent('''
        class Started(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    open(f"pid{os.environ['OMPI_COMM_WORLD_RANK']}", "w").write(str(os.getpid()))
        m = book()
        x, y = data(256)
        with DataParallel():
            m.fit(x, y, batch_size=32, epochs=100000, verbose=0, callbacks=[Started()])
    '''))
    p = subprocess.Popen(_mpi_cmd(script), cwd=tmp_path, env=_env(), start_new_session=True,
                         stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all((tmp_path / f"pid{r}").exists() for r in (0, 1)):
            assert p.poll() is None, p.stdout.read()
            assert time.monotonic() < deadline, "the ranks did not start"
            time.sleep(0.2)
        time.sleep(0.5)
        pids = [int((tmp_path / f"pid{r}").read_text()) for r in (0, 1)]
        t0 = time.monotonic()
        if target == "group":
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGINT)
        p.wait(timeout=45)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode != 0
    for _ in range(50):
        if not any(_pid_alive(pid) for pid in pids):
            break
        time.sleep(0.1)
    assert not any(_pid_alive(pid) for pid in pids)
    assert took < 30


def test_backup_and_restore_resumes_a_killed_run(tmp_path):
    """Rank 1 fails in the third epoch; the same command again resumes from
    rank 0's backup at the third epoch on both ranks."""
    code = '''
        class Log(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                with open(f"epochs{os.environ['OMPI_COMM_WORLD_RANK']}", "a") as f:
                    f.write(f"{epoch}\\n")
            def on_train_batch_begin(self, batch, logs=None):
                if sys.argv[1] == "fail" and self.epoch_now == 2 and batch == 1 \\
                        and os.environ["OMPI_COMM_WORLD_RANK"] == "1":
                    raise RuntimeError("crash in epoch 3")
            def on_epoch_end(self, epoch, logs=None):
                self.epoch_now = epoch + 1
            epoch_now = 0
        utils.set_random_seed(int(sys.argv[2]))
        m = book()
        x, y = data(256)
        with DataParallel() as dp:
            h = m.fit(x, y, batch_size=32, epochs=4, verbose=0,
                      callbacks=[BackupAndRestore("backup"), Log()])
        np.savez(f"w{dp.rank}.npz", *m.weights)
        json.dump(h.history, open(f"h{dp.rank}.json", "w"))
    '''
    r = run_mpi(tmp_path, code, args=("fail", "1"), check=False)
    assert r.returncode != 0 and "crash in epoch 3" in r.stderr
    assert (tmp_path / "backup" / "latest.weights.npz").exists()
    for rank in (0, 1):
        (tmp_path / f"epochs{rank}").unlink()
    run_mpi(tmp_path, code, args=("ok", "2"))      # another seed: the backup decides
    for rank in (0, 1):
        assert (tmp_path / f"epochs{rank}").read_text().split() == ["2", "3"]
        assert len(json.loads((tmp_path / f"h{rank}.json").read_text())["loss"]) == 2
    w0, w1 = (list(np.load(tmp_path / f"w{r}.npz").values()) for r in (0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))
    assert not (tmp_path / "backup").exists()       # deleted by rank 0 at the end


def test_only_rank_0_writes_and_prints(tmp_path):
    run_mpi(tmp_path, '''
        from ccnn.callbacks import CSVLogger, ModelCheckpoint
        m = book()
        x, y = data(128)
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.Get_rank()
        with DataParallel():
            m.fit(x, y, batch_size=32, epochs=2, verbose=2, validation_split=0.25,
                  callbacks=[CSVLogger(f"log{rank}.csv"),
                             ModelCheckpoint(f"ckpt{rank}.weights.npz")])
    ''')
    assert (tmp_path / "log0.csv").exists() and (tmp_path / "ckpt0.weights.npz").exists()
    assert not (tmp_path / "log1.csv").exists() and not (tmp_path / "ckpt1.weights.npz").exists()


def test_ccnn_train_under_mpiexec(tmp_path):
    """`mpiexec -n 2 ccnn train`: data-parallel, rank 0 alone prints and writes."""
    out = tmp_path / "run"
    r = subprocess.run([_mpiexec(), "-n", "2", "--oversubscribe", sys.executable, "-m", "ccnn",
                        "train", "--sample", "--epochs", "1", "--limit", "640",
                        "--batch-size", "64", "--out", str(out)],
                       cwd=tmp_path, env=_env(), timeout=TIMEOUT, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("test accuracy:") == 1
    assert "2 MPI ranks, global batch 64 (32 per rank)" in r.stdout
    assert "all-reduce:" in r.stdout
    record = json.loads((out / "history.json").read_text())
    assert record["ranks"] == 2 and record["batch_size"] == 64


def test_nothing_mpi_is_imported_unless_asked(tmp_path):
    code = ("import sys, numpy as np, ccnn, ccnn.distribution\n"
            "m = ccnn.Sequential([ccnn.Input((4,)), ccnn.layers.Dense(2, activation='softmax')])\n"
            "m.compile('adam', 'sparse_categorical_crossentropy')\n"
            "m.fit(np.zeros((8, 4)), np.zeros(8, int), verbose=0); m.evaluate(np.zeros((8, 4)), np.zeros(8, int))\n"
            "assert ccnn.distribution.distribution() is None\n"
            "assert not [k for k in sys.modules if k.startswith('mpi4py')], 'mpi4py imported'\n")
    # cwd: not the source tree, whose ccnn/ has no compiled modules when ccnn is installed
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT, cwd=tmp_path)


def test_set_distribution_checks_its_argument():
    from ccnn import distribution
    with pytest.raises(TypeError, match="set_distribution"):
        distribution.set_distribution("mpi")


def test_data_parallel_checks_comm(tmp_path):
    # in a child: MPI_Init in this process would outlive the test (and its forks)
    code = ("import ccnn.distribution as d\n"
            "try:\n    d.DataParallel(comm=3)\nexcept TypeError as e:\n"
            "    assert 'comm must be an mpi4py communicator' in str(e), e\n"
            "else:\n    raise SystemExit('no TypeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT, env=_env(),
                   stdin=subprocess.DEVNULL, cwd=tmp_path)


def test_readme_scale_out_example_runs(tmp_path):
    import re
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
    if not os.path.exists(readme):       # the wheel round trip copies the READMEs beside tests/
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
    text = open(readme, encoding="utf-8").read()
    section = text.split("## Scale-out")[1].split("\n## ")[0]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    script = tmp_path / "train.py"
    script.write_text(block)
    r = subprocess.run(_mpi_cmd(script), cwd=tmp_path, env=_env(), timeout=TIMEOUT,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("test accuracy") == 1
    assert (tmp_path / "weights.npz").exists()


TWO_INPUTS = '''
def two_inputs(dtype="float64"):
    img = ccnn.Input((28, 28, 1), name="img", dtype=dtype)
    vec = ccnn.Input((5,), name="vec", dtype=dtype)
    a = Flatten(dtype=dtype)(MaxPooling2D(2, dtype=dtype)(
        Conv2D(4, 3, activation="relu", dtype=dtype)(img)))
    b = Dense(8, activation="tanh", dtype=dtype)(vec)
    out = Dense(10, activation="softmax", dtype=dtype)(Concatenate(dtype=dtype)([a, b]))
    m = ccnn.Model([img, vec], out)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m

def two_data(n, dtype="float64"):
    rng = np.random.default_rng(3)
    return ([rng.random((n, 28, 28, 1)).astype(dtype), rng.standard_normal((n, 5)).astype(dtype)],
            rng.integers(0, 10, n), rng.random(n) + 0.5)
'''


@pytest.mark.parametrize("as_dict", [False, True])
def test_functional_model_with_two_inputs(tmp_path, as_dict):
    """A functional ccnn.Model with two inputs (a list, or a dict by input
    name), sample weights and a shuffled odd-sized last batch: 2 ranks reach
    the single-process weights, hold bit-identical replicas, and evaluate
    gives the single-process numbers."""
    n = 1571                     # 49 batches of 32 (16 + 16 per rank) and one of 3 (2 + 1)
    pack = ('{"img": xs[0], "vec": xs[1]}' if as_dict else "xs")
    run_mpi(tmp_path, TWO_INPUTS.replace("\n", "\n        ") + f'''
        from ccnn.layers import Concatenate
        xs, y, sw = two_data({n})
        utils.set_random_seed(5)
        m = two_inputs()
        with DataParallel() as dp:
            h = m.fit({pack}, y, sample_weight=sw, batch_size=32, epochs=2, verbose=0)
            ev = m.evaluate({pack}, y, batch_size=50, return_dict=True)
        np.savez(f"w{{dp.rank}}.npz", *m.weights)
        json.dump([h.history, ev], open(f"h{{dp.rank}}.json", "w"))
    ''')
    ns = _load_prelude()
    from ccnn.layers import Concatenate
    ns["Concatenate"] = Concatenate
    exec(TWO_INPUTS, ns)
    xs, y, sw = ns["two_data"](n)
    ccnn.utils.set_random_seed(5)
    ref = ns["two_inputs"]()
    x = {"img": xs[0], "vec": xs[1]} if as_dict else xs
    h = ref.fit(x, y, sample_weight=sw, batch_size=32, epochs=2, verbose=0)
    ev = ref.evaluate(x, y, batch_size=50, return_dict=True)
    w0, w1 = (list(np.load(tmp_path / f"w{r}.npz").values()) for r in (0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))
    assert len(w0) == len(ref.weights) == 6
    assert _rel(w0, ref.weights) <= 1e-12, _rel(w0, ref.weights)
    hist, got = json.loads((tmp_path / "h0.json").read_text())
    for k in ("loss", "accuracy"):
        np.testing.assert_allclose(hist[k], h.history[k], rtol=1e-10)
    assert got == pytest.approx(ev, rel=1e-10)


def test_per_class_metric_logs_are_arrays_on_every_rank(tmp_path):
    """A metric whose result is an array (Precision at several thresholds,
    F1Score(average=None)) reaches every rank's History as that array, the
    same on every rank; Precision's counts are summed over the ranks, so it
    is the single process's."""
    code = '''
        from ccnn import metrics as M
        def model():
            utils.set_random_seed(1)
            m = ccnn.Sequential([ccnn.Input((6,)), Dense(3, activation="softmax")])
            m.compile("sgd", "categorical_crossentropy",
                      metrics=[M.Precision(thresholds=[0.2, 0.35, 0.5], name="p"),
                               M.F1Score(name="f1")])
            return m
        rng = np.random.default_rng(0)
        x = rng.standard_normal((96, 6)).astype("float32")
        y = np.eye(3, dtype="float32")[rng.integers(0, 3, 96)]
        out = {}
        if len(sys.argv) > 1:
            out["single"] = model().fit(x, y, batch_size=32, epochs=2, verbose=0).history
        else:
            with DataParallel() as dp:
                out["dp"] = model().fit(x, y, batch_size=32, epochs=2, verbose=0).history
        rank = 0 if len(sys.argv) > 1 else dp.rank
        json.dump({k: {n: [np.asarray(v).tolist() for v in vs] for n, vs in h.items()}
                   for k, h in out.items()}, open(f"h{len(sys.argv) > 1}{rank}.json", "w"))
    '''
    run_mpi(tmp_path, code)
    run_mpi(tmp_path, code, n=1, args=("single",))
    d0, d1, single = (json.loads((tmp_path / name).read_text())
                      for name in ("hFalse0.json", "hFalse1.json", "hTrue0.json"))
    assert d0 == d1
    hist = d0["dp"]
    assert [np.shape(v) for v in hist["p"]] == [(3,), (3,)]
    assert [np.shape(v) for v in hist["f1"]] == [(3,), (3,)]
    np.testing.assert_allclose(hist["p"], single["single"]["p"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hist["loss"], single["single"]["loss"], rtol=1e-5)


def test_f1_and_add_variable_metrics_are_summed_over_the_ranks(tmp_path):
    """FBetaScore's counts and the states a custom metric makes with
    add_variable (as attributes named like Mean's, or not, or in a metric it
    holds) are summed over the ranks: fit's and evaluate's logs are those of
    one process on the whole data."""
    code = '''
        from ccnn import metrics as M

        class MeanAbs(M.Metric):          # states named like Mean's: summed once
            def __init__(self, name="mean_abs"):
                super().__init__(name=name)
                self.total = self.add_variable((), name="total")
                self.count = self.add_variable((), name="count")
            def update_state(self, y_true, y_pred, sample_weight=None):
                self.total += np.abs(np.asarray(y_true) - np.asarray(y_pred)).sum()
                self.count += np.size(y_true)
            def result(self):             # the count too: a double sum would show
                return np.array([self.total / self.count, self.count])

        class PerClass(M.Metric):         # a per-class state, and a metric it holds
            def __init__(self, name="per_class"):
                super().__init__(name=name)
                self.hits = self.add_variable((3,), name="hits")
                self.seen = M.Mean()
            def update_state(self, y_true, y_pred, sample_weight=None):
                y_pred = np.asarray(y_pred)
                self.hits += (np.asarray(y_true) * (y_pred == y_pred.max(1, keepdims=True))
                              ).sum(0)
                self.seen.update_state(np.ones(len(y_pred)))
            def result(self):
                return self.hits / self.seen.count

        def model():
            utils.set_random_seed(1)
            m = ccnn.Sequential([ccnn.Input((6,)), Dense(3, activation="softmax",
                                                         dtype="float64")])
            m.compile("sgd", "categorical_crossentropy",
                      metrics=[M.F1Score(name="f1"), M.F1Score(average="macro", name="f1m"),
                               M.FBetaScore(average="weighted", beta=2.0, name="f2w"),
                               MeanAbs(), PerClass()])
            return m
        rng = np.random.default_rng(0)
        x = rng.standard_normal((96, 6))
        y = np.eye(3)[rng.integers(0, 3, 96)]
        single = len(sys.argv) > 1
        if single:
            m = model()
            h = m.fit(x, y, batch_size=32, epochs=2, verbose=0).history
            e = m.evaluate(x, y, batch_size=24, return_dict=True)
            rank = 0
        else:
            with DataParallel() as dp:
                m = model()
                h = m.fit(x, y, batch_size=32, epochs=2, verbose=0).history
                e = m.evaluate(x, y, batch_size=24, return_dict=True)
            rank = dp.rank
        json.dump({"fit": {n: [np.asarray(v).tolist() for v in vs] for n, vs in h.items()},
                   "evaluate": {n: np.asarray(v).tolist() for n, v in e.items()}},
                  open(f"h{single}{rank}.json", "w"))
    '''
    run_mpi(tmp_path, code)
    run_mpi(tmp_path, code, n=1, args=("single",))
    d0, d1, single = (json.loads((tmp_path / name).read_text())
                      for name in ("hFalse0.json", "hFalse1.json", "hTrue0.json"))
    assert d0 == d1
    for part in ("fit", "evaluate"):
        assert d0[part].keys() == single[part].keys()
        for name in ("f1", "f1m", "f2w", "mean_abs", "per_class", "loss"):
            np.testing.assert_allclose(d0[part][name], single[part][name], rtol=1e-10,
                                       err_msg=f"{part} {name}")
    assert np.shape(d0["fit"]["f1"]) == (2, 3) and np.shape(d0["evaluate"]["per_class"]) == (3,)


@pytest.mark.parametrize("user", [None, "0"])
def test_yield_when_idle_default_honours_the_user(tmp_path, monkeypatch, user):
    """DataParallel sets Open MPI's mpi_yield_when_idle to 1 before MPI
    initialises on every rank, unless the user set it (here: 0, kept)."""
    monkeypatch.setenv("OMPI_MCA_mca_param_files", str(tmp_path / "none.conf"))
    if user is None:
        monkeypatch.delenv("OMPI_MCA_mpi_yield_when_idle", raising=False)
    else:
        monkeypatch.setenv("OMPI_MCA_mpi_yield_when_idle", user)
    r = run_mpi(tmp_path, """
        dp = DataParallel()
        print("yield", dp.rank, os.environ.get("OMPI_MCA_mpi_yield_when_idle"), flush=True)
        """)
    want = "1" if user is None else user
    assert sorted(line for line in r.stdout.splitlines() if line.startswith("yield")) == \
        [f"yield 0 {want}", f"yield 1 {want}"], r.stdout
