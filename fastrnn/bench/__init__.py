"""``fastrnn bench``: fastrnn side by side with its peers, one table per run.

Times, in float32, the inference forward ("fwd") and the training step
("train": forward with a tape, then backward, or autograd's backward) of
LSTM and GRU at each shape and thread count, for every peer present:

    cpu    fastrnn's Numba CPU kernels        ref    fastrnn's NumPy reference
    torch  PyTorch nn.LSTM / nn.GRU           ort    ONNX Runtime (inference only)
    gemm   NumPy's float32 GEMM at the same sizes: the ceiling

and with ``--device cuda`` fastrnn's numba.cuda kernels ("cuda") on device
arrays against PyTorch with cuDNN. On the CPU each peer runs in a process
of its own for each shape and thread count, the peers of a shape one after
the other (on CUDA, one process per peer); each time is the median of the
repeats after a warm-up, shown with the fastest and slowest run.

A shared machine makes timings lie, so each row also says how busy the
machine was with OTHER processes' work while it was measured ("load"):
the parent samples /proc/loadavg's runnable count (its 4th field) every
0.1 s while a task is timed and subtracts the runnable threads of its own
processes (itself, the workers with all their threads, the --load busy
processes), read from /proc/<pid>/task/*/stat. The mean of what remains is
the row's load; a row above 0.5 is marked "!", not a clean result. The
1-minute load average is recorded too (JSON: loadavg_before/after), but it
counts our own workers and decays over a minute, so it flags nothing.
A host can also slow the cores without any process showing it (a VM whose
vCPUs share physical cores with another tenant): a fixed loop is timed alone
and in one copy per core before and after the measurements (``host``), and
the header flags a run whose copies slowed each other beyond 1.15×.
A host like that also changes state from minute to minute (its cores run
at one speed for a while, then 1.3-1.5× slower), which a peer timed in one
state and its rival in the other turns into a false ratio. ``--rounds R``
runs the peers of each shape R times over, interleaved (cpu, torch, ort,
cpu, torch, ort, ...), each time in fresh processes, and keeps each peer's
fastest round (the lowest median): every peer gets R chances at the same
quiet moments (JSON: every round's rows, and ``rounds_ms`` in the kept one).
``--load N`` adds N busy processes of ours for the whole run (timings
under contention; they are not counted as load), ``--concurrent K`` runs K
copies of each worker at once (K fastrnn processes sharing the machine),
and ``--cpu-variants`` times the cpu backend once per FASTRNN_CPU_VARIANT.
"""
import argparse
import datetime
import glob
import itertools
import json
import os
import platform
import shlex
import signal
import subprocess
import sys

from . import host, load
from . import peers as _peers
from . import table
from .workloads import CELLS, PASSES, SHAPES, STEP, STREAM_SHAPES, parse_shape

#: variables inherited by the workers that change how a runtime waits or splits work: named in the header
TUNING_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_PROC_BIND", "OMP_PLACES",
                    "NUMBA_THREADING_LAYER", "OMP_DYNAMIC")


