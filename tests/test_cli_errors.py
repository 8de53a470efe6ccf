"""The `fastrnn` command under bad input: every bad argument, bad file and unavailable
backend is one line on stderr and exit status 2, with no traceback; --debug and
FASTRNN_DEBUG=1 show the traceback. Most cases run main() in-process (no new Python)."""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastrnn import _dispatch, cli, nn

TINY = ["--limit", "16", "--epochs", "1", "--hidden", "4", "--no-progress", "--backend", "numpy"]


def one_error_line(capsys, argv, code=2):
    """Run `fastrnn argv`; check exit status ``code`` and one line on stderr; return it."""
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """A small MNIST-like .npz, a classifier file, and a set of bad files."""
    rng = np.random.default_rng(0)

    def digits(n):
        return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
    (xtr, ytr), (xte, yte) = digits(24), digits(8)
    f = {"mnist": tmp_path / "mnist.npz", "model": tmp_path / "model.npz"}
    np.savez(f["mnist"], x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    nn.SequenceClassifier(28, 4, 10, seed=0, backend="numpy").save(f["model"])
    f["random"] = tmp_path / "random.npz"
    f["random"].write_bytes(rng.bytes(500))
    f["truncated mnist"] = tmp_path / "truncated.npz"
    f["truncated mnist"].write_bytes(f["mnist"].read_bytes()[:3000])
    f["truncated model"] = tmp_path / "truncated_model.npz"
    f["truncated model"].write_bytes(f["model"].read_bytes()[:700])
    f["labels 10"] = tmp_path / "labels10.npz"
    np.savez(f["labels 10"], x_train=xtr, y_train=ytr + 10, x_test=xte, y_test=yte)
    f["dir"] = tmp_path / "a_dir.npz"
    f["dir"].mkdir()
    f["missing"] = tmp_path / "missing.npz"
    for name, arr in {"wrong shape": np.zeros((3, 28, 27), np.uint8),
                      "floats > 1": np.full((2, 28, 28), 3.0),
                      "nan": np.full((2, 28, 28), np.nan, np.float32),
                      "empty": np.zeros((0, 28, 28), np.uint8),
                      "bool": np.zeros((2, 28, 28), bool),
                      "negative ints": np.full((2, 28, 28), -1)}.items():
        f[name] = tmp_path / f"{name.replace(' ', '_')}.npy"
        np.save(f[name], arr)
    f["random npy"] = tmp_path / "random.npy"
    f["random npy"].write_bytes(rng.bytes(300))
    f["pickled"] = tmp_path / "pickled.npy"
    np.save(f["pickled"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    f["lstm"] = tmp_path / "lstm.npz"
    import fastrnn
    fastrnn.LSTM(28, 4).save(f["lstm"])
    f["5 inputs"] = tmp_path / "five.npz"
    nn.SequenceClassifier(5, 4, 10, seed=0).save(f["5 inputs"])
    f["no kind"] = tmp_path / "nokind.npz"
    with np.load(f["model"]) as z:
        arrays = {k: z[k] for k in z.files if k != "__header__"}
    np.savez(f["no kind"], __header__=np.array(json.dumps({"config": {}})), **arrays)
    f["wrong arrays"] = tmp_path / "wrong_arrays.npz"
    arrays["fc.weight"] = np.zeros((3, 3), np.float32)
    np.savez(f["wrong arrays"], __header__=np.array(json.dumps(
        {"kind": "SequenceClassifier", "config": dict(input_size=28, hidden_size=4,
                                                      num_classes=10)})), **arrays)
    idx = tmp_path / "idx"
    idx.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(idx / f"{name}.gz", "wb") as g:
            g.write(b"\x00\x00\x08\x03" + np.array([2, 28, 28], ">i4").tobytes() + bytes(1568))
    bad = idx / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-10])            # a truncated gzip
    f["truncated idx dir"] = idx
    return f


DEMO_ARGS = {
    "--batch-size 0": (["--batch-size", "0"], "--batch-size: expected an integer ≥ 1"),
    "--batch-size x": (["--batch-size", "x"], "--batch-size: expected an integer ≥ 1"),
    "--limit 0": (["--limit", "0"], "--limit: expected an integer ≥ 1"),
    "--hidden 0": (["--hidden", "0"], "--hidden: expected an integer ≥ 1"),
    "--epochs -1": (["--epochs", "-1"], "--epochs: expected an integer ≥ 1"),
    "--epochs 0": (["--epochs", "0"], "--epochs: expected an integer ≥ 1"),
    "--lr 0": (["--lr", "0"], "--lr: expected a finite number > 0"),
    "--lr nan": (["--lr", "nan"], "--lr: expected a finite number > 0"),
    "--clip -1": (["--clip", "-1"], "--clip: expected a finite number > 0"),
    "--seed -1": (["--seed", "-1"], "--seed: expected an integer ≥ 0"),
    "--cell lstmx": (["--cell", "lstmx"], "invalid choice"),
    "an unknown option": (["--colour", "red"], "unrecognized arguments"),
}


@pytest.mark.parametrize("case", list(DEMO_ARGS))
def test_bad_demo_arguments(case, capsys, tmp_path):
    argv, message = DEMO_ARGS[case]
    line = one_error_line(capsys, ["demo", *argv, "--out", str(tmp_path / "out")])
    assert line.startswith("fastrnn demo: error:") and message in line, line
    assert not (tmp_path / "out").exists()


DEMO_FILES = {
    "a truncated --data file": ("truncated mnist", "truncated.npz"),
    "a garbage --data file": ("random", "random.npz: cannot read it as Keras's mnist.npz"),
    "--data labels outside 0-9": ("labels 10", "y_train must hold digits 0-9"),
    "a missing --data file": ("missing", "missing.npz: no such file or directory"),
    "a truncated gzip IDX file": ("truncated idx dir", "train-images-idx3-ubyte.gz: cannot read"),
}


@pytest.mark.parametrize("case", list(DEMO_FILES))
def test_bad_demo_data(case, files, capsys, tmp_path):
    key, message = DEMO_FILES[case]
    line = one_error_line(capsys, ["demo", "--data", str(files[key]), *TINY,
                                   "--out", str(tmp_path / "out")])
    assert message in line, line


def no_gpu(monkeypatch):
    real = _dispatch._why_unavailable
    monkeypatch.setattr(_dispatch, "_why_unavailable",
                        lambda name: "no CUDA GPU was found" if name == "cuda" else real(name))


@pytest.mark.parametrize("command", ["demo", "predict"])
def test_an_unavailable_or_unknown_backend(command, files, capsys, monkeypatch, tmp_path):
    no_gpu(monkeypatch)
    rest = (["--data", str(files["mnist"]), "--out", str(tmp_path / "o")] if command == "demo"
            else ["--model", str(files["model"]), "--data", str(files["mnist"])])
    line = one_error_line(capsys, [command, *rest, "--backend", "cuda"])
    assert "backend 'cuda' is not available: no CUDA GPU was found" in line, line
    monkeypatch.setenv("FASTRNN_BACKEND", "garbage")
    line = one_error_line(capsys, [command, *rest])
    assert "unknown backend 'garbage'" in line and "FASTRNN_BACKEND" in line, line


def test_demo_out_is_a_file(files, capsys, tmp_path):
    (tmp_path / "f").write_text("")
    line = one_error_line(capsys, ["demo", "--data", str(files["mnist"]), *TINY,
                                   "--out", str(tmp_path / "f")])
    assert "is a file, not a directory" in line


@pytest.mark.parametrize("shape", ["garbage", "1,2,3", "1,2,3,4,5", "0,1,1,1", "a,b,c,d", ""])
def test_check_bad_shape(shape, capsys):
    line = one_error_line(capsys, ["check", "--shape", shape])
    assert "--shape: expected T,B,I,H" in line


PREDICT_IMAGES = {
    "wrong shape": "expected images shaped (N, 28, 28)",
    "floats > 1": "expected uint8 pixels or finite floats in [0, 1]",
    "nan": "expected uint8 pixels or finite floats in [0, 1]",
    "bool": "expected uint8 pixels or finite floats in [0, 1]",
    "negative ints": "expected uint8 pixels or finite floats in [0, 1]",
    "empty": "holds no images",
    "random npy": "is not an .npy file of images",
    "pickled": "is not an .npy file of images",
    "random": "is not an .npy file of images",
    "dir": "is a directory",
    "missing": "no such file",
    "model": "is an .npz archive",
}


@pytest.mark.parametrize("case", list(PREDICT_IMAGES))
def test_bad_predict_images(case, files, capsys):
    line = one_error_line(capsys, ["predict", "--model", str(files["model"]),
                                   "--images", str(files[case]), "--backend", "numpy"])
    assert line.startswith("fastrnn predict: error:") and PREDICT_IMAGES[case] in line, line
    assert os.path.basename(files[case]) in line


PREDICT_MODELS = {
    "random": "is not a model file",
    "truncated model": "truncated_model.npz",
    "dir": "is a directory",
    "missing": "no model at",
    "lstm": "holds a LSTM, not a SequenceClassifier",
    "5 inputs": "needs a model of 28×28 digits",
    "no kind": "no 'kind'",
    "wrong arrays": "wrong shape",
    "wrong shape": "single array",
}


@pytest.mark.parametrize("case", list(PREDICT_MODELS))
def test_bad_predict_model(case, files, capsys):
    line = one_error_line(capsys, ["predict", "--model", str(files[case]),
                                   "--images", str(files["wrong shape"]), "--backend", "numpy"])
    assert PREDICT_MODELS[case] in line and os.path.basename(files[case]) in line, line


def test_info_with_a_bad_fastrnn_backend(capsys, monkeypatch):
    monkeypatch.setenv("FASTRNN_BACKEND", "garbage")
    assert cli.main(["info"]) == 2
    captured = capsys.readouterr()
    assert "backend numpy" in captured.out and "error: unknown backend 'garbage'" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "unknown backend 'garbage'" in lines[0]


@pytest.mark.parametrize("argv", [[], ["nothing"], ["--debug"]])
def test_no_or_an_unknown_command(argv, capsys):
    line = one_error_line(capsys, argv)
    assert line.startswith("fastrnn: error:")


def test_help_exits_0(capsys):
    assert cli.main(["demo", "--help"]) == 0
    assert "--batch-size" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["--debug first", "--debug after", "FASTRNN_DEBUG=1"])
