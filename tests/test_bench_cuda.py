"""`fastrnn bench --device cuda`'s fastrnn peer, run by its worker under the CUDA simulator.

The GPU timings themselves need a GPU; this checks that the peer's device
path (copies to the device, synchronize, the tape's backward on device
arrays) runs and reports a time, in a process of its own as in a real run.
"""
import pytest

from fastrnn.bench import peers


def test_cuda_peer_times_forward_and_training_step_on_device_arrays():
    numba = pytest.importorskip("numba")
    if not numba.config.ENABLE_CUDASIM:
        pytest.skip("run under NUMBA_ENABLE_CUDASIM=1 (make test-cuda)")
    job = dict(peer="cuda", device="cuda", threads=None, warmup=0, repeats=1, time_cap=60,
               tasks=[("lstm", "fwd", [2, 2, 3, 4]), ("gru", "train", [2, 2, 3, 4])])
    rows = []
    outcome = peers.run(job, rows.append)
    assert outcome.error is None and outcome.info["gpu"]
    assert [(r["cell"], r["kind"]) for r in rows] == [("lstm", "fwd"), ("gru", "train")]
    assert all("error" not in r and r["ms"] > 0 and r["runs"] == 1 for r in rows), rows