EPILOG = f"""\
peers:
{chr(10).join(f"  {name:<6} {peer.label}" for name, peer in _peers.PEERS.items())}
  Absent peers (not installed, no fastrnn.cpu module, ...) are skipped with a note.

environment of each benchmark process:
  {', '.join(_peers.THREAD_VARIABLES)} are set to the thread count
  (and torch.set_num_threads, ORT's intra_op_num_threads, fastrnn.set_num_threads);
  {' and '.join(_peers.OPENBLAS_OVERRIDES)} are removed (they slow NumPy's
  OpenBLAS on this kind of machine). These changes apply to those processes only;
  the rest of the environment is inherited, and {', '.join(TUNING_VARIABLES[:3])}
  and the like, when set, are named in the header (OMP_WAIT_POLICY=PASSIVE changes PyTorch's
  timings under contention by two orders of magnitude).

columns:
  <peer> ms     median milliseconds per call; * = fewer runs than asked (--time-cap)
  <peer> min–max  the fastest and the slowest timed run (with --concurrent, of all copies)
  GF/s          FLOPs / time; forward ≈ 2·T·B·G·H·(I+H) with G = 4 (LSTM), 3 (GRU);
                training step ≈ 3× forward
  rival/<ours>  the fastest of torch and ort ÷ fastrnn (> 1: fastrnn is faster)
  ref/<ours>    the reference ÷ fastrnn
  GEMM in, rec, all   GF/s of the float32 GEMMs of a forward: the input projection
                (T·B × I)·(I × G·H), the T recurrent products (B × H)·(H × G·H), both
  load          how busy OTHER processes kept the machine while the row was timed: the mean
                of /proc/loadavg's runnable count (4th field), sampled every 0.1 s by the
                parent, minus the runnable threads of our own processes (the parent, the
                workers' threads, the --load processes; /proc/<pid>/task/*/stat), the worst
                of the row's peers; ! = measured at load > 0.5 from other processes: not a
                clean result. The JSON also keeps, per result, the 1-minute load average
                before the worker started and when the task ended (it counts our own
                workers, decaying over a minute, so it flags nothing), the CPU time others
                used (cpu_others, in cores) and the hypervisor's steal fraction.

host check:
  before and after the measurements a fixed pure-Python loop runs alone and in one copy per
  core used at once (fastrnn/bench/host.py); the header gives the slowdown side by side and
  flags a run above 1.15x: a VM's host slowing the cores, which /proc does not show

contention:
  --load N        N pure-Python spin loops of ours run during every timing (started
                  before the first worker, always killed at the end, Ctrl-C and SIGTERM
                  included); load and ! count only what is beyond them. They run in a
                  session of their own, like another user's work: under Linux's autogroup
                  scheduling that competes harder than a process of the bench's session
  --concurrent K  K copies of each worker (same peer, shape, threads) at once, each task
                  started in all copies at the same moment; ms = median of the copies'
                  medians, min–max over all their runs (the copies share the bench's session)
  --cpu-variants  the cpu peer once per variant, each in its own worker with
                  FASTRNN_CPU_VARIANT=<variant> in its environment; columns cpu (auto) and
                  cpu:<variant>; the ratios compare with the first
"""


def _list(choices=None, convert=str):
    """An argparse type for a comma-separated list, each item converted and checked."""
    def parse(text):
        try:
            items = [convert(item.strip()) for item in text.split(",") if item.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        bad = [item for item in items if choices is not None and item not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices)}"
                                             if choices else "expected a comma-separated list")
        return items
    return parse


def _positive(text):
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text}")
    return value


def _natural(text):
    value = int(text)
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {text}")
    return value


def _seconds(text):
    value = float(text)
    if not value >= 0:
        raise ValueError(f"expected a non-negative number of seconds, got {text}")
    return value


