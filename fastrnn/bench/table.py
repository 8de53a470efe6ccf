"""The comparison table: one row per (cell, pass, shape, threads), one column group per measure.

Columns: the milliseconds of each peer (the median) and their spread (the
fastest and slowest run, "min–max"); GFLOP/s of fastrnn and of the best
rival; the ratios best rival ÷ fastrnn and reference ÷ fastrnn (> 1: fastrnn
is faster); the GEMM ceiling in GFLOP/s: the input projection ("in"), the
per-step recurrent products ("rec"), and both together ("all", the rate a
forward would reach if it were nothing but these GEMMs); "% GEMM", fastrnn's
GFLOP/s as a percentage of "all" (a training step against its forward's
products); and "load", the most runnable tasks of other processes any of the
row's measurements saw on average (load.py), marked ``!`` above load.THRESHOLD,
and ``h`` where the host was slow while they were timed (``host.slow``).

fastrnn's cpu peer can appear once per cpu variant (``--cpu-variants``):
"cpu" for auto, "cpu:<variant>" otherwise; the first of them is the one the
ratios compare with.
"""
from . import host, load
from .peers import OURS, RIVALS
from .workloads import flops

MISSING = "—"


def _ms(value):
    if value < 1:
        return f"{value:.3g}"      # a streaming step: tens of µs
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _rate(value):
    return f"{value:.2g}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _key(row):
    return row["peer"], row["cell"], row["kind"], tuple(row["shape"]), row["threads"]


def fastest_rounds(results):
    """``results`` with one row per (peer, cell, pass, shape, threads): of a measurement timed
    in several rounds (``--rounds``), the round with the lowest median, with every round's
    median in ``rounds_ms`` (in order); a round that failed makes the measurement an error."""
    kept = {}
    for row in results:
        key = _key(row)
        held = kept.get(key)
        if held is None:
            kept[key] = dict(row, rounds_ms=[row.get("ms")])
            continue
        rounds = held["rounds_ms"] + [row.get("ms")]
        if "error" not in held and ("error" in row or row["ms"] < held["ms"]):
            held = row
        kept[key] = dict(held, rounds_ms=rounds)
    return list(kept.values())


def gflops(row):
    """GFLOP/s of one timed result."""
    return flops(row["cell"], row["kind"], row["shape"]) / row["ms"] / 1e6


def base(peer):
    """A column's peer: "cpu" for "cpu:units"."""
    return peer.split(":", 1)[0]


def columns(peers):
    """The column names for the peers that ran, and (ours, rivals): whom the ratios compare."""
    timed = [p for family in OURS + RIVALS for p in peers if base(p) == family]
    ours = next((p for p in timed if base(p) in OURS), None)
    rivals = [p for p in RIVALS if p in timed]
    names = ["cell", "pass", "T,B,I,H", "thr"] + [f"{p} {what}" for p in timed
                                                  for what in ("ms", "min–max")]
    if ours:
        names.append(f"{ours} GF/s")
    if rivals:
        names.append("rival GF/s")
    if ours and rivals:
        names.append(f"rival/{ours}")
    if ours and ours != "ref" and "ref" in timed:
        names.append(f"ref/{ours}")
    if "gemm" in peers:
        names += ["GEMM in", "rec", "all"]
        if ours:
            names.append("% GEMM")
    names.append("load")
    return names, timed, ours, rivals


def fastest_check(results):
    """The fastest lone loop of the host checks in ``results``' rows (ms), or None."""
    return min((r["host_alone_ms"] for r in results if r.get("host_alone_ms")), default=None)


def rows(results, peers, cells, passes, shapes, threads, fastest=None):
    """The table's cells as strings, header first; ``results`` are the workers' rows with peer
    and threads. ``fastest``: the run's ``fastest_check`` (default: that of ``results``),
    against which a row's host check says the host was slow."""
    names, timed, ours, rivals = columns(peers)
    found = {_key(r): r for r in results}
    fastest = fastest_check(results) if fastest is None else fastest
    body = [names]
    for cell in cells:
        for kind in passes:
            for shape in shapes:
                for thr in threads:
                    def get(peer, what=kind):
                        return found.get((peer, cell, what, tuple(shape), thr))
                    line = [cell, kind, ",".join(map(str, shape)), str(thr or "-")]
                    line += [text for peer in timed for text in (_cell(get(peer)), _spread(get(peer)))]
                    line += _measures(names, ours, rivals, get, cell, shape)
                    line.append(_load([get(peer) for peer in timed]
                                      + [get("gemm", product) for product in ("in", "rec")],
                                      fastest))
                    body.append(line)
    return body


def _cell(row):
    """One peer's milliseconds; * when the time cap cut its runs short."""
    if row is None:
        return MISSING
    if "error" in row:
        return "err"
    return _ms(row["ms"]) + ("*" if row["runs"] < row["repeats"] else "")


def _spread(row):
    """One peer's fastest and slowest run, "min–max"."""
    if row is None or not row.get("ms_all"):
        return MISSING
    return f"{_ms(min(row['ms_all']))}–{_ms(max(row['ms_all']))}"


def _load(found, fastest_alone_ms):
    """The most load from other processes any of a line's results saw; ! when above the
    threshold, h when any of them was timed while the host was slow (``host.slow``)."""
    loads = [row["load"] for row in found if row and row.get("load") is not None]
    slow = fastest_alone_ms is not None and any(row and host.slow(row, fastest_alone_ms)
                                                for row in found)
    if not loads:
        return host.FLAG if slow else MISSING
    worst = max(loads)
    return (f"{worst:.2f}" + (load.FLAG if worst > load.THRESHOLD else "")
            + (host.FLAG if slow else ""))


def _measures(names, ours, rivals, get, cell, shape):
    """The GF/s, ratio and GEMM columns of one line; ``get(peer, kind=this pass)`` -> result or None."""
    def timed(peer, *kind):
        row = get(peer, *kind) if peer else None
        return row if row and "ms" in row else None
    mine, reference = timed(ours), timed("ref")
    best = min(filter(None, map(timed, rivals)), key=lambda r: r["ms"], default=None)
    out = []
    if ours:
        out.append(_rate(gflops(mine)) if mine else MISSING)
    if rivals:
        out.append(_rate(gflops(best)) if best else MISSING)
    if ours and rivals:
        out.append(f"{best['ms'] / mine['ms']:.2f}" if mine and best else MISSING)
    if f"ref/{ours}" in names:
        out.append(f"{reference['ms'] / mine['ms']:.1f}" if mine and reference else MISSING)
    if "GEMM in" in names:
        products = [timed("gemm", kind) for kind in ("in", "rec")]
        out += [_rate(gflops(p)) if p else MISSING for p in products]
        ceiling = None if None in products else (sum(flops(cell, p["kind"], shape) for p in products)
                                                 / sum(p["ms"] for p in products) / 1e6)
        out.append(MISSING if ceiling is None else _rate(ceiling))
        if ours:
            out.append(f"{100 * gflops(mine) / ceiling:.0f}" if mine and ceiling else MISSING)
    return out


def render(body, markdown=False):
    """``rows(...)`` as text: aligned columns, or a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(line) + " |" for line in body]
        lines.insert(1, "|" + "|".join(" --- " if i < 4 else " ---: " for i in range(len(body[0]))) + "|")
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in body) for i in range(len(body[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i < 4 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
                     for line in body)
