"""Memory measured, not assumed: the peak bytes a piece of work allocates beyond what was live
before it.

On a GPU the caching allocator keeps the count (``torch.cuda.max_memory_allocated``). On a CPU
torch keeps none, and ``tracemalloc`` sees only Python's own allocations, not tensors, so the
work runs under ``torch.profiler`` with ``profile_memory``: every operator's own allocations
(``self_cpu_memory_usage``) and every free (the ``[memory]`` events) in time order give the live
bytes after each operator, and their maximum is the peak. Operators are the grain: a
temporary an operator allocates and frees inside itself is not seen. The order comes from the
profiler's timestamps, which do not always separate an operator from a neighbouring free, so
two runs of the same work can differ by a small tensor's bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["peak_bytes"]

T = TypeVar("T")


def peak_bytes(fn: Callable[[], T], device: torch.device | str = "cpu") -> tuple[T, int]:
    """Run ``fn()`` and return its result and the most bytes it had allocated at once on
    ``device`` (beyond what was allocated before it; what it frees of older tensors counts
    against what it allocates)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, max(0, torch.cuda.max_memory_allocated(device) - before)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    changes = []
    for e in prof.events():
        change = e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage
        if change:
            changes.append((e.time_range.start, change))
    live = peak = 0
    # events stamped at the same microsecond: allocations first, so the peak is not understated
    for _, change in sorted(changes, key=lambda c: (c[0], c[1] < 0)):
        live += change
        peak = max(peak, live)
    return out, peak