def _shape(text):
    try:
        return parse_shape(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser):
    parser.description = __doc__
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    default_shapes = " ".join(",".join(map(str, s)) for s in SHAPES)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu (default), or cuda: fastrnn's cuda backend vs PyTorch/cuDNN on a GPU; "
                             "--threads is then ignored")
    parser.add_argument("--shapes", nargs="+", type=_shape, default=list(SHAPES), metavar="T,B,I,H",
                        help=f"shapes to time (default: {default_shapes})")
    parser.add_argument("--cells", type=_list(CELLS), default=list(CELLS), metavar="LIST",
                        help="comma-separated cells (default: lstm,gru)")
    parser.add_argument("--passes", type=_list(PASSES), default=list(PASSES), metavar="LIST",
                        help="fwd (inference), train (forward + backward); default: fwd,train")
    parser.add_argument("--stream", action="store_true",
                        help="time one streaming step (T = 1, the state carried) instead of the "
                             "passes: fastrnn's module.stream().step, ORT's LSTM/GRU node with "
                             "initial_h/initial_c fed back, torch's module on one frame; default "
                             "shapes " + " ".join(",".join(map(str, s)) for s in STREAM_SHAPES)
                             + ", peers cpu,torch,ort")
    parser.add_argument("--threads", type=_list(convert=_positive), default=[1, 2], metavar="LIST",
                        help="thread counts (default: 1,2)")
    parser.add_argument("--peers", type=_list(tuple(_peers.PEERS)), default=None, metavar="LIST",
                        help="peers to run (default: all present for the device: "
                             "cpu,ref,torch,ort,gemm or cuda,torch,gemm); e.g. drop ref at big shapes")
    parser.add_argument("--repeats", type=_positive, default=5,
                        help="timed runs per measurement; the median is reported (default: 5)")
    parser.add_argument("--ref-repeats", type=_positive, default=3,
                        help="timed runs for the slow reference (default: 3)")
    parser.add_argument("--warmup", type=_natural, default=1,
                        help="at least this many untimed runs first (default: 1; 0: no warm-up)")
    parser.add_argument("--warmup-time", type=_seconds, default=0.3, metavar="SECONDS",
                        help="and more untimed runs until they took this long (default: 0.3): "
                             "a fast call needs tens of calls to settle, not one")
    parser.add_argument("--min-time", type=_seconds, default=0.2, metavar="SECONDS",
                        help="more timed runs than --repeats until they took this long "
                             "(default: 0.2; at most 1000 runs)")
    parser.add_argument("--time-cap", type=float, default=30.0, metavar="SECONDS",
                        help="stop a measurement's repeats (after the first) once they took this "
                             "long; marked * in the table (default: 30)")
    parser.add_argument("--rounds", type=_positive, default=1, metavar="R",
                        help="run the peers of each shape R times, interleaved, and keep each "
                             "peer's fastest round: robust to a host whose speed changes from "
                             "minute to minute (default: 1)")
    parser.add_argument("--load", type=_natural, default=0, metavar="N",
                        help="run N busy processes (pure-Python spin loops) during all timings "
                             "(default: 0)")
    parser.add_argument("--concurrent", type=_positive, default=1, metavar="K",
                        help="run K copies of each worker at once and report the median of their "
                             "medians (default: 1)")
    parser.add_argument("--cpu-variants", type=_list(), default=["auto"], metavar="LIST",
                        help="time the cpu peer once per FASTRNN_CPU_VARIANT value, each in its own "
                             "worker: columns cpu (auto) and cpu:<variant> (default: auto)")
    parser.add_argument("--json", metavar="PATH", help="also save the results and the table as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def _gpu_problem():
    """None when a real CUDA GPU is usable here, else why not."""
    try:
        from numba import config, cuda
    except ImportError:
        return "numba-cuda is not installed (pip install 'fastrnn[cuda]')"
    if config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM=1 is set: the CUDA simulator is not a GPU to time"
    if not cuda.is_available():
        return "no CUDA GPU was found (numba.cuda.is_available() is False)"
    return None


def _machine():
    """One line: CPU model (with its family and model numbers and its caches per core, which
    tell apart CPUs that a VM names alike: an "AMD EPYC" is a Zen 4 at family 25, a Zen 5
    at 26), count, system, and how busy the machine is (other work skews timings)."""
    model = platform.processor() or platform.machine()
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not line.strip():
                    break                     # the first CPU's fields are enough
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name", model)
    detail = [f"family {fields['cpu family']}, model {fields['model']}"
              if "cpu family" in fields and "model" in fields else None, _caches()]
    detail = "; ".join(d for d in detail if d)
    model += f" ({detail})" if detail else ""
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}{load}"


def _caches():
    """The first CPU's data caches from sysfs, e.g. "L1d 48K, L2 1024K, L3 32768K", or None."""
    found = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        kind, level, size = ((load.read(os.path.join(index, name)) or "").strip()
                             for name in ("type", "level", "size"))
        if level and size and kind in ("Data", "Unified"):
            found.append(f"L{level}{'d' if kind == 'Data' else ''} {size}")
    return ", ".join(found) or None


def _plan(args):
    """(peers to run, {peer: why it is skipped}) for the options given."""
    wanted = args.peers or [p for p, peer in _peers.PEERS.items() if args.device in peer.devices]
    run, skipped = [], {}
    for name in wanted:
        why = _peers.why_unavailable(name, args.device)
        if why is not None:
            skipped[name] = why
        elif name == "cpu":
            run += [_variant_column(v) for v in dict.fromkeys(getattr(args, "cpu_variants", ["auto"]))]
        else:
            run.append(name)
    return run, skipped


def _variant_column(variant):
    """The column of the cpu peer run with FASTRNN_CPU_VARIANT=variant: cpu (auto), cpu:<variant>."""
    return "cpu" if variant == "auto" else f"cpu:{variant}"


def _variant(column):
    """The FASTRNN_CPU_VARIANT of a cpu column; None for other peers."""
    if table.base(column) != "cpu":
        return None
    return column.split(":", 1)[1] if ":" in column else "auto"


def _progress(row):
    shape = ",".join(map(str, row["shape"]))
    what = row.get("error") or (f"{row['ms']:.3f} ms ({min(row['ms_all']):.3f}–{max(row['ms_all']):.3f}, "
                                f"{row['runs']} runs)")
    where = "" if row.get("load") is None else (f"  load {row['load']:.2f}"
                                                + (load.FLAG if row.get("flagged") else ""))
    print(f"  {row['peer']:<9} {row['threads'] or '-'} thr  {row['cell']:<4} {row['kind']:<5} "
          f"{shape:<16} {what}{where}",
          file=sys.stderr, flush=True)


