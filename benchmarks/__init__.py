"""fastrnn's airspeed velocity suite (asv.conf.json at the repository root).

One file per area: bench_forward (inference), bench_training (forward +
backward, tape memory), bench_streaming (one step at B=1), bench_compile
(cold JIT compile and cache load, in a subprocess) and bench_transfer
(host <-> device copies for the cuda backend). common.py holds what they
share. Run them with `make bench` (docs/benchmarks.md).
"""
