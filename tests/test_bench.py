"""`fastrnn bench`: option parsing, FLOP counts, the table's arithmetic, and one tiny end-to-end run.

Timings are never asserted (the machine is shared); what is checked is that
every peer present produces a number in the right cell and that the ratios
and rates are computed from them correctly.
"""
import argparse
import json
import os

import pytest

from fastrnn import bench, cli
from fastrnn.bench import peers, table
from fastrnn.bench.workloads import SHAPES, Shape, flops, make_inputs


def parse(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(argv)


def test_default_options_are_the_issue_matrix():
    args = parse()
    assert args.shapes == list(SHAPES)
    assert [tuple(s) for s in SHAPES] == [(28, 64, 28, 128), (100, 1, 128, 256), (100, 16, 256, 256),
                                          (100, 64, 512, 512), (200, 32, 256, 1024)]
    assert (args.cells, args.passes, args.threads) == (["lstm", "gru"], ["fwd", "train"], [1, 2])
    assert args.repeats >= 5 and args.peers is None and args.device == "cpu"


def test_options_select_shapes_cells_passes_threads_peers_repeats():
    args = parse("--shapes", "3,2,4,5", "7,1,2,3", "--cells", "gru", "--passes", "train",
                 "--threads", "2", "--peers", "ref,gemm", "--repeats", "7", "--json", "out.json")
    assert args.shapes == [Shape(3, 2, 4, 5), Shape(7, 1, 2, 3)]
    assert (args.cells, args.passes, args.threads, args.peers) == (["gru"], ["train"], [2], ["ref", "gemm"])
    assert (args.repeats, args.json) == (7, "out.json")


@pytest.mark.parametrize("argv, says", [
    (["--shapes", "1,2,3"], "T,B,I,H"), (["--shapes", "0,2,3,4"], "T,B,I,H"),
    (["--cells", "lstm,rnn"], "lstm, gru"), (["--passes", "bwd"], "fwd, train"),
    (["--threads", "0"], "positive"), (["--peers", "tensorflow"], "torch"),
    (["--repeats", "0"], "--repeats"), (["--device", "tpu"], "cuda")])
def test_bad_options_are_refused_naming_what_is_expected(capsys, argv, says):
    with pytest.raises(SystemExit):
        parse(*argv)
    assert says in capsys.readouterr().err


def test_flop_counts():
    s = Shape(28, 64, 28, 128)
    assert flops("lstm", "fwd", s) == 2 * 28 * 64 * 4 * 128 * (28 + 128)
    assert flops("gru", "fwd", s) == 2 * 28 * 64 * 3 * 128 * (28 + 128)
    assert flops("lstm", "train", s) == 3 * flops("lstm", "fwd", s)
    assert flops("gru", "in", s) + flops("gru", "rec", s) == flops("gru", "fwd", s)


def test_inputs_are_float32_in_pytorch_layout():
    inputs = make_inputs("gru", Shape(3, 2, 4, 5))
    assert {k: v.shape for k, v in inputs.items()} == dict(
        x=(3, 2, 4), w_ih=(15, 4), w_hh=(15, 5), b_ih=(15,), b_hh=(15,), dy=(3, 2, 5))
    assert all(v.dtype == "float32" for v in inputs.values())


def test_child_environment_sets_threads_and_drops_openblas_overrides(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    env = peers.child_env(2)
    assert all(env[v] == "2" for v in peers.THREAD_VARIABLES)
    assert not set(peers.OPENBLAS_OVERRIDES) & set(env)


def _result(peer, kind, ms, runs=5, **extra):
    return dict(peer=peer, cell="lstm", kind=kind, shape=[100, 64, 512, 512], threads=1, ms=ms,
                runs=runs, repeats=5, **extra)


def test_table_ratios_rates_and_marks():
    shape = Shape(100, 64, 512, 512)
    results = [_result("cpu", "fwd", 200.0), _result("ref", "fwd", 3000.0, runs=1),
               _result("torch", "fwd", 500.0), _result("ort", "fwd", 400.0),
               _result("cpu", "train", 400.0), _result("torch", "train", 600.0),
               dict(cell="lstm", kind="train", shape=[100, 64, 512, 512], peer="ref", threads=1,
                    repeats=5, error="RuntimeError: boom"),
               _result("gemm", "in", 50.0), _result("gemm", "rec", 100.0)]
    body = table.rows(results, ["cpu", "ref", "torch", "ort", "gemm"], ["lstm"], ["fwd", "train"],
                      [shape], [1])
    header, fwd, train = body
    assert header == ["cell", "pass", "T,B,I,H", "thr", "cpu ms", "ref ms", "torch ms", "ort ms",
                      "cpu GF/s", "rival GF/s", "rival/cpu", "ref/cpu", "GEMM in", "rec", "all"]
    col = {name: i for i, name in enumerate(header)}
    assert fwd[:8] == ["lstm", "fwd", "100,64,512,512", "1", "200", "3000*", "500", "400"]
    assert fwd[col["rival/cpu"]] == "2.00" and fwd[col["ref/cpu"]] == "15.0"     # ort is the best rival
    forward = flops("lstm", "fwd", shape)                                          # 26.8 GFLOP
    assert float(fwd[col["cpu GF/s"]]) == pytest.approx(forward / 200e6, rel=0.01)
    assert float(fwd[col["rival GF/s"]]) == pytest.approx(forward / 400e6, rel=0.01)
    assert float(fwd[col["GEMM in"]]) == pytest.approx(flops("lstm", "in", shape) / 50e6, rel=0.01)
    assert float(fwd[col["all"]]) == pytest.approx(forward / 150e6, rel=0.01)
    assert float(train[col["cpu GF/s"]]) == pytest.approx(3 * forward / 400e6, rel=0.01)
    assert train[col["ort ms"]] == "—" and train[col["ref ms"]] == "err"
    assert train[col["rival/cpu"]] == "1.50" and train[col["ref/cpu"]] == "—"
    text = table.render(body)
    assert len(text.splitlines()) == 3 and "rival/cpu" in text.splitlines()[0]
    assert table.render(body, markdown=True).splitlines()[1].startswith("| --- |")


def test_tiny_run_fills_every_cell_of_every_present_peer(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--shapes", "3,2,4,5", "--threads", "1", "--repeats", "1",
                     "--ref-repeats", "1", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    saved = json.loads(path.read_text())
    ran = {r["peer"] for r in saved["results"]}
    assert ran | set(saved["skipped"]) == {"cpu", "ref", "torch", "ort", "gemm"}
    assert {"ref", "gemm"} <= ran
    columns, rows = saved["columns"], saved["rows"]
    assert [row[:4] for row in rows] == [[c, k, "3,2,4,5", "1"] for c in ("lstm", "gru")
                                         for k in ("fwd", "train")]
    for row in rows:
        cells = dict(zip(columns, row))
        for peer in ran - {"gemm"}:
            if peer == "ort" and cells["pass"] == "train":
                assert cells["ort ms"] == "—"
            else:
                assert float(cells[f"{peer} ms"]) > 0, (peer, row)
        assert float(cells["GEMM in"]) > 0 and float(cells["all"]) > 0
    assert saved["table"] in out and saved["errors"] == {}
    # each peer in a process of its own, never two threaded runtimes in one
    pids = [p["pid"] for p in saved["processes"].values()]
    assert len(set(pids)) == len(pids) == len(ran) and os.getpid() not in pids
    for where, process in saved["processes"].items():
        assert len(process["runtimes"]) <= 1, (where, process)


def test_cuda_device_without_a_gpu_fails_with_a_clear_message(capsys):
    if bench._gpu_problem() is None:
        pytest.skip("a CUDA GPU is present")
    assert cli.main(["bench", "--device", "cuda"]) == 2
    assert "fastrnn bench --device cuda:" in capsys.readouterr().err
