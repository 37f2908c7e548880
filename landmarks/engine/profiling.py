"""Memory measured, not assumed: the peak bytes a piece of work allocates beyond what was live
before it.

On a GPU the caching allocator keeps the count (``torch.cuda.max_memory_allocated``). On a CPU
torch keeps none, and ``tracemalloc`` sees only Python's own allocations, not tensors, so the
work runs under ``torch.profiler`` with ``profile_memory``, which records every allocation and
every free of the CPU allocator (its address, its size, a timestamp in nanoseconds). Replayed in
order, the records give the bytes live after each of them, and their maximum is the peak;
temporaries an operator allocates and frees inside itself count too.

Only frees of blocks allocated during the work are counted. A block allocated before it has no
trustworthy size in the allocator's table (the profiler's table keeps an entry for an address
that was freed while profiling was off, and a later block at the same address is freed under
that stale size), so counting those frees would make the figure depend on where ``malloc``
happened to put things. On a CPU the peak is therefore that of the work's own allocations;
on a GPU the allocator's count also nets what the work freed of older tensors before its peak.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

__all__ = ["peak_bytes"]

T = TypeVar("T")


def peak_bytes(fn: Callable[[], T], device: torch.device | str = "cpu") -> tuple[T, int]:
    """Run ``fn()`` and return its result and the most bytes it had allocated at once on
    ``device`` (its own allocations, less those it had freed again by then)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, max(0, torch.cuda.max_memory_allocated(device) - before)
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _native_stderr_silenced():
        prof.start()
    try:
        out = fn()
    finally:
        with _native_stderr_silenced():
            prof.stop()
    records: list[tuple[int, int, int]] = []  # (nanoseconds, address, bytes: + allocated, - freed)
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu":
            fields = event.extra_fields
            records.append((event.start_time_ns, fields.ptr, fields.alloc_size))
    own: dict[int, int] = {}  # address -> size of a block allocated during the work, still live
    live = peak = 0
    # records stamped at the same nanosecond: allocations first, so the peak is not understated
    for _, ptr, size in sorted(records, key=lambda r: (r[0], r[2] < 0)):
        if size > 0:
            own[ptr] = size
            live += size
            peak = max(peak, live)
        elif ptr in own:
            live -= own.pop(ptr)
    return out, peak


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Starting and stopping the profiler, its C++ library (Kineto) writes log lines of its own
    to file descriptor 2 ("profiler_start", "profiler_stop", a failed GPU count on a machine
    without one), which no log level turns off and which would break into progress bars. Only
    those two calls run with the descriptor on the null device; the measured work does not.
    A process without a descriptor 2 (a daemon) has nothing to protect: the calls run as they are."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # descriptor 2 is closed
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
