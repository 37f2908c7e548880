"""The one way this project times a small piece of work: the median of repeats after a warm-up.

It lives apart from ``landmarks.bench`` so that a paper which times something (``bpe`` times its
tokenizer) depends on this function alone, not on every benchmark and the papers they import:
a paper's code fingerprint covers what it imports.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)
