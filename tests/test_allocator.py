"""landmarks.allocator: freed blocks stay in the process, so a loop stops page-faulting."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)

# malloc, touch and free a 48 MiB block 8 times. By default glibc maps each one (it is above the
# largest dynamic mmap threshold, 32 MiB), faults it in page by page and unmaps it at free; with
# the thresholds raised the same heap block is reused. (ctypes, not torch: torch asks for
# 64-byte-aligned blocks, whose reuse depends on the heap's state; see the module's docstring.)
LOOP = """
import ctypes, resource, sys
from landmarks.allocator import retain_freed_memory
retained = retain_freed_memory() if sys.argv[1] == "retain" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def once():
    p = libc.malloc(48 << 20)
    libc.memset(p, 1, 48 << 20)
    libc.free(p)
once()  # the first one always faults
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    once()
print(retained, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = (48 << 20) // 4096  # minor faults to touch one such block


def _faults(mode: str, **env: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", LOOP, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    ).stdout.split()
    return out[0], int(out[1])


@glibc
def test_retained_blocks_are_reused_without_faults():
    retained, faults = _faults("retain")
    assert retained == "True"
    assert faults < PAGES // 4  # 8 blocks, not a quarter of one faulted in again


@glibc
def test_by_default_every_large_block_faults_in_again():
    """The control: without the call the same loop faults every block's pages in again."""
    retained, faults = _faults("default")
    assert retained == "None"
    assert faults >= 4 * PAGES


@glibc
def test_the_environment_wins():
    retained, _ = _faults("retain", LANDMARKS_MALLOC="system")
    assert retained == "False"
    retained, _ = _faults("retain", MALLOC_TRIM_THRESHOLD_="1000000")
    assert retained == "False"


@glibc
@pytest.mark.parametrize("env, expected", [({}, True), ({"LANDMARKS_MALLOC": "system"}, False)])
def test_a_run_records_whether_freed_memory_was_kept(tmp_path, env, expected):
    """result.json says which allocator setting its seconds were measured under."""
    subprocess.run(
        [sys.executable, "-m", "landmarks", "run", "coffee-automaton", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )
    result = json.loads((tmp_path / "coffee-automaton" / "result.json").read_text())
    assert result["machine"]["freed_memory_retained"] is expected
