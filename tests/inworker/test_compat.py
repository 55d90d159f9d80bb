"""grader/inworker/compat.py: what the worker gives code written for older course years.

The shims change the worker's torch for good, so they run in a fresh interpreter here, never in the test
process.  Each shim is pinned here with the idiom that needs it (found by probing: a 2017 notebook's fooling
loop that prints ``loss.data[0]`` lost all of Q3.2), and torch 2.x's own errors must stay errors.
"""
import subprocess
import sys
import textwrap

from conftest import ROOT

LEGACY = textwrap.dedent("""
    import warnings
    import torch
    warnings.simplefilter("ignore")
    from grader.inworker.compat import install_torch_legacy
    assert install_torch_legacy() and install_torch_legacy() == []          # idempotent
    x = torch.randn(3, requires_grad=True)
    loss = (x * 2).sum()
    assert float(loss.data[0]) == float(loss) and loss[-1].shape == ()      # 0.3: a scalar had one element
    s = torch.randn(1, 4, requires_grad=True)
    s.gather(1, torch.tensor([[2]])).squeeze().backward(torch.ones(1), retain_variables=True)
    assert s.grad.tolist() == [[0.0, 0.0, 1.0, 0.0]]
    m = torch.tensor([0, 1, 1, 0], dtype=torch.uint8)                        # a ByteTensor mask
    assert torch.arange(4.).masked_select(m).tolist() == [1.0, 2.0]
    assert torch.masked_select(torch.arange(4.), m).tolist() == [1.0, 2.0]
    assert torch.ones(4).masked_fill(m, 0).tolist() == [1.0, 0.0, 0.0, 1.0]
    y = torch.arange(6.).reshape(2, 3)
    assert y[0].tolist() == [0.0, 1.0, 2.0] and y[-1, 0].item() == 3.0      # indexing as before
    for bad in (lambda: torch.ones(2).backward(torch.ones(3)), lambda: torch.ones(())[1],
                lambda: torch.ones(2, requires_grad=True).sum().backward(retain_varz=True)):
        try:
            bad()
        except (RuntimeError, IndexError, TypeError):
            continue
        raise AssertionError("torch 2.x's own error became silent")
    print("ok")
""")


def test_torch_legacy_idioms_of_2017_to_2020_run_and_nothing_else_changes():
    proc = subprocess.run([sys.executable, "-c", LEGACY], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


SCIPY = textwrap.dedent("""
    import sys
    from grader.inworker.compat import install_course_compat
    install_course_compat(torch=True, modules=sys.argv[1].split(",") if sys.argv[1] else [])
    print("scipy.ndimage" in sys.modules)
""")


def test_scipy_is_imported_only_for_files_that_import_it():
    """The torch zygote pays scipy.ndimage's import (0.4 CPU-s) only when a staged file imports scipy, as the
    CS231n 2019-2023 network visualization files do (their line runs then, scipy.ndimage.filters included)."""
    def imported(modules: str) -> str:
        proc = subprocess.run([sys.executable, "-c", SCIPY, modules], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip()

    assert imported("numpy,torch") == "False"
    assert imported("numpy,scipy.ndimage.filters,torch") == "True"