def test_debug_shows_the_traceback(how, files, monkeypatch):
    argv = ["predict", "--model", str(files["random"]), "--backend", "numpy"]
    if how == "--debug first":
        argv = ["--debug", *argv]
    elif how == "--debug after":
        argv = [*argv, "--debug"]
    else:
        monkeypatch.setenv("FASTRNN_DEBUG", "1")
    with pytest.raises(ValueError, match="is not a model file"):
        cli.main(argv)


def test_an_unexpected_error_is_one_line_with_status_1(capsys, monkeypatch):
    from fastrnn import info

    def broken():
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(info, "collect", broken)
    line = one_error_line(capsys, ["info"], code=1)
    assert "unexpected error: ZeroDivisionError: a bug" in line and "--debug" in line


def test_the_console_script_prints_one_line_or_the_traceback(files):
    """In a real process: the default is one line and status 2, FASTRNN_DEBUG=1 the traceback."""
    cmd = [sys.executable, "-m", "fastrnn.cli", "predict", "--model", str(files["random"]),
           "--backend", "numpy"]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    assert "Traceback" not in plain.stderr and "random.npz" in plain.stderr
    debug = subprocess.run(cmd, capture_output=True, text=True,
                           env={**os.environ, "FASTRNN_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_demo_without_matplotlib_trains_saves_and_says_how_to_plot(files, capsys, monkeypatch,
                                                                   tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib fails
    out = tmp_path / "out"
    assert cli.main(["demo", "--data", str(files["mnist"]), *TINY, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert (out / "model.npz").is_file() and not (out / "curves.png").exists()
    assert "saved" in captured.out and "test acc" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'fastrnn[examples]'" in lines[0], captured.err
    nn.SequenceClassifier.load(out / "model.npz")
