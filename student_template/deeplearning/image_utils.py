"""Image helpers shared by the PyTorch questions (network visualization and
style transfer).

Images travel through the networks as float tensors of shape (1, 3, H, W),
normalized channel by channel with the ImageNet statistics that SqueezeNet was
trained with.  ``preprocess`` goes from a PIL image to that form and
``deprocess`` comes back.  ``blur_image`` and ``jitter`` are the implicit
regularizers used by class visualization.

Everything here is written with torch, numpy and PIL only: no scipy, and no
torchvision (importing it costs seconds; ``preprocess`` and ``deprocess`` give
what torchvision's Resize / ToTensor / Normalize / ToPILImage give).
"""

import numpy as np
import torch
import torch.nn.functional as F

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess(img, size=224):
    """
    Turn a PIL image into a normalized batch of one image.

    Inputs:
    - img: PIL image (RGB).
    - size: the shorter side of the image is resized to this many pixels
      (an int), or the image is resized to exactly (H, W) when a pair is given.

    Returns:
    - A float Tensor of shape (1, 3, H, W): pixel values scaled to [0, 1],
      then shifted and divided by SQUEEZENET_MEAN / SQUEEZENET_STD.
    """
    from PIL import Image
    w, h = img.size
    if isinstance(size, int):  # the shorter side becomes ``size``, the longer keeps the aspect ratio
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_h, new_w = size
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    x = torch.from_numpy(np.array(img.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)
    x = x.to(torch.get_default_dtype()).div(255)
    mean = torch.from_numpy(SQUEEZENET_MEAN).view(3, 1, 1)
    std = torch.from_numpy(SQUEEZENET_STD).view(3, 1, 1)
    return ((x - mean) / std)[None]


def deprocess(img, should_rescale=True):
    """
    Inverse of ``preprocess``: turn a (1, 3, H, W) tensor back into a PIL image.

    Inputs:
    - img: Tensor of shape (1, 3, H, W) (or (3, H, W)) in the normalized space.
    - should_rescale: if True, stretch the un-normalized values linearly so that
      their minimum maps to 0 and their maximum to 1 before conversion (useful for
      images produced by gradient ascent, whose range is arbitrary); if False the
      values are only clamped to [0, 1].

    Returns:
    - A PIL image of size (W, H).
    """
    x = img.detach().cpu().float()
    if x.dim() == 4:
        x = x[0]
    mean = torch.from_numpy(SQUEEZENET_MEAN).view(3, 1, 1)
    std = torch.from_numpy(SQUEEZENET_STD).view(3, 1, 1)
    x = x * std + mean
    if should_rescale:
        x = rescale(x)
    x = x.clamp(0.0, 1.0)
    from PIL import Image
    return Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8), "RGB")


def rescale(x):
    """Map the values of x linearly onto [0, 1] (min -> 0, max -> 1).

    A constant input maps to all zeros instead of dividing by zero.
    """
    low, high = x.min(), x.max()
    span = high - low
    if float(span) == 0.0:
        return torch.zeros_like(x)
    return (x - low) / span


def _gaussian_kernel1d(sigma, radius, dtype, device):
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = weights / weights.sum()
    return weights.to(dtype=dtype, device=device)


def _symmetric_pad(x, radius, dim):
    """Pad ``x`` by ``radius`` on both sides of ``dim`` by mirroring the edge,
    edge sample included (... c b a | a b c ... ), as scipy.ndimage's 'reflect'
    mode does.  Handles radii longer than the axis by repeating the mirror."""
    n = x.shape[dim]
    if radius <= 0:
        return x
    if radius <= n:
        left = x.narrow(dim, 0, radius).flip(dim)
        right = x.narrow(dim, n - radius, radius).flip(dim)
        return torch.cat([left, x, right], dim=dim)
    # General case: index arithmetic on a period of 2n.
    idx = torch.arange(-radius, n + radius, device=x.device) % (2 * n)
    idx = torch.where(idx >= n, 2 * n - 1 - idx, idx)
    return x.index_select(dim, idx)


def blur_image(X, sigma=1):
    """
    Blur a batch of images in place with a separable Gaussian filter.

    Same result as applying scipy.ndimage.gaussian_filter1d (truncate=4.0,
    mode='reflect') along the height and then the width axis, computed with
    torch conv2d on X's own device and dtype.

    Inputs:
    - X: Tensor of shape (N, C, H, W); it is overwritten with the result.
    - sigma: standard deviation of the Gaussian, in pixels (0 leaves X as is).

    Returns:
    - X, the same tensor object, now blurred.
    """
    if sigma <= 0:
        return X
    radius = int(4.0 * float(sigma) + 0.5)
    if radius == 0:
        return X
    with torch.no_grad():
        N, C, H, W = X.shape
        kernel = _gaussian_kernel1d(float(sigma), radius, X.dtype, X.device)
        k = 2 * radius + 1
        out = X.reshape(N * C, 1, H, W)
        out = _symmetric_pad(out, radius, 2)
        out = F.conv2d(out, kernel.view(1, 1, k, 1))
        out = _symmetric_pad(out, radius, 3)
        out = F.conv2d(out, kernel.view(1, 1, 1, k))
        X.copy_(out.reshape(N, C, H, W))
    return X


def jitter(X, ox, oy):
    """
    Shift an image circularly (what wraps off one edge re-enters on the other).

    Inputs:
    - X: PyTorch Tensor of shape (N, C, H, W)
    - ox: Number of pixels to move right along the width axis (negative: left)
    - oy: Number of pixels to move down along the height axis (negative: up)

    Returns: A new PyTorch Tensor of shape (N, C, H, W); equal to
    torch.roll(X, shifts=(oy, ox), dims=(2, 3)).
    """
    if ox != 0:
        head = X[:, :, :, :-ox]
        tail = X[:, :, :, -ox:]
        X = torch.cat([tail, head], dim=3)
    if oy != 0:
        head = X[:, :, :-oy]
        tail = X[:, :, -oy:]
        X = torch.cat([tail, head], dim=2)
    return X