def _job(args, name, threads, shapes):
    """What one worker process does: every (cell, kind, shape) of column ``name`` at ``threads``."""
    peer_name = table.base(name)
    peer = _peers.PEERS[peer_name]
    kinds = [k for k in peer.kinds if k in args.passes or peer_name == "gemm"]
    variant = _variant(name)
    return dict(peer=peer_name, name=name, device=args.device, threads=threads, warmup=args.warmup,
                warmup_time=args.warmup_time, min_time=args.min_time,
                repeats=args.ref_repeats if peer_name == "ref" else args.repeats, time_cap=args.time_cap,
                env={} if variant is None else {"FASTRNN_CPU_VARIANT": variant},
                tasks=[(c, k, list(s)) for s in shapes for c in args.cells for k in kinds])


def _stream_defaults(args, argv):
    """--stream: the step pass, its shapes and peers, unless given."""
    if not args.stream:
        return
    args.passes = [STEP]
    if "--shapes" not in argv:
        args.shapes = list(STREAM_SHAPES)
    if args.peers is None:
        args.peers = [p for p in ("cpu", "torch", "ort") if p in _peers.PEERS]


def run(args):
    _stream_defaults(args, sys.argv)
    if args.stream and args.device == "cuda":
        print("fastrnn bench --stream: streaming is timed on the CPU only", file=sys.stderr)
        return 2
    if args.device == "cuda":
        problem = _gpu_problem()
        if problem:
            print(f"fastrnn bench --device cuda: {problem}", file=sys.stderr)
            return 2
    header = dict(command=_command(), date=_now(), machine=_machine(), device=args.device,
                  source=_source(), busy=args.load, concurrent=args.concurrent,
                  cpu_variants=args.cpu_variants)
    names, skipped = _plan(args)
    threads = [None] if args.device == "cuda" else args.threads
    results, infos, processes, errors = [], {}, {}, {}
    state = {}       # the host check of the current round's rows (none: ``_round_checks``)
    # the host's own contention, which /proc cannot see (``host``): before the --load
    # processes start and after they stop
    checks = {} if args.device == "cuda" else {"before": host.check(host.cores_for(threads))}
    # SIGTERM (from `timeout`, say) ends the run like Ctrl-C: the table shows what was measured
    previous = signal.signal(signal.SIGTERM, _interrupt)
    busy = load.Busy(args.load)
    try:
        busy.__enter__()
        # on the CPU the peers of one shape run one after the other: a shared machine's load
        # changes over minutes, so a row's ratios compare times taken close together; a GPU
        # is not shared, and one process per peer pays for its CUDA context and JIT once
        groups = [args.shapes] if args.device == "cuda" else [[s] for s in args.shapes]
        # with --rounds, the peers of one shape take turns round after round
        for thr, shapes, round_, name in itertools.product(threads, groups, range(args.rounds),
                                                           names):
            job = _job(args, name, thr, shapes)
            if _round_checks(args) and name == names[0]:
                # the host's state for this round of this shape, kept in its rows (not with
                # --load or --concurrent, whose own processes would slow the check)
                state = host.summary(host.check(host.cores_for([thr]), host.ROUND_TRIALS))

            def collect(row, job=job, round_=round_, state=state):
                row.update(peer=job["name"], threads=job["threads"], repeats=job["repeats"],
                           busy=args.load, concurrent=args.concurrent, flagged=load.flagged(row),
                           round=round_, **state)
                if _variant(job["name"]):
                    row["variant"] = _variant(job["name"])
                results.append(row)
                _progress(row)
                if "error" in row:
                    errors[f"{row['peer']} {row['cell']} {row['kind']} {row['shape']}"] = row["error"]
            outcome = _peers.run(job, collect, copies=args.concurrent, busy=busy.pids)
            where = f"{name} at {thr or '-'} threads, {' '.join(','.join(map(str, s)) for s in shapes)}"
            where += f", round {round_ + 1}" if args.rounds > 1 else ""
            infos[name], processes[where] = outcome.info, outcome.process
            if outcome.error:
                errors[where] = outcome.error
    except KeyboardInterrupt:
        errors["the run"] = "interrupted before the end; the table holds what was measured"
    finally:
        try:
            busy.stop()          # the --load processes never outlive the run
        finally:
            signal.signal(signal.SIGTERM, previous)
    if checks:
        checks["after"] = host.check(host.cores_for(threads))
    header["host_check"] = checks
    body = table.rows(table.fastest_rounds(results), names, args.cells, args.passes, args.shapes,
                      threads, fastest=table.fastest_check(results))
    text = _report(args, header, table.render(body, args.markdown), names, infos, skipped, errors)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(header, peers=infos, processes=processes, skipped=skipped, errors=errors,
                           results=results, columns=body[0], rows=body[1:], table=text), f, indent=1)
    return 1 if errors else 0


