"""grader/inworker/style.py's Adam: the style-transfer loop's optimizer, written out so that a Q4 worker never
constructs a torch optimizer (which imports torch._dynamo, 1.5 CPU-s per worker child).  The loop's image is
compared with fixtures made by the same code, so it must stay what ``torch.optim.Adam`` computes: bit for bit,
over the loop's own schedule (lr 3.0, a fresh optimizer at lr 0.1 after step 180, the image clamped before
each step).  Runs in a fresh interpreter: the test process must not import torch, and torch._dynamo must not
be imported by the grader's optimizer."""
import subprocess
import sys
import textwrap

from conftest import ROOT

SAME_BITS = textwrap.dedent("""
    import sys
    import torch
    from grader.inworker.style import Adam
    assert "torch._dynamo" not in sys.modules
    torch.manual_seed(0)
    target = torch.randn(1, 3, 8, 9)
    start = torch.randn(1, 3, 8, 9)

    def run(make):
        img = start.clone().requires_grad_()
        opt, losses = make(img, 3.0), []
        for t in range(200):
            if t < 190:
                img.data.clamp_(-1.5, 1.5)
            opt.zero_grad()
            loss = ((img - target) ** 2).sum() + (img[..., 1:] - img[..., :-1]).abs().sum()
            loss.backward()
            losses.append(loss.item())
            if t == 180:
                opt = make(img, 0.1)
            opt.step()
        return img.detach(), losses

    mine, mine_losses = run(Adam)
    assert "torch._dynamo" not in sys.modules, "the grader's Adam imported torch._dynamo"
    theirs, their_losses = run(lambda p, lr: torch.optim.Adam([p], lr=lr))
    assert torch.equal(mine, theirs), float((mine - theirs).abs().max())
    assert mine_losses == their_losses
    assert not torch.equal(mine, start)  # it moved
    print("ok")
""")


def test_style_loop_adam_is_torch_adam_bit_for_bit():
    proc = subprocess.run([sys.executable, "-c", SAME_BITS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
