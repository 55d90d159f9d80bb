"""The grader's own Gram matrix, used inside the worker while grading style_loss.

style_loss is graded with this correct gram_matrix swapped in, so a gram_matrix
bug costs only the gram_matrix checks.  Gradescope-only (it is the
gram_matrix solution); without it, as in the student pre-check, style_loss
runs with the student's own gram_matrix.
"""
import torch


def gram(features, normalize=True):
    """(N, C, H, W) -> (N, C, C), divided by C*H*W when normalize."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    g = torch.bmm(flat, flat.transpose(1, 2))
    return g / float(h * w * c) if normalize else g
