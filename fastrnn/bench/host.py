"""Whether this machine's cores run at full speed side by side: what ``/proc`` cannot show.

On a virtual machine the host may give a vCPU's physical core (or its
hyper-thread sibling) to another tenant. Nothing inside the guest sees it:
``/proc/loadavg`` counts no extra task and ``steal`` stays near 0, yet two
threads run slower together than one alone, and every 2-thread time moves
(on 2026-12-07 two copies of a fixed 52 ms loop took up to 96 ms side by
side). So before and after its measurements ``fastrnn bench`` runs a fixed
pure-Python loop ``TRIALS`` times alone and as often in one copy per core it
will use at once, each copy a process of its own, and reports

    slowdown = median over trials of (the slowest copy's time) ÷ median of the lone times

A slowdown above ``THRESHOLD`` flags the run: its multi-thread rows are not
clean. The lone times' spread says how steady one core was.

The host's state also changes from minute to minute (on 2026-12-08 the lone
loop took 31-36 ms in one check and 53-63 in another, and 1-thread timings
moved with it), so the bench also runs a short check (``ROUND_TRIALS``)
before each round of each shape, keeps its figures in that round's rows
(``summary``), and marks a row timed while the host was slow (``slow``).
"""
import os
import statistics
import subprocess
import sys

#: iterations of the loop: about 50 ms of one core
LOOP_N = 400_000
#: alternations of a lone run and a side-by-side run
TRIALS = 5
#: a run whose copies side by side took longer than this × the lone time is flagged
THRESHOLD = 1.15
#: the loop, timed inside its own process (so that the start of Python is not counted)
_LOOP = ("import time\nt = time.perf_counter()\nx = 0\nfor i in range({n}):\n    x += i * i\n"
         "print(time.perf_counter() - t)")


def _start(n):
    return subprocess.Popen([sys.executable, "-c", _LOOP.format(n=n)], stdout=subprocess.PIPE,
                            text=True)


def _seconds(processes):
    """Each process's printed time, once all have ended."""
    return [float(p.communicate()[0]) for p in processes]


def check(copies, trials=TRIALS, n=LOOP_N):
    """Time the loop alone and in ``copies`` processes at once, ``trials`` times.

    Parameters
    ----------
    copies : int
        How many copies run side by side (the most threads the run uses; ≥ 1).
    trials : int
        Alternations of one lone run and one side-by-side run.
    n : int
        The loop's iterations.

    Returns
    -------
    dict
        ``alone_ms`` and ``together_ms`` (the slowest copy of each trial), lists of
        ``trials`` floats; ``copies``; ``slowdown``, the median together over the median
        alone; ``flagged``, whether it exceeds ``THRESHOLD`` (never with one copy).

    Examples
    --------
    >>> from fastrnn.bench import host
    >>> sorted(host.check(1, trials=1, n=1000))
    ['alone_ms', 'copies', 'flagged', 'slowdown', 'together_ms']
    """
    if copies < 1 or trials < 1:
        raise ValueError(f"check needs copies ≥ 1 and trials ≥ 1, got {copies}, {trials}")
    alone, together = [], []
    for _ in range(trials):
        alone.append(1e3 * _seconds([_start(n)])[0])
        together.append(1e3 * max(_seconds([_start(n) for _ in range(copies)])))
    slowdown = statistics.median(together) / statistics.median(alone)
    return dict(alone_ms=alone, together_ms=together, copies=copies, slowdown=slowdown,
                flagged=copies > 1 and slowdown > THRESHOLD)


#: trials of the check before each round of each shape (``fastrnn bench``): about 0.5 s
ROUND_TRIALS = 3
#: a round whose lone loop ran slower than this × the run's fastest lone loop is flagged
SLOW_CORE = 1.25
#: the mark of a row measured while the host was slow (``slow``)
FLAG = "h"
LEGEND = (f"{FLAG} = the host was slow while the row's peers were timed: the check before "
          f"their round found the cores slowing each other (> {THRESHOLD:g}×, multi-thread rows) "
          f"or one core {SLOW_CORE:g}× slower than at the run's fastest check")


def summary(result):
    """The figures of a ``check`` a result row keeps: host_alone_ms (the median lone time)
    and host_slowdown."""
    return dict(host_alone_ms=statistics.median(result["alone_ms"]),
                host_slowdown=result["slowdown"])


def slow(row, fastest_alone_ms):
    """Whether a result row (with ``summary``'s figures) was timed while the host was slow:
    its cores slowed each other beyond THRESHOLD (a multi-thread row), or its lone loop
    took more than SLOW_CORE × ``fastest_alone_ms``, the fastest of the run."""
    if row.get("host_alone_ms") is None:
        return False
    together = (row.get("threads") or 1) > 1 and row["host_slowdown"] > THRESHOLD
    return together or row["host_alone_ms"] > SLOW_CORE * fastest_alone_ms


def describe(when, result):
    """One line of the bench's header for a ``check`` result taken ``when`` ("before", ...)."""
    alone = result["alone_ms"]
    line = (f"host check {when}: a fixed loop took {min(alone):.0f}-{max(alone):.0f} ms alone, "
            f"{result['slowdown']:.2f}× that in {result['copies']} copies at once")
    if result["flagged"]:
        line += (f" (! above {THRESHOLD:g}×: the cores slow each other, another tenant of the "
                 "host most likely; multi-thread rows are not clean)")
    return line


def cores_for(threads):
    """The copies to run for a bench over ``threads`` (None entries: a GPU run): the most
    threads any row uses, at most the CPUs."""
    used = [t for t in threads if t]
    return max(1, min(max(used, default=1), os.cpu_count() or 1))