def _round_checks(args):
    """Whether the host is checked before each round of each shape (``host.summary``)."""
    return args.device == "cpu" and not args.load and args.concurrent == 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _command():
    return "fastrnn bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "fastrnn bench"


def _source():
    """The fastrnn source timed: its git commit (+ when fastrnn/ has uncommitted changes), if a checkout."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*argv):
        return subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "fastrnn")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" (git {commit}{'+' if dirty else ''})" if commit else ""


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _report(args, header, table_text, names, infos, skipped, errors):
    """The table with its title, what ran where, and the notes under it."""
    versions = {}
    for info in infos.values():
        versions.update({k: v for k, v in info.items() if k != "gpu"})
    gpu = next((info["gpu"] for info in infos.values() if "gpu" in info), None)
    ours = table.columns(names)[2] or "fastrnn"
    legend = [f"float32 · ms: median of ≥ {args.repeats} runs"
              + (f" (ref: {args.ref_repeats})" if "ref" in names else "")
              + (f" and ≥ {args.min_time:g} s" if args.min_time else "")
              + f" after ≥ {args.warmup} warm-up runs"
              + (f" and ≥ {args.warmup_time:g} s" if args.warmup_time and args.warmup else "")
              + f"; min–max = fastest–slowest run; * = cut short by --time-cap {args.time_cap:g} s"
              " · — = not run (ORT has no training step)"]
    variants = [n for n in names if table.base(n) == "cpu"]
    if variants != ["cpu"] and variants:
        legend.append("cpu variants (FASTRNN_CPU_VARIANT, one worker each): "
                      + ", ".join(f"{n} = {_variant(n)}" for n in variants))
    legend.append("load = mean runnable tasks of other processes while the row was timed "
                  "(sampled from /proc/loadavg every 0.1 s, our own processes and threads not "
                  "counted; the worst of the row's peers); " + load.LEGEND)
    if _round_checks(args):
        legend.append(host.LEGEND)
    if args.load:
        legend.append(f"--load {args.load}: {args.load} busy process{'es' * (args.load > 1)} of ours "
                      "(pure-Python spin loops, in a session of their own) ran during all timings; "
                      "load counts only what is beyond them")
    if args.concurrent > 1:
        legend.append(f"--concurrent {args.concurrent}: {args.concurrent} copies of each worker ran at "
                      "once, each task started in all at the same moment; ms = median of the copies' "
                      "medians, min–max over all their runs")
    if args.rounds > 1:
        legend.append(f"--rounds {args.rounds}: the peers of each shape ran {args.rounds} times, "
                      "interleaved, each in fresh processes; each row is the peer's fastest round "
                      "(the lowest median), its min–max and load that round's")
    if set(_peers.RIVALS) & set(names):
        legend.append(f"rival/{ours} = fastest of torch, ort ÷ {ours} (> 1: fastrnn is faster)")
    if "gemm" in names:
        legend.append("GEMM = GF/s of the float32 input projection (in), T recurrent products (rec), "
                      "both (all)")
    legend += [host.describe(when, result) for when, result in header["host_check"].items()]
    tuned = {k: v for k, v in sorted(os.environ.items()) if k in TUNING_VARIABLES}
    if tuned:
        legend.append("environment: " + " ".join(f"{k}={v}" for k, v in tuned.items())
                      + " (inherited by every worker)")
    lines = [f"$ {header['command']}",
             f"{header['date']} · {header['machine']}" + (f" · GPU {gpu}" if gpu else ""),
             " · ".join(f"{k} {v}" + (header["source"] if k == "fastrnn" else "")
                        for k, v in versions.items()),
             *legend, "", table_text]
    lines += [f"skipped {name}: {why}" for name, why in skipped.items()]
    lines += [f"error in {where}: {why}" for where, why in errors.items()]
    return "\n".join(lines)
