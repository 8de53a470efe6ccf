"""Model files: save and load agree on the name, saves are atomic, and every malformed
file gets one ValueError naming the file and the problem (a missing one: FileNotFoundError)."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import nn

KINDS = {
    "SequenceClassifier": lambda: nn.SequenceClassifier(3, 4, 5, seed=0, backend="numpy"),
    "LSTM": lambda: fastrnn.LSTM(3, 4, seed=0, backend="numpy"),
}
LOADERS = {"SequenceClassifier": lambda p: nn.SequenceClassifier.load(p, backend="numpy"),
           "LSTM": lambda p: fastrnn.LSTM.load(p, backend="numpy")}


def saved(kind, tmp_path):
    model = KINDS[kind]()
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return path, json.loads(str(arrays.pop("__header__"))), arrays


def rewrite(path, header, arrays, raw_header=None):
    os.unlink(path)
    head = np.array(json.dumps(header)) if raw_header is None else raw_header
    np.savez(path, __header__=head, **arrays)


def first_key(arrays):
    return sorted(arrays)[0]


def variants():
    """name -> (change(path, header, arrays), expected message)."""
    def drop(key):
        def change(path, header, arrays):
            header.pop(key)
            rewrite(path, header, arrays)
        return change

    def header_as(raw):
        return lambda path, header, arrays: rewrite(path, header, arrays, raw_header=raw)

    def arrays_change(fn):
        def change(path, header, arrays):
            fn(arrays)
            rewrite(path, header, arrays)
        return change

    def config_change(fn):
        def change(path, header, arrays):
            fn(header["config"])
            rewrite(path, header, arrays)
        return change

    def raw_bytes(data):
        return lambda path, header, arrays: path.write_bytes(data)

    def truncate(path, header, arrays):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def damage_a_member(path, header, arrays):
        raw = bytearray(path.read_bytes())
        zf = zipfile.ZipFile(path)
        largest = max(arrays, key=lambda k: arrays[k].nbytes)
        info = zf.getinfo(largest + ".npy")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 160
        raw[start:start + 8] = b"\xff" * 8
        path.write_bytes(bytes(raw))

    def other_zip(path, header, arrays):
        os.unlink(path)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("notes.txt", "hello")

    def npy(path, header, arrays):
        os.unlink(path)
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))

    return {
        "header without kind": (drop("kind"), "no 'kind'"),
        "header without config": (drop("config"), "no 'config'"),
        "header a JSON list": (header_as(np.array("[1, 2]")), "must be a JSON object"),
        "header a JSON string": (header_as(np.array('"LSTM"')), "must be a JSON object"),
        "header not JSON": (header_as(np.array("{kind: LSTM")), "not valid JSON"),
        "header a number array": (header_as(np.arange(3)), "must be a JSON text"),
        "no header": (lambda p, h, a: (os.unlink(p), np.savez(p, **a)), "no __header__"),
        "another kind": (lambda p, h, a: rewrite(p, dict(h, kind="GRU"), a), "holds a GRU"),
        "a missing array": (arrays_change(lambda a: a.pop(first_key(a))), "missing"),
        "an array of the wrong shape": (
            arrays_change(lambda a: a.update({first_key(a): np.zeros((2, 2), np.float32)})),
            "wrong shape"),
        "an array of the wrong dtype": (
            arrays_change(lambda a: a.update({first_key(a): a[first_key(a)].astype(np.int32)})),
            "wrong dtype"),
        "an unexpected array": (arrays_change(lambda a: a.update(extra=np.zeros(1))),
                                "unexpected"),
        "a config without hidden_size": (config_change(lambda c: c.pop("hidden_size")),
                                         "hidden_size"),
        "a config with a bad hidden_size": (config_change(lambda c: c.update(hidden_size=-1)),
                                            "hidden_size"),
        "a config with an unknown key": (config_change(lambda c: c.update(colour="red")),
                                         "colour"),
        "random bytes": (raw_bytes(np.random.default_rng(0).bytes(300)),
                         "not a model file"),
        "an empty file": (raw_bytes(b""), "not a model file"),
        "a text file": (raw_bytes(b"hello, world\n"), "not a model file"),
        "a truncated file": (truncate, "m.npz"),
        "a damaged array": (damage_a_member, "damaged"),
        "a zip of something else": (other_zip, "no __header__"),
        "an .npy file": (npy, "single array"),
    }


VARIANTS = variants()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_malformed_file_is_one_value_error_naming_it(kind, variant, tmp_path):
    path, header, arrays = saved(kind, tmp_path)
    change, message = VARIANTS[variant]
    change(path, header, arrays)
    with pytest.raises(ValueError) as info:
        LOADERS[kind](path)
    text = str(info.value)
    assert str(path) in text and message in text, text
    assert "\n" not in text


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_directory_and_a_missing_file(kind, tmp_path):
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(ValueError, match=r"d\.npz is a directory"):
        LOADERS[kind](tmp_path / "d.npz")
    with pytest.raises(FileNotFoundError, match=r"no model file .*nothing\.npz"):
        LOADERS[kind](tmp_path / "nothing")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name,written", [("m", "m.npz"), ("m.npz", "m.npz"),
                                          ("m.bin", "m.bin.npz")])
def test_save_and_load_agree_on_the_suffix(kind, name, written, tmp_path):
    model = KINDS[kind]()
    for path in (tmp_path / name, str(tmp_path / name)):
        assert os.fspath(model.save(path)) == str(tmp_path / written)
        assert sorted(os.listdir(tmp_path)) == [written]
        again = LOADERS[kind](path)
        for k, v in again.params.items():
            np.testing.assert_array_equal(v, model.params[k])


def test_save_to_an_open_file_and_load_from_it():
    model = KINDS["LSTM"]()
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    again = fastrnn.LSTM.load(buffer)
    np.testing.assert_array_equal(again.params["weight_hh_l0"], model.params["weight_hh_l0"])


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_save_leaves_the_old_file(kind, error, tmp_path, monkeypatch):
    old = KINDS[kind]()
    path = tmp_path / "m.npz"
    old.save(path)
    good = path.read_bytes()
    real_savez = np.savez

    def half_then_fail(file, *args, **kwargs):
        buffer = io.BytesIO()
        real_savez(buffer, *args, **kwargs)
        data = buffer.getvalue()[:100]
        if hasattr(file, "write"):
            file.write(data)
        else:
            with open(file, "wb") as f:
                f.write(data)
        raise error("interrupted")
    monkeypatch.setattr(np, "savez", half_then_fail)
    new = KINDS[kind]()
    for p in new.params.values():
        p += 1
    with pytest.raises(error):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.npz"]          # no temporary file left behind
    LOADERS[kind](path)


def test_a_saved_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = KINDS["LSTM"]().save(tmp_path / "m")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
