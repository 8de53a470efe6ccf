"""The `fastrnn` command line: info, check and warmup."""
import subprocess
import sys

from fastrnn import cli


def test_info_lists_versions_backends_threads_and_blas(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("fastrnn", "numpy", "numba", "backend numpy", "cpu threads", "cpu variant",
                "blas pool"):
        assert key in out, key


def test_check_compares_every_backend_with_the_reference(capsys):
    assert cli.main(["check", "--shape", "3,2,2,3"]) == 0
    out = capsys.readouterr().out
    assert "all backends agree with the reference" in out
    for cell in ("rnn", "lstm", "gru"):
        assert f"\n{cell} " in out


def test_the_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "fastrnn.cli", "info"], capture_output=True,
                          text=True, check=True)
    assert "backend numpy" in proc.stdout


def test_warmup_compiles_into_the_cache(capsys, tmp_path):
    """In a child with an empty cache: warmup fills it, and a fresh process then loads
    the kernel instead of compiling it."""
    import os
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "fastrnn.cli", "warmup", "--cells", "rnn", "--passes", "fwd",
            "--no-progress"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    assert "2 calls (rnn; fwd; float32)" in proc.stdout
    assert any(name.endswith(".nbc") for _, _, files in os.walk(tmp_path) for name in files)
    probe = ("import numpy as np, fastrnn; from fastrnn.cpu import _cells, _loops; "
             "fastrnn.rnn_forward(np.ones((2, 9, 3), np.float32), np.ones((4, 3), np.float32), "
             "np.ones((4, 4), np.float32), backend='cpu'); "
             "f = _loops.specialize(_cells.RNN, True, True, False, False).forward_batch; "
             "print(sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values()))")
    hits, misses = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                  env=env, check=True).stdout.split()
    assert (hits, misses) == ("1", "0")


def test_warmup_refuses_unknown_cells(capsys):
    assert cli.main(["warmup", "--cells", "rnn,elman"]) == 2
    assert "expected a comma-separated list of rnn, lstm, gru" in capsys.readouterr().err
