"""Network visualization with image gradients (PyTorch).

Three uses of the gradient of a class score with respect to the input pixels
of a fixed, pretrained CNN:

- saliency maps: how strongly each pixel influences the correct class score;
- fooling images: a small change of the image that flips the prediction to a
  chosen class;
- class visualization: an image synthesized from noise that a class scores
  highly on.

The model is never trained here; only the image changes.
"""
import torch

from deeplearning.image_utils import (SQUEEZENET_MEAN, SQUEEZENET_STD, blur_image,
                                      deprocess, jitter, preprocess, rescale)


def compute_saliency_maps(X, y, model):
    """
    Saliency maps of the correct-class scores of a batch of images.

    Input:
    - X: images, a Tensor of shape (N, 3, H, W)
    - y: correct class of each image, a LongTensor of shape (N,)
    - model: the pretrained CNN whose scores are explained

    Returns:
    - saliency: a Tensor of shape (N, H, W); entry [i, h, w] is the largest
      absolute derivative, over the 3 channels, of image i's correct-class score
      with respect to pixel (h, w). All entries are nonnegative.
    """
    # Evaluation mode: no dropout, fixed batch-norm statistics.
    model.eval()

    # The gradient with respect to the pixels is what we are after.
    X.requires_grad_()

    saliency = None
    ##############################################################################
    # TODO: Run the model forward on X and pick out, for every image, the score  #
    # of its correct class y[i]. Add these scores up over the batch (images do   #
    # not interact, so the gradient of the sum with respect to image i is the    #
    # gradient of image i's own score) and backpropagate to the pixels of X.     #
    # The saliency of a pixel is the largest absolute gradient over the three    #
    # color channels, which gives a Tensor of shape (N, H, W).                   #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    scores = model(X)                                        # (N, num_classes)
    labels = torch.as_tensor(y, device=scores.device).long().view(-1, 1)
    correct_total = scores.gather(1, labels).sum()
    (dX,) = torch.autograd.grad(correct_total, X)            # (N, 3, H, W)
    saliency = dX.abs().amax(dim=1)                          # (N, H, W)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return saliency


def make_fooling_image(X, target_y, model):
    """
    Find an image near X that the model assigns to class target_y.

    Inputs:
    - X: the starting image, a Tensor of shape (1, 3, 224, 224); it is not modified
    - target_y: the class to reach, an integer in the range [0, 1000)
    - model: the pretrained CNN to fool

    Returns:
    - X_fooling: a Tensor of shape (1, 3, 224, 224), a small perturbation of X
      whose top-scoring class under the model is target_y.
    """
    # Work on a copy of X that records gradients; X itself stays untouched.
    X_fooling = X.clone()
    X_fooling = X_fooling.requires_grad_()

    learning_rate = 1
    ##############################################################################
    # TODO: Change X_fooling by gradient ascent on the score of class target_y   #
    # until the model's prediction for X_fooling is target_y. Check the         #
    # prediction before every step and stop as soon as it is target_y.          #
    # Each step adds the gradient g of the target score with respect to the     #
    # image, scaled to unit L2 norm:                                             #
    #   dX = learning_rate * g / ||g||_2                                        #
    #                                                                            #
    # HINT: 100 steps are enough for most images; do not take more than that.   #
    # Update the values of X_fooling in place (X_fooling.data) and do not       #
    # modify X.                                                                  #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    for _ in range(100):
        scores = model(X_fooling)
        if int(scores[0].argmax()) == int(target_y):
            break
        (g,) = torch.autograd.grad(scores[0, target_y], X_fooling)
        X_fooling.data += learning_rate * g / g.norm()
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return X_fooling


