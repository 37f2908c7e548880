"""engine.profiling.peak_bytes measures what a piece of work allocates at its peak."""

from __future__ import annotations

import torch

from landmarks.engine.profiling import peak_bytes


def _work(n: int) -> torch.Tensor:
    a = torch.ones(n, 1000)  # n·1000 floats, freed once b exists
    b = a @ a.T  # n·n floats, returned
    del a
    return b.sum()


def test_peak_counts_tensors_live_at_once():
    for n in (100, 400):
        out, peak = peak_bytes(lambda n=n: _work(n))
        assert out.item() == 1000 * n * n
        assert peak == 4 * (1000 * n + n * n)  # a and b at once; the sum comes after a is freed


def test_frees_of_older_blocks_do_not_count():
    """Blocks allocated during a measurement and freed after it leave entries in the profiler's
    table; new blocks allocated later at those addresses, while profiling is off, are freed during
    the next measurement. Those frees do not count against the work's own allocations."""
    for _ in range(5):
        kept = [peak_bytes(lambda: torch.ones(1000))[0] for _ in range(20)]
        del kept  # freed with profiling off: their table entries stay
        older = [torch.ones(1000) for _ in range(20)]  # at the same addresses, most of them

        def work(older: list[torch.Tensor] = older) -> torch.Tensor:
            out = torch.zeros(2000)
            older.clear()
            return out + 1

        _, peak = peak_bytes(work)
        assert 2 * 2000 * 4 <= peak < 2 * 2000 * 4 + 64  # out and out + 1 (and the scalar 1)


def test_same_work_measures_the_same_each_time():
    x = torch.randn(64, 64)
    peaks = {peak_bytes(lambda: (x @ x).relu().sum())[1] for _ in range(10)}
    assert len(peaks) == 1


def test_the_profilers_own_log_lines_stay_off_stderr(capfd):
    """Kineto prints "profiler_start" / "profiler_stop" to file descriptor 2 whatever its log
    level; they would break into the progress bars of a run. The work's own output still shows."""
    import os

    def work() -> torch.Tensor:
        os.write(2, b"from the work\n")
        return torch.ones(10)

    peak_bytes(work)
    err = capfd.readouterr().err
    assert "profiler_st" not in err
    assert "from the work" in err


def test_a_process_without_stderr_still_measures():
    """A daemon may run with descriptor 2 closed: there is nothing to silence, and no error."""
    import subprocess
    import sys

    code = (
        "import os, torch\n"
        "from landmarks.engine.profiling import peak_bytes\n"
        "os.close(2)\n"
        "_, peak = peak_bytes(lambda: torch.ones(1000, 1000).sum())\n"
        "print(peak)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert int(done.stdout.split()[-1]) >= 4_000_000
