"""`python -m engine …`: pin BLAS to one thread before NumPy loads, then hand over to the CLI.

Multi-threaded OpenBLAS makes the small matmuls of this project much slower on two cores;
parallelism comes from training many runs at once instead (see engine/executor.py).
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from engine.cli import main  # noqa: E402  (must follow the environment set-up above)

raise SystemExit(main())
