"""grader/inworker/netvis.py on its own: how the student's network-visualization functions are called."""
import pytest

from conftest import REFERENCE


def test_a_step_with_the_course_names_in_its_own_order_is_called_by_name(tmp_path, monkeypatch):
    """Probe round O: a 2019 notebook (no step function in the course's) where the student wrote one named
    class_visualization_update_step(model, img, target_y, learning_rate, l2_reg) was called in CS231n 2020's
    order ("'Tensor' object is not callable": 6 points).  Parameters that are the course's names, in any order,
    are passed by name: the step equals the reference's."""
    pytest.importorskip("torch")
    import numpy as np
    from grader.inworker import netvis
    (tmp_path / "own_order_step.py").write_text(
        "import torch\n\n"
        "def class_visualization_update_step(model, img, target_y, learning_rate, l2_reg):\n"
        "    score = model(img)[0, target_y] - l2_reg * (img * img).sum()\n"
        "    score.backward()\n"
        "    with torch.no_grad():\n"
        "        img += learning_rate * img.grad\n"
        "        img.grad.zero_()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(REFERENCE))
    img = np.random.RandomState(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    got = netvis.class_vis_step("own_order_step", "class_visualization_update_step", "cs231n", img, 3, 1e-3, 5.0, 0)
    want = netvis.class_vis_step("deeplearning.network_visualization", "class_visualization_update_step", "cs231n",
                                 img, 3, 1e-3, 5.0, 0)
    assert got["changed"] and np.allclose(got["img"].numpy(), want["img"].numpy(), rtol=1e-5, atol=1e-6)
