"""The clock: median wall time of repeated calls after a warm-up, with the spread kept."""
import gc
import statistics
import time

#: the most timed runs one measurement keeps, however short a call is
MAX_RUNS = 1000


def measure(fn, warmup, repeats, time_cap, warmup_time=0.0, min_time=0.0):
    """Median milliseconds of timed calls of ``fn()`` after untimed warm-up calls.

    Warm-up: at least ``warmup`` calls, and more until they took
    ``warmup_time`` seconds (a fast call's runtime, oneDNN's primitive cache,
    the allocator and the thread pool settle over the first calls, not the
    first one alone). Timed: at least ``repeats`` calls, and more until they
    took ``min_time`` seconds (at most MAX_RUNS); the calls stop early, after
    at least one, once they have used ``time_cap`` seconds together. The
    garbage collector runs before the warm-up and is off from then on, so
    that it neither pauses a timed call nor leaves a gap between the warm-up
    and the clock. ``fn`` must finish its work before it returns (a device
    peer synchronizes inside it). Returns a dict: ms (the median), runs (how
    many were timed), ms_all (each run), warmup_runs (how many warm-up calls).
    """
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        warmed, start = 0, time.perf_counter()
        while warmed < warmup or (warmed and time.perf_counter() - start < warmup_time
                                  and time.perf_counter() - start < time_cap):
            fn()
            warmed += 1
        times = []
        while (len(times) < MAX_RUNS and sum(times) < time_cap
               and (len(times) < repeats or sum(times) < min_time)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return dict(ms=1e3 * statistics.median(times), runs=len(times),
                ms_all=[round(1e3 * t, 4) for t in times], warmup_runs=warmed)


def no_sync():
    """What a host peer does to finish its work before the clock stops: nothing."""
