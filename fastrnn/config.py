"""Tunables of the cpu backend, in one place, read at every call.

Set them as attributes (``fastrnn.config.CPU_CHUNK_ROWS = 512``) or, for the
variant, with the ``FASTRNN_CPU_VARIANT`` environment variable; both are read
when a call starts, so a change applies to the next call.

Examples
--------
>>> import fastrnn
>>> fastrnn.config.CPU_VARIANT = "batch"       # the next calls split the batch rows
>>> fastrnn.config.CPU_VARIANT = None          # back to FASTRNN_CPU_VARIANT, else "auto"
"""
#: ``None``: the ``FASTRNN_CPU_VARIANT`` environment variable, else ``"auto"``.
#: Otherwise one of the cpu backend's variants (``fastrnn.backends``): ``"batch"`` (threads split the
#: batch, each runs every step of its rows with no synchronisation between
#: steps), ``"units"`` (threads split the hidden units; one barrier per step)
#: or ``"auto"`` (``"units"`` for B ≤ `CPU_UNITS_MAX_B` when more than one thread
#: runs and, with `CPU_AVOID_BUSY_CORES`, every thread can have a core of its own
#: now; else ``"batch"``). The backward's reverse walk is split the same way, but
#: ``"auto"`` gives it ``"units"`` only for fewer batch rows than threads.
CPU_VARIANT = None
#: The largest batch that ``"auto"`` gives to the unit-split loop. Below it a
#: step is a matrix-vector product: split by units, each thread reads only its
#: slice of W_hh (it stays in its core's L2); split by batch, every thread
#: would stream all of W_hh on every step. The crossover is measured in
#: Performance, "The cpu variants".
CPU_UNITS_MAX_B = 4
#: When True, ``"auto"`` reads the system's runnable-thread count (``/proc/loadavg``,
#: about 6 µs) before it picks ``"units"``: on a machine whose cores are taken by
#: other work, a barrier per step would wait a scheduler slice each time one of
#: our threads is descheduled, so ``"batch"`` runs instead.
CPU_AVOID_BUSY_CORES = True
#: Rows (steps × batch rows) of the input projection x W_ihᵀ computed at once, as one
#: product (at least 8 steps of a thread's rows). Inference keeps O(CPU_CHUNK_ROWS · G·H)
#: of it, and a copy of the chunk's x rows, per thread, never O(T·B·G·H). The backward's
#: weight gradients are summed over chunks of the same size.
CPU_CHUNK_ROWS = 256
#: The smallest H whose streaming steps (``fastrnn.stream``) two threads split by units,
#: when two or more are allowed and B ≤ `CPU_UNITS_MAX_B` (read when a stream is made).
#: A step is then a matrix-vector product that streams the weights from cache: two
#: cores each stream half. Below it a step is too short to gain from a second thread.
CPU_STREAM_SPLIT_MIN_H = 192
#: How long a stream's partner thread waits for the next step, spinning, before it
#: sleeps (µs). A step it is asleep for runs on one thread, then wakes it; so steps
#: that come back to back are split, and a stream left idle costs no CPU after this.
CPU_STREAM_SPIN_US = 200
#: How long each of the cpu backend's pool threads waits for the next call's share,
#: spinning (yielding its core past a few thousand checks), before it sleeps (µs). A call
#: that comes sooner hands its shares over in a few µs; one after a longer pause wakes
#: the threads (20-70 µs on a VM). 0: sleep after every share.
CPU_POOL_SPIN_US = 200
#: How much memory (MiB) the cpu backend keeps for the large arrays (256 KiB and more)
#: its calls make and drop (the tape, the outputs, backward's scratch and gradients),
#: to hand them out again already mapped instead of faulting fresh pages in at every
#: step (``fastrnn._buffers``); arrays still referred to count too. 0: keep none (the
#: next call lets go of what is kept).
BUFFER_CACHE_MB = 256
