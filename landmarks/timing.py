"""The one way this project times a small piece of work: the median of repeats after a warm-up.

It lives apart from ``landmarks.bench`` so that a paper which times something (``bpe`` times its
tokenizer) depends on this function alone, not on every benchmark and the papers they import:
a paper's code fingerprint covers what it imports.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(
    fn: Callable[[], object], repeats: int, warmup: int = 2, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls: wall-clock
    seconds by default, or those of another ``clock`` (``time.thread_time``: the calling thread's
    CPU seconds, which other programs sharing the cores do not add to)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        began = clock()
        fn()
        times.append(clock() - began)
    return statistics.median(times)
