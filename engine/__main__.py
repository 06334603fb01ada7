"""`python -m engine …`: set up the process for fast small-array numerics, then run the CLI."""
from engine.runtime import pin_blas_environment

pin_blas_environment()  # before NumPy loads

from engine.cli import main  # noqa: E402  (must follow the environment set-up above)
from engine.runtime import tune_process  # noqa: E402

tune_process()
raise SystemExit(main())
