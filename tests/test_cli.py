"""The `fastrnn` command line: info and check."""
import subprocess
import sys

from fastrnn import cli


def test_info_lists_versions_backends_threads_and_blas(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("fastrnn", "numpy", "numba", "backend numpy", "numba threading layer",
                "numba threads", "blas pool"):
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
