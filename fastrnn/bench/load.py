"""How busy the machine is while a measurement runs, counting only the work of OTHER processes.

The 1-minute load average of ``/proc/loadavg`` cannot say that by itself: it
counts the benchmark's own worker threads, and it decays over a minute, so
the figure read just before a worker starts still holds the previous
worker's threads. It is recorded (before and after each worker process,
``loadavg_before`` / ``loadavg_after``) but it is not what flags a row.

What flags a row is sampled: every ``INTERVAL`` seconds while a task is
timed (and at each message of a worker), the parent reads the runnable
count of ``/proc/loadavg`` (its 4th field, ``running/total``: the tasks
running or waiting for a CPU at that instant, the reader included) and
subtracts the tasks of ours that are runnable at that moment, read from
``/proc/<pid>/task/*/stat`` (state ``R``) for this process, every worker
process of ours (all their threads) and the ``--load`` busy processes.
What remains are other processes' runnable tasks; their mean over the
task's samples is the row's ``load``, comparable to a load average taken
over the task alone. ``/proc/stat`` deltas give two cross-checks per row:
``cpu_others``, the CPUs' busy time not spent by our processes (in cores),
and ``steal``, the fraction of CPU time the hypervisor gave to other guests.

Where ``/proc`` is missing (not Linux) every figure is None.
"""
import glob
import os
import statistics
import time

#: seconds between two samples while a task is timed
INTERVAL = 0.1
#: a row measured with more than this mean runnable tasks from other processes is flagged
THRESHOLD = 0.5
FLAG = "!"
LEGEND = (f"{FLAG} = measured at load > {THRESHOLD:g} from other processes: not a clean result")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read(path):
    """A file's text, or None where it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def parse_loadavg(text):
    """``/proc/loadavg``'s text -> dict(load1, running, total), or None."""
    try:
        fields = text.split()
        running, total = fields[3].split("/")
        return dict(load1=float(fields[0]), running=int(running), total=int(total))
    except (AttributeError, IndexError, ValueError):
        return None


def loadavg():
    """The machine's 1-minute load average and runnable/total task counts now, or None."""
    return parse_loadavg(read("/proc/loadavg"))


def parse_cpu_times(text):
    """``/proc/stat``'s text -> dict(busy, total, steal) in clock ticks over all CPUs, or None."""
    try:
        line = next(line for line in text.splitlines() if line.startswith("cpu "))
        ticks = [int(v) for v in line.split()[1:]]
    except (AttributeError, StopIteration, ValueError):
        return None
    ticks += [0] * (8 - len(ticks))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    # guest time is already inside user time; iowait is idle
    return dict(busy=user + nice + system + irq + softirq, total=sum(ticks[:8]), steal=steal)


def parse_task_stat(text):
    """``/proc/<pid>/task/<tid>/stat``'s text -> (state letter, utime + stime ticks), or None."""
    try:
        fields = text[text.rindex(")") + 2:].split()
        return fields[0], int(fields[11]) + int(fields[12])
    except (AttributeError, ValueError, IndexError):
        return None


def ours_now(pids):
    """(runnable threads, CPU ticks used so far) of the processes ``pids``, every thread of each."""
    running = ticks = 0
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/stat"):
            stat = parse_task_stat(read(path))
            if stat:
                running += stat[0] == "R"
                ticks += stat[1]
    return running, ticks


class Sampler:
    """Samples the runnable tasks of other processes; ``ours()`` -> the pids that are ours now.

    ``begin()`` starts a segment (a task being timed), ``sample()`` adds one
    reading, ``end()`` closes the segment and returns its figures (see
    ``segment``).
    """

    def __init__(self, ours):
        self.ours = ours
        self.available = loadavg() is not None
        self.begin()

    def begin(self):
        self.others, self.started = [], time.monotonic()
        self.last = 0.0
        self.cpu, self.ticks = parse_cpu_times(read("/proc/stat")), self._our_ticks()

    def _our_ticks(self):
        return ours_now(self.ours())[1] if self.available else None

    def sample(self, force=False):
        """One reading, unless the last was under INTERVAL ago (``force``: take it anyway)."""
        now = time.monotonic()
        if not self.available or (not force and now - self.last < INTERVAL):
            return
        self.last = now
        machine = loadavg()
        mine, _ = ours_now(self.ours())
        if machine:
            # the reading thread itself is one of ours: it is running while it reads
            self.others.append(max(0, machine["running"] - max(mine, 1)))

    def end(self):
        """The figures of the segment since ``begin()``: see ``segment``."""
        self.sample(force=not self.others)
        cpu, ticks = parse_cpu_times(read("/proc/stat")), self._our_ticks()
        return segment(self.others, self.cpu, cpu, self.ticks, ticks)


def segment(others, cpu_before, cpu_after, ours_before, ours_after):
    """A timed task's load figures, each None when unknown.

    load: mean runnable tasks of other processes over the samples ``others``;
    load_max: the most seen at once; load_samples: how many samples;
    cpu_others: CPU time (in cores, averaged) not spent by our processes;
    steal: the fraction of all CPU time stolen by the hypervisor.
    """
    out = dict(load=round(statistics.fmean(others), 3) if others else None,
               load_max=max(others) if others else None, load_samples=len(others),
               cpu_others=None, steal=None)
    if cpu_before and cpu_after and cpu_after["total"] > cpu_before["total"]:
        total = cpu_after["total"] - cpu_before["total"]
        out["steal"] = round((cpu_after["steal"] - cpu_before["steal"]) / total, 3)
        if ours_before is not None and ours_after is not None:
            cpus = os.cpu_count() or 1
            busy = cpu_after["busy"] - cpu_before["busy"] - (ours_after - ours_before)
            out["cpu_others"] = round(max(0, busy) / total * cpus, 2)
    return out


def flagged(row):
    """Whether a result row was measured at more than THRESHOLD load from other processes."""
    return row.get("load") is not None and row["load"] > THRESHOLD


#: one busy process of ``--load``: a pure-Python spin loop that also ends by itself once
#: its parent is gone (the parent's pid is its argument), should the parent be killed hard
SPIN = """\
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""


class Busy:
    """``with Busy(n) as pids:`` n busy processes spinning while the block runs, always stopped after.

    They run in a session of their own, so that Ctrl-C reaches the benchmark
    (which then stops them) rather than killing them mid-way; leaving the
    block by any exception, KeyboardInterrupt and the SIGTERM that ``fastrnn
    bench`` turns into one included, kills and reaps each.
    """

    def __init__(self, n):
        self.n, self.processes = n, []

    @property
    def pids(self):
        return [p.pid for p in self.processes]

    def __enter__(self):
        import subprocess
        import sys
        try:
            for _ in range(self.n):
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", SPIN, str(os.getpid())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()

    def __exit__(self, *exc):
        self.stop()
        return False