def update_class_visulization(model, target_y, l2_reg, learning_rate, img):
    """
    One gradient-ascent step on img towards a higher score for class target_y.

    Inputs:
    - model: the pretrained CNN whose class score is maximized
    - target_y: index of the class, an integer in the range [0, 1000)
    - l2_reg: weight of the L2 penalty l2_reg * ||img||_2^2 on the image
    - learning_rate: size of the step
    - img: Tensor of shape (1, 3, H, W) with requires_grad set; the step is
      applied to it in place and nothing is returned.
    """
    ##############################################################################
    # TODO: Compute the gradient of the regularized objective                    #
    #       s_y(img) - l2_reg * ||img||_2^2                                       #
    # with respect to the pixels of img, where s_y is the model's raw score for #
    # class target_y, and take one gradient ASCENT step of size learning_rate,  #
    # changing img in place (img.data). Leave no gradient behind in img.grad.   #
    # Be very careful about the signs.                                           #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    score = model(img)[:, target_y].sum()
    objective = score - l2_reg * (img * img).sum()
    (grad,) = torch.autograd.grad(objective, img)   # = ds_y/dimg - 2 * l2_reg * img
    img.data += learning_rate * grad
    if img.grad is not None:
        img.grad.zero_()
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
    """CS231n's name and argument order for ``update_class_visulization``."""
    return update_class_visulization(model, target_y, l2_reg, learning_rate, img)


def create_class_visualization(target_y, model, dtype, **kwargs):
    """
    Synthesize, from random noise, an image that scores high for class target_y.

    Inputs:
    - target_y: index of the class, an integer in the range [0, 1000)
    - model: the pretrained CNN whose class score is maximized
    - dtype: torch tensor type for the computation (e.g. torch.FloatTensor);
      None keeps the model and the image in float32 on the model's device.

    Keyword arguments:
    - l2_reg: weight of the L2 penalty on the image (default 1e-3)
    - learning_rate: gradient-ascent step size (default 25)
    - num_iterations: number of steps (default 100)
    - blur_every: blur the image (sigma 0.5) every this many steps, as an
      implicit regularizer (default 10)
    - max_jitter: largest random circular shift, in pixels, applied before
      each step and undone after it (default 16)
    - show_every: accepted for compatibility with the notebook and ignored
      (nothing is plotted here)
    - img_size: side of the square image to generate (default 224)
    - generator: a torch.Generator that drives the initial noise and the jitter
    - seed: integer; shorthand for a fresh torch.Generator seeded with it
      (ignored when generator is given). Without either, torch's global random
      state is used.

    Returns:
    - The final image, a Tensor of shape (1, 3, img_size, img_size) in the
      normalized space (use deprocess to view it).
    """
    l2_reg = kwargs.pop('l2_reg', 1e-3)
    learning_rate = kwargs.pop('learning_rate', 25)
    num_iterations = kwargs.pop('num_iterations', 100)
    blur_every = kwargs.pop('blur_every', 10)
    max_jitter = kwargs.pop('max_jitter', 16)
    kwargs.pop('show_every', None)
    img_size = kwargs.pop('img_size', 224)
    gen = kwargs.pop('generator', None)
    seed = kwargs.pop('seed', None)
    if gen is None and seed is not None:
        gen = torch.Generator()
        gen.manual_seed(int(seed))

    if dtype is not None:
        model.type(dtype)
        img = torch.randn(1, 3, img_size, img_size, generator=gen).type(dtype)
    else:
        device = next(model.parameters()).device
        img = torch.randn(1, 3, img_size, img_size, generator=gen).to(device)
    # Randomly initialized image that we optimize.
    img.requires_grad_()

    for t in range(num_iterations):
        # Shift the image by a random offset before the step (undone below);
        # it discourages high-frequency patterns tied to fixed positions.
        ox, oy = (int(v) for v in torch.randint(0, max_jitter + 1, (2,), generator=gen))
        img.data.copy_(jitter(img.data, ox, oy))

        update_class_visulization(model, target_y, l2_reg, learning_rate, img)

        # Shift back.
        img.data.copy_(jitter(img.data, -ox, -oy))

        # As a regularizer, clamp every channel to the range of a real image
        # ([0, 1] before normalization) and blur the image now and then.
        for c in range(3):
            lo = float(-SQUEEZENET_MEAN[c] / SQUEEZENET_STD[c])
            hi = float((1.0 - SQUEEZENET_MEAN[c]) / SQUEEZENET_STD[c])
            img.data[:, c].clamp_(min=lo, max=hi)
        if blur_every and t % blur_every == 0:
            blur_image(img.data, sigma=0.5)

    return img.detach()
