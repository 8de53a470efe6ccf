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
repeats after a warm-up.
"""
import argparse
import datetime
import itertools
import json
import os
import platform
import shlex
import signal
import subprocess
import sys

from . import peers as _peers
from . import table
from .workloads import CELLS, PASSES, SHAPES, parse_shape

EPILOG = f"""\
peers:
{chr(10).join(f"  {name:<6} {peer.label}" for name, peer in _peers.PEERS.items())}
  Absent peers (not installed, no fastrnn.cpu module, ...) are skipped with a note.

environment of each benchmark process:
  {', '.join(_peers.THREAD_VARIABLES)} are set to the thread count
  (and torch.set_num_threads, ORT's intra_op_num_threads, fastrnn.set_num_threads);
  {' and '.join(_peers.OPENBLAS_OVERRIDES)} are removed (they slow NumPy's
  OpenBLAS on this kind of machine). Only these processes: nothing else changes.

columns:
  <peer> ms     median milliseconds per call; * = fewer runs than asked (--time-cap)
  GF/s          FLOPs / time; forward ≈ 2·T·B·G·H·(I+H) with G = 4 (LSTM), 3 (GRU);
                training step ≈ 3× forward
  rival/<ours>  the fastest of torch and ort ÷ fastrnn (> 1: fastrnn is faster)
  ref/<ours>    the reference ÷ fastrnn
  GEMM in, rec, all   GF/s of the float32 GEMMs of a forward: the input projection
                (T·B × I)·(I × G·H), the T recurrent products (B × H)·(H × G·H), both
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
    parser.add_argument("--threads", type=_list(convert=_positive), default=[1, 2], metavar="LIST",
                        help="thread counts (default: 1,2)")
    parser.add_argument("--peers", type=_list(tuple(_peers.PEERS)), default=None, metavar="LIST",
                        help="peers to run (default: all present for the device: "
                             "cpu,ref,torch,ort,gemm or cuda,torch,gemm); e.g. drop ref at big shapes")
    parser.add_argument("--repeats", type=_positive, default=5,
                        help="timed runs per measurement; the median is reported (default: 5)")
    parser.add_argument("--ref-repeats", type=_positive, default=3,
                        help="timed runs for the slow reference (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    parser.add_argument("--time-cap", type=float, default=30.0, metavar="SECONDS",
                        help="stop a measurement's repeats (after the first) once they took this "
                             "long; marked * in the table (default: 30)")
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
    """One line: CPU model and count, system, and how busy the machine is (other work skews timings)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}{load}"


def _plan(args):
    """(peers to run, {peer: why it is skipped}) for the options given."""
    wanted = args.peers or [p for p, peer in _peers.PEERS.items() if args.device in peer.devices]
    run, skipped = [], {}
    for name in wanted:
        why = _peers.why_unavailable(name, args.device)
        if why is None:
            run.append(name)
        else:
            skipped[name] = why
    return run, skipped


def _progress(row):
    shape = ",".join(map(str, row["shape"]))
    what = row.get("error") or f"{row['ms']:.3f} ms ({row['runs']} runs)"
    print(f"  {row['peer']:<5} {row['threads'] or '-'} thr  {row['cell']:<4} {row['kind']:<5} "
          f"{shape:<16} {what}",
          file=sys.stderr, flush=True)


def _job(args, name, threads, shapes):
    """What one worker process does: every (cell, kind, shape) of peer ``name`` at ``threads``."""
    peer = _peers.PEERS[name]
    kinds = [k for k in peer.kinds if k in args.passes or name == "gemm"]
    return dict(peer=name, device=args.device, threads=threads, warmup=args.warmup,
                repeats=args.ref_repeats if name == "ref" else args.repeats, time_cap=args.time_cap,
                tasks=[(c, k, list(s)) for s in shapes for c in args.cells for k in kinds])


def run(args):
    if args.device == "cuda":
        problem = _gpu_problem()
        if problem:
            print(f"fastrnn bench --device cuda: {problem}", file=sys.stderr)
            return 2
    header = dict(command=_command(), date=_now(), machine=_machine(), device=args.device,
                  source=_source())
    names, skipped = _plan(args)
    threads = [None] if args.device == "cuda" else args.threads
    results, infos, processes, errors = [], {}, {}, {}
    # SIGTERM (from `timeout`, say) ends the run like Ctrl-C: the table shows what was measured
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        # on the CPU the peers of one shape run one after the other: a shared machine's load
        # changes over minutes, so a row's ratios compare times taken close together; a GPU
        # is not shared, and one process per peer pays for its CUDA context and JIT once
        groups = [args.shapes] if args.device == "cuda" else [[s] for s in args.shapes]
        for thr, shapes, name in itertools.product(threads, groups, names):
            job = _job(args, name, thr, shapes)

            def collect(row, job=job):
                row.update(peer=job["peer"], threads=job["threads"], repeats=job["repeats"])
                results.append(row)
                _progress(row)
                if "error" in row:
                    errors[f"{row['peer']} {row['cell']} {row['kind']} {row['shape']}"] = row["error"]
            outcome = _peers.run(job, collect)
            where = f"{name} at {thr or '-'} threads, {' '.join(','.join(map(str, s)) for s in shapes)}"
            infos[name], processes[where] = outcome.info, outcome.process
            if outcome.error:
                errors[where] = outcome.error
    except KeyboardInterrupt:
        errors["the run"] = "interrupted before the end; the table holds what was measured"
    finally:
        signal.signal(signal.SIGTERM, previous)
    body = table.rows(results, names, args.cells, args.passes, args.shapes, threads)
    text = _report(args, header, table.render(body, args.markdown), names, infos, skipped, errors)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(header, peers=infos, processes=processes, skipped=skipped, errors=errors,
                           results=results, columns=body[0], rows=body[1:], table=text), f, indent=1)
    return 1 if errors else 0


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
    ours = next((p for p in _peers.OURS if p in names), "fastrnn")
    legend = [f"float32 · ms: median of {args.repeats} runs after {args.warmup} warm-up"
              + (f" (ref: {args.ref_repeats})" if "ref" in names else "")
              + f"; * = cut short by --time-cap {args.time_cap:g} s · — = not run "
              "(ORT has no training step)"]
    if set(_peers.RIVALS) & set(names):
        legend.append(f"rival/{ours} = fastest of torch, ort ÷ {ours} (> 1: fastrnn is faster)")
    if "gemm" in names:
        legend.append("GEMM = GF/s of the float32 input projection (in), T recurrent products (rec), "
                      "both (all)")
    lines = [f"$ {header['command']}",
             f"{header['date']} · {header['machine']}" + (f" · GPU {gpu}" if gpu else ""),
             " · ".join(f"{k} {v}" + (header["source"] if k == "fastrnn" else "")
                        for k, v in versions.items()),
             *legend, "", table_text]
    lines += [f"skipped {name}: {why}" for name, why in skipped.items()]
    lines += [f"error in {where}: {why}" for where, why in errors.items()]
    return "\n".join(lines)
