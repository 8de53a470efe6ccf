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
                runs=runs, repeats=5, ms_all=[ms * 0.9, ms, ms * 1.2], **extra)


def test_table_ratios_rates_spreads_and_marks():
    shape = Shape(100, 64, 512, 512)
    results = [_result("cpu", "fwd", 200.0, load=0.1), _result("ref", "fwd", 3000.0, runs=1),
               _result("torch", "fwd", 500.0), _result("ort", "fwd", 400.0, load=0.3),
               _result("cpu", "train", 400.0), _result("torch", "train", 600.0, load=1.25),
               dict(cell="lstm", kind="train", shape=[100, 64, 512, 512], peer="ref", threads=1,
                    repeats=5, error="RuntimeError: boom"),
               _result("gemm", "in", 50.0), _result("gemm", "rec", 100.0)]
    body = table.rows(results, ["cpu", "ref", "torch", "ort", "gemm"], ["lstm"], ["fwd", "train"],
                      [shape], [1])
    header, fwd, train = body
    assert header == ["cell", "pass", "T,B,I,H", "thr", "cpu ms", "cpu min–max", "ref ms", "ref min–max",
                      "torch ms", "torch min–max", "ort ms", "ort min–max", "cpu GF/s", "rival GF/s",
                      "rival/cpu", "ref/cpu", "GEMM in", "rec", "all", "load"]
    col = {name: i for i, name in enumerate(header)}
    assert fwd[:12] == ["lstm", "fwd", "100,64,512,512", "1", "200", "180–240", "3000*", "2700–3600",
                        "500", "450–600", "400", "360–480"]
    assert fwd[col["rival/cpu"]] == "2.00" and fwd[col["ref/cpu"]] == "15.0"     # ort is the best rival
    forward = flops("lstm", "fwd", shape)                                          # 26.8 GFLOP
    assert float(fwd[col["cpu GF/s"]]) == pytest.approx(forward / 200e6, rel=0.01)
    assert float(fwd[col["rival GF/s"]]) == pytest.approx(forward / 400e6, rel=0.01)
    assert float(fwd[col["GEMM in"]]) == pytest.approx(flops("lstm", "in", shape) / 50e6, rel=0.01)
    assert float(fwd[col["all"]]) == pytest.approx(forward / 150e6, rel=0.01)
    assert float(train[col["cpu GF/s"]]) == pytest.approx(3 * forward / 400e6, rel=0.01)
    assert train[col["ort ms"]] == train[col["ort min–max"]] == "—" and train[col["ref ms"]] == "err"
    assert train[col["ref min–max"]] == "—"
    assert train[col["rival/cpu"]] == "1.50" and train[col["ref/cpu"]] == "—"
    # the load column: the worst of the line's peers, ! above 0.5 from other processes
    assert fwd[col["load"]] == "0.30" and train[col["load"]] == "1.25!"
    text = table.render(body)
    assert len(text.splitlines()) == 3 and "rival/cpu" in text.splitlines()[0]
    assert text.splitlines()[2].endswith("1.25!")
    markdown = table.render(body, markdown=True).splitlines()
    assert markdown[1].startswith("| --- |") and markdown[1].count("|") == markdown[0].count("|")
    assert markdown[2].startswith("| lstm | fwd | 100,64,512,512 | 1 | 200 | 180–240 |")
    assert markdown[3].endswith("| 1.25! |")


def test_table_without_load_figures_shows_a_dash():
    body = table.rows([_result("cpu", "fwd", 2.0)], ["cpu"], ["lstm"], ["fwd"], [Shape(100, 64, 512, 512)],
                      [1])
    assert body[0][-1] == "load" and body[1][-1] == "—"


def test_cpu_variant_columns_compare_with_the_first():
    shape = Shape(100, 64, 512, 512)
    results = [_result("cpu:units", "fwd", 100.0), _result("cpu", "fwd", 200.0),
               _result("torch", "fwd", 300.0)]
    body = table.rows(results, ["cpu:units", "cpu", "torch"], ["lstm"], ["fwd"], [shape], [1])
    header, line = body
    assert header[4:10] == ["cpu:units ms", "cpu:units min–max", "cpu ms", "cpu min–max", "torch ms",
                            "torch min–max"]
    col = {name: i for i, name in enumerate(header)}
    assert "cpu:units GF/s" in col and "rival/cpu:units" in col
    assert line[col["rival/cpu:units"]] == "3.00"
    assert (line[col["cpu:units ms"]], line[col["cpu ms"]]) == ("100", "200")


def test_tiny_run_fills_every_cell_of_every_present_peer(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--shapes", "3,2,4,5", "--threads", "1", "--repeats", "1",
                     "--ref-repeats", "1", "--warmup-time", "0", "--min-time", "0", "--json", str(path)])
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
                low, high = map(float, cells[f"{peer} min–max"].split("–"))
                assert 0 < low <= high, (peer, row)
        assert float(cells["GEMM in"]) > 0 and float(cells["all"]) > 0
    assert saved["table"] in out and saved["errors"] == {}
    assert "load = mean runnable tasks of other processes" in out and bench.load.LEGEND in out
    for result in saved["results"]:
        assert {"load", "load_max", "load_samples", "loadavg_before", "loadavg_after", "cpu_others",
                "steal", "flagged"} <= result.keys()
        if os.path.exists("/proc/loadavg"):
            assert result["load"] >= 0 and result["load_samples"] >= 1 and result["loadavg_before"] >= 0
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
