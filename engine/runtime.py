"""Process settings that make small-array numerics fast here; applied in every training process.

- BLAS to one thread: on two cores, multi-threaded OpenBLAS makes the small matmuls of this
  project much slower; parallelism comes from training many runs at once instead.
- glibc's malloc to keep freed memory instead of returning it to the OS after every large array
  (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD): each training step allocates arrays of the same sizes,
  and page faults on fresh memory measured 20-30 % of a GAN step and up to half of a CNN step.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's cap on 64-bit systems


def pin_blas_environment() -> None:
    """Before NumPy loads (and for child processes)."""
    for var in BLAS_VARIABLES:
        os.environ.setdefault(var, "1")


def tune_process() -> None:
    """After NumPy loads: one BLAS thread, and malloc that keeps its memory. Safe to repeat."""
    from threadpoolctl import threadpool_limits

    pin_blas_environment()
    threadpool_limits(limits=1)
    name = ctypes.util.find_library("c")
    if name:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        except (OSError, AttributeError):  # not glibc: keep the defaults
            pass
