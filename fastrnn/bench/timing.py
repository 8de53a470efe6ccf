"""The clock: median wall time of repeated calls after a warm-up."""
import gc
import statistics
import time


def measure(fn, warmup, repeats, time_cap):
    """Median milliseconds of up to ``repeats`` timed calls of ``fn()`` after ``warmup`` untimed ones.

    The timed calls stop early, after at least one, once they have used
    ``time_cap`` seconds together. ``fn`` must finish its work before it
    returns (a device peer synchronizes inside it). Returns a dict:
    ms (the median), runs (how many were timed), ms_all (each run).
    """
    for _ in range(warmup):
        fn()
    gc.collect()
    times = []
    while len(times) < repeats and sum(times) < time_cap:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return dict(ms=1e3 * statistics.median(times), runs=len(times),
                ms_all=[round(1e3 * t, 4) for t in times])


def no_sync():
    """What a host peer does to finish its work before the clock stops: nothing."""
