import os
import sys

# Before numpy's first import: the grading process's own numpy work (oracles, numeric gradients,
# comparisons) is on small arrays, where a BLAS thread pool only spins beside the one busy thread.
# Measured on 2 cores: 1.0 of the grading process's 3.7 CPU-s (cs182_hw2, reference); a host with more
# cores starts more spinning threads, which a half-vCPU container pays for. Workers set their own.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from grader.cli import main  # noqa: E402

sys.exit(main())
