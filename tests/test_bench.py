"""`fastrnn bench`: option parsing, FLOP counts, the table's arithmetic, and one tiny end-to-end run.

Timings are never asserted (the machine is shared); what is checked is that
every peer present produces a number in the right cell and that the ratios
and rates are computed from them correctly.
"""
import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fastrnn import bench, cli
from fastrnn.bench import host, load, peers, table
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
                      "rival/cpu", "ref/cpu", "GEMM in", "rec", "all", "% GEMM", "load"]
    col = {name: i for i, name in enumerate(header)}
    assert fwd[:12] == ["lstm", "fwd", "100,64,512,512", "1", "200", "180–240", "3000*", "2700–3600",
                        "500", "450–600", "400", "360–480"]
    assert fwd[col["rival/cpu"]] == "2.00" and fwd[col["ref/cpu"]] == "15.0"     # ort is the best rival
    forward = flops("lstm", "fwd", shape)                                          # 26.8 GFLOP
    assert float(fwd[col["cpu GF/s"]]) == pytest.approx(forward / 200e6, rel=0.01)
    assert float(fwd[col["rival GF/s"]]) == pytest.approx(forward / 400e6, rel=0.01)
    assert float(fwd[col["GEMM in"]]) == pytest.approx(flops("lstm", "in", shape) / 50e6, rel=0.01)
    assert float(fwd[col["all"]]) == pytest.approx(forward / 150e6, rel=0.01)
    assert fwd[col["% GEMM"]] == "75"          # 200 ms against the products' 150 ms
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
    # the host check, before and after, in the header and the JSON (one thread: one copy)
    assert set(saved["host_check"]) == {"before", "after"}
    for when, check in saved["host_check"].items():
        assert check["copies"] == 1 and not check["flagged"] and len(check["alone_ms"]) == host.TRIALS
        assert f"host check {when}: a fixed loop took" in out
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


# --- contention options, load figures, busy processes, copies and cpu variants -------------------

def test_contention_and_variant_options():
    args = parse()
    assert (args.load, args.concurrent, args.cpu_variants, args.rounds) == (0, 1, ["auto"], 1)
    assert args.warmup >= 1 and args.warmup_time > 0 and args.min_time > 0
    args = parse("--load", "2", "--concurrent", "3", "--cpu-variants", "auto, units,nosuch",
                 "--warmup", "0", "--warmup-time", "0", "--min-time", "0.5")
    assert (args.load, args.concurrent, args.cpu_variants) == (2, 3, ["auto", "units", "nosuch"])
    assert (args.warmup, args.warmup_time, args.min_time) == (0, 0.0, 0.5)


@pytest.mark.parametrize("argv", [["--load", "-1"], ["--concurrent", "0"], ["--cpu-variants", ","],
                                  ["--rounds", "0"],
                                  ["--warmup", "-1"], ["--min-time", "-1"], ["--warmup-time", "nan"]])
def test_bad_contention_options_are_refused(capsys, argv):
    with pytest.raises(SystemExit):
        parse(*argv)
    assert argv[0] in capsys.readouterr().err


def test_help_documents_load_flags_and_contention():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = " ".join(parser.format_help().split())
    for words in ("/proc/loadavg", "runnable", "! = measured at load > 0.5 from other processes",
                  "--load N", "--concurrent K", "--rounds R", "FASTRNN_CPU_VARIANT", "min–max"):
        assert words in out


def test_cpu_variants_are_columns_and_worker_environments(monkeypatch):
    monkeypatch.setattr(peers, "why_unavailable", lambda name, device: None)
    args = parse("--peers", "cpu,torch", "--cpu-variants", "units,auto,units,nosuch")
    names, skipped = bench._plan(args)
    assert names == ["cpu:units", "cpu", "cpu:nosuch", "torch"] and skipped == {}
    job = bench._job(args, "cpu:nosuch", 2, [Shape(3, 2, 4, 5)])
    assert job["peer"] == "cpu" and job["name"] == "cpu:nosuch"
    assert job["env"] == {"FASTRNN_CPU_VARIANT": "nosuch"}
    assert bench._job(args, "cpu", 2, [Shape(3, 2, 4, 5)])["env"] == {"FASTRNN_CPU_VARIANT": "auto"}
    assert bench._job(args, "torch", 2, [Shape(3, 2, 4, 5)])["env"] == {}
    env = peers.child_env(2, job["env"])
    assert env["FASTRNN_CPU_VARIANT"] == "nosuch" and env["NUMBA_NUM_THREADS"] == "2"


