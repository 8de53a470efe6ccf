"""`fastrnn bench --device cuda`, run under the CUDA simulator with its GPU check bypassed.

The GPU timings themselves need a GPU (benchmarks/gpu_check.sh); this checks
the path up to them: the device run's plan (one process per peer, no thread
counts), the fastrnn peer's copies to the device, its synchronize, the tape's
backward on device arrays, and the table and JSON it makes.
"""
import json

import pytest

from fastrnn import bench, cli


def test_cuda_device_run_times_forward_and_training_step_on_device_arrays(tmp_path, capsys,
                                                                         monkeypatch):
    numba = pytest.importorskip("numba")
    if not numba.config.ENABLE_CUDASIM:
        pytest.skip("run under NUMBA_ENABLE_CUDASIM=1 (make test-cuda)")
    monkeypatch.setattr(bench, "_gpu_problem", lambda: None)    # the simulator stands in for a GPU
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--device", "cuda", "--peers", "cuda", "--shapes", "2,2,3,4",
                     "--cells", "lstm", "--repeats", "1", "--warmup", "0", "--json", str(path)])
    saved = json.loads(path.read_text())
    assert code == 0, saved["errors"]
    assert saved["peers"]["cuda"]["gpu"] and list(saved["processes"]) == ["cuda at - threads, 2,2,3,4"]
    assert saved["columns"][:5] == ["cell", "pass", "T,B,I,H", "thr", "cuda ms"]
    assert [row[:4] for row in saved["rows"]] == [["lstm", k, "2,2,3,4", "-"] for k in ("fwd", "train")]
    assert all(float(row[4]) > 0 for row in saved["rows"])
    assert saved["table"] in capsys.readouterr().out