def test_proc_parsers():
    assert load.parse_loadavg("0.52 0.31 0.14 3/83 3454\n") == dict(load1=0.52, running=3, total=83)
    assert load.parse_loadavg("") is None and load.parse_loadavg(None) is None
    cpu = load.parse_cpu_times("cpu  100 5 20 800 10 1 2 30 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert cpu == dict(busy=128, total=968, steal=30)
    # a command name may hold spaces and parentheses: the fields after the last ")" count
    stat = "42 (a (b) c) R 1 42 42 0 -1 4194304 0 0 0 0 250 50 0 0 20 0 1 0"
    assert load.parse_task_stat(stat) == ("R", 300)
    assert load.parse_task_stat("garbage") is None


def test_segment_figures():
    before, after = dict(busy=1000, total=2000, steal=10), dict(busy=1300, total=2400, steal=30)
    out = load.segment([0, 1, 2, 1], before, after, 500, 700)
    assert out == dict(load=1.0, load_max=2, load_samples=4, steal=0.05,
                       cpu_others=round(100 / 400 * (os.cpu_count() or 1), 2))
    assert load.segment([], None, None, None, None) == dict(
        load=None, load_max=None, load_samples=0, cpu_others=None, steal=None)
    assert load.flagged(dict(load=0.6)) and not load.flagged(dict(load=0.5))
    assert not load.flagged(dict(load=None)) and not load.flagged({})


def test_sampler_counts_only_other_processes(monkeypatch):
    """The machine's runnable count minus ours: with --load N the N busy processes are ours."""
    sampler = load.Sampler(lambda: [1, 2, 3])
    sampler.available, sampler.others = True, []
    readings = iter([dict(load1=3.0, running=5, total=90), dict(load1=3.0, running=3, total=90)])
    monkeypatch.setattr(load, "loadavg", lambda: next(readings))
    # ours: the reader, 2 busy processes and a worker thread running, then just the busy ones + reader
    ours = iter([(4, 0), (3, 0)])
    monkeypatch.setattr(load, "ours_now", lambda pids: next(ours))
    sampler.sample(force=True)
    sampler.sample(force=True)
    assert sampler.others == [1, 0]


def _spinners_of(parent):
    """The pids of live --load spin processes started by ``parent`` (their argument is its pid)."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if load.SPIN.encode() in argv and str(parent).encode() in argv:
            try:
                with open(os.path.join(os.path.dirname(path), "stat")) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(path.split("/")[2]))
            except (OSError, IndexError):
                pass
    return found


def _wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")


@needs_proc
def test_busy_processes_spin_and_always_stop():
    with load.Busy(2) as busy:
        # right after the fork a child's /proc cmdline is still ours until it has exec'd
        assert len(busy.pids) == 2
        assert _wait_for(lambda: sorted(_spinners_of(os.getpid())) == sorted(busy.pids))
        # a spin loop is always runnable once it runs: the sampler counts it as ours
        assert _wait_for(lambda: load.ours_now(busy.pids)[0] == 2)
    assert _spinners_of(os.getpid()) == []
    with pytest.raises(KeyboardInterrupt):
        with load.Busy(1) as busy:
            raise KeyboardInterrupt
    assert busy.processes[0].returncode is not None and _spinners_of(os.getpid()) == []


@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_busy_processes_do_not_survive_the_bench(signum):
    """SIGTERM: the bench stops them before it exits; SIGKILL: they notice their parent is gone."""
    child = subprocess.Popen([sys.executable, "-m", "fastrnn.cli", "bench", "--peers", "ref", "--load", "2",
                              "--shapes", "3,2,4,5", "--threads", "1", "--cells", "lstm", "--passes", "fwd",
                              "--warmup-time", "60", "--time-cap", "60"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(_spinners_of(child.pid)) == 2)
        child.send_signal(signum)
        child.wait(timeout=30)
        assert _wait_for(lambda: _spinners_of(child.pid) == [], timeout=10), _spinners_of(child.pid)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pid in _spinners_of(child.pid):
            os.kill(pid, signal.SIGKILL)


def test_copies_combine_median_of_medians_and_all_runs():
    rows = [dict(task=0, cell="gru", kind="fwd", shape=[3, 2, 4, 5], ms=m, runs=r, ms_all=a, warmup_runs=3)
            for m, r, a in ((2.0, 3, [1.5, 2.0, 2.5]), (4.0, 2, [3.0, 5.0]), (3.0, 3, [3.0, 3.0, 3.0]))]
    row = peers.combine(rows)
    assert (row["ms"], row["runs"], min(row["ms_all"]), max(row["ms_all"])) == (3.0, 2, 1.5, 5.0)
    assert [c["ms"] for c in row["copies"]] == [2.0, 4.0, 3.0] and row["cell"] == "gru"
    assert peers.combine(rows[:1]) == rows[0]
    failed = peers.combine([rows[0], dict(rows[1], error="ValueError: no")])
    assert failed["error"] == "1 of 2 copies failed: ValueError: no" and "ms" not in failed


def test_rounds_keep_each_measurements_fastest_round():
    def row(peer, ms, round_, **extra):
        return dict(peer=peer, cell="lstm", kind="fwd", shape=[3, 2, 4, 5], threads=2, ms=ms,
                    ms_all=[ms], round=round_, **extra)
    kept = table.fastest_rounds([row("cpu", 3.0, 0), row("torch", 2.0, 0), row("cpu", 1.5, 1),
                                 row("torch", 2.5, 1), row("cpu", 2.0, 2), row("torch", 4.0, 2)])
    by_peer = {r["peer"]: r for r in kept}
    assert (by_peer["cpu"]["ms"], by_peer["cpu"]["round"], by_peer["cpu"]["rounds_ms"]) == \
        (1.5, 1, [3.0, 1.5, 2.0])
    assert (by_peer["torch"]["ms"], by_peer["torch"]["rounds_ms"]) == (2.0, [2.0, 2.5, 4.0])
    # a failed round makes the measurement an error, whichever round it was
    failed = row("cpu", None, 1, error="ValueError: no")
    for order in ([row("cpu", 3.0, 0), failed], [failed, row("cpu", 3.0, 0)]):
        (kept,) = table.fastest_rounds(order)
        assert kept["error"] == "ValueError: no"
    assert table.fastest_rounds([row("cpu", 3.0, 0)])[0]["rounds_ms"] == [3.0]


def test_rows_timed_while_the_host_was_slow_are_marked():
    def row(threads, alone, slowdown, load_=0.0):
        return dict(peer="cpu", cell="lstm", kind="fwd", shape=[3, 2, 4, 5], threads=threads,
                    ms=1.0, ms_all=[1.0], runs=5, repeats=5, load=load_, host_alone_ms=alone,
                    host_slowdown=slowdown)
    assert not host.slow(row(2, 30.0, 1.1), 30.0) and host.slow(row(2, 30.0, 1.2), 30.0)
    # one thread: the cores slowing each other does not matter, one slow core does
    assert not host.slow(row(1, 30.0, 1.5), 30.0) and host.slow(row(1, 40.0, 1.0), 30.0)
    assert not host.slow(dict(threads=2), 30.0)     # no check (--load, --concurrent, cuda)
    rows = [row(1, 30.0, 1.0), row(2, 31.0, 1.3, load_=0.7)]
    body = table.rows(rows, ["cpu"], ["lstm"], ["fwd"], [Shape(3, 2, 4, 5)], [1, 2])
    loads = [line[-1] for line in body[1:]]
    assert loads == ["0.00", "0.70" + load.FLAG + host.FLAG]
    # against the run's fastest check, which may be in a round that was not kept
    assert table.fastest_check(rows + [dict(threads=1)]) == 30.0
    body = table.rows(rows, ["cpu"], ["lstm"], ["fwd"], [Shape(3, 2, 4, 5)], [1, 2], fastest=20.0)
    assert [line[-1] for line in body[1:]] == ["0.00" + host.FLAG, "0.70" + load.FLAG + host.FLAG]


def test_tiny_run_in_rounds(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--peers", "ref,gemm", "--shapes", "3,2,4,5", "--cells", "gru",
                     "--passes", "fwd", "--threads", "1", "--ref-repeats", "1", "--rounds", "3",
                     "--warmup-time", "0", "--min-time", "0", "--json", str(path)])
    out = capsys.readouterr().out
    saved = json.loads(path.read_text())
    assert code == 0, saved["errors"]
    assert "--rounds 3: the peers of each shape ran 3 times, interleaved" in out
    assert host.LEGEND in out
    for result in saved["results"]:    # each round's host check, in its rows
        assert result["host_alone_ms"] > 0 and result["host_slowdown"] > 0
    # every round in fresh processes, taking turns: ref, gemm, ref, gemm, ref, gemm
    assert len({p["pid"] for p in saved["processes"].values()}) == len(saved["processes"]) == 6
    refs = [r for r in saved["results"] if r["peer"] == "ref"]
    assert [r["round"] for r in refs] == [0, 1, 2]
    assert [r["peer"] for r in saved["results"]] == ["ref", "gemm", "gemm"] * 3
    cells = dict(zip(saved["columns"], saved["rows"][0]))
    assert float(cells["ref ms"]) == pytest.approx(min(r["ms"] for r in refs), rel=0.01, abs=1e-3)


@needs_proc
def test_tiny_concurrent_run_of_the_reference(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--peers", "ref", "--shapes", "3,2,4,5", "--cells", "lstm,gru",
                     "--passes", "fwd", "--threads", "1", "--ref-repeats", "2", "--concurrent", "2",
                     "--load", "1", "--warmup-time", "0", "--min-time", "0", "--json", str(path)])
    out = capsys.readouterr().out
    saved = json.loads(path.read_text())
    assert code == 0, saved["errors"]
    assert _spinners_of(os.getpid()) == []
    assert "--concurrent 2: 2 copies of each worker ran at once" in out and saved["concurrent"] == 2
    assert "--load 1: 1 busy process of ours" in out and saved["busy"] == 1
    (process,) = saved["processes"].values()
    assert len(set(process["pids"])) == 2 and os.getpid() not in process["pids"]
    assert [r["cell"] for r in saved["results"]] == ["lstm", "gru"]
    for result in saved["results"]:
        assert len(result["copies"]) == 2 and result["copies_timed"] == 2 and result["concurrent"] == 2
        assert all(c["runs"] == 2 for c in result["copies"]) and len(result["ms_all"]) == 4
        assert result["load"] is not None and result["flagged"] == (result["load"] > load.THRESHOLD)
    for row in saved["rows"]:
        cells = dict(zip(saved["columns"], row))
        assert float(cells["ref ms"]) > 0 and cells["ref min–max"].count("–") == 1
        assert cells["load"] != "—"


def test_unknown_cpu_variant_is_an_error_per_row(tmp_path, capsys):
    if peers.why_unavailable("cpu", "cpu"):
        pytest.skip(peers.why_unavailable("cpu", "cpu"))
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--peers", "cpu", "--cpu-variants", "no-such-variant", "--shapes", "3,2,4,5",
                     "--cells", "gru", "--passes", "fwd", "--threads", "1", "--repeats", "1",
                     "--warmup-time", "0", "--min-time", "0", "--json", str(path)])
    capsys.readouterr()
    saved = json.loads(path.read_text())
    assert code == 1 and saved["columns"][4] == "cpu:no-such-variant ms"
    assert saved["rows"][0][4] == "err"
    (result,) = saved["results"]
    assert result["peer"] == "cpu:no-such-variant" and result["variant"] == "no-such-variant"
    assert "no-such-variant" in result["error"]


def test_header_names_inherited_tuning_variables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    code = cli.main(["bench", "--peers", "gemm", "--shapes", "3,2,4,5", "--threads", "1", "--repeats", "1",
                     "--cells", "lstm", "--warmup-time", "0", "--min-time", "0"])
    assert code == 0
    assert "environment: OMP_WAIT_POLICY=PASSIVE (inherited by every worker)" in capsys.readouterr().out


def test_host_check_times_the_loop_alone_and_side_by_side():
    result = host.check(2, trials=2, n=20_000)
    assert result["copies"] == 2 and len(result["alone_ms"]) == len(result["together_ms"]) == 2
    assert all(t > 0 for t in result["alone_ms"] + result["together_ms"])
    median = sorted(result["together_ms"])[1] / 2 + sorted(result["together_ms"])[0] / 2
    alone = sorted(result["alone_ms"])[1] / 2 + sorted(result["alone_ms"])[0] / 2
    assert result["slowdown"] == pytest.approx(median / alone)
    assert result["flagged"] == (result["slowdown"] > host.THRESHOLD)
    with pytest.raises(ValueError, match="copies ≥ 1"):
        host.check(0)


def test_host_check_flags_cores_that_slow_each_other():
    slow = dict(alone_ms=[50.0, 52.0, 51.0], together_ms=[90.0, 80.0, 85.0], copies=2,
                slowdown=85 / 51, flagged=True)
    line = host.describe("before", slow)
    assert line.startswith("host check before: a fixed loop took 50-52 ms alone, 1.67× that in "
                           "2 copies at once") and "! above 1.15×" in line
    fine = dict(slow, together_ms=[52.0, 53.0, 52.0], slowdown=52 / 51, flagged=False)
    assert "!" not in host.describe("after", fine)
    assert host.cores_for([1, 2]) == min(2, os.cpu_count()) and host.cores_for([None]) == 1
