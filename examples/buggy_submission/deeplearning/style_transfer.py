"""Neural style transfer (Gatys et al., CVPR 2015) in PyTorch.

An image is optimized directly, pixel by pixel, so that its CNN features match
the features of a content image at one layer, its Gram matrices match those of
a style image at several layers, and it stays smooth (total variation).
"""
import torch

from deeplearning.image_utils import deprocess, preprocess  # noqa: F401 (deprocess: for the notebook)


def content_loss(content_weight, content_current, content_original):
    """
    Weighted content loss between two feature maps of one layer.

    Inputs:
    - content_weight: scalar weight of the content loss
    - content_current: features of the image being optimized at layer l, a
      Tensor of shape (1, C_l, H_l, W_l)
    - content_original: features of the content image at the same layer, a
      Tensor of shape (1, C_l, H_l, W_l)

    Returns:
    - a scalar Tensor: content_weight * sum((content_current - content_original)^2)
    """
    loss = None
    ##############################################################################
    # TODO: The content loss is content_weight times the sum, over every        #
    # channel and position, of the squared difference between the current      #
    # features and the content image's features. Return it as a scalar Tensor. #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    diff = content_current - content_original
    loss = content_weight * (diff * diff).sum()
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def gram_matrix(features, normalize=True):
    """
    Gram matrices of a batch of feature maps.

    Inputs:
    - features: Tensor of shape (N, C, H, W), the features of N images at one layer
    - normalize: if True (the default), divide each Gram matrix by the number
      of activations in one image's feature map, H * W * C

    Returns:
    - gram: Tensor of shape (N, C, C); gram[n, i, j] is the sum over positions
      of the product of channels i and j of image n (divided by H * W * C when
      normalize is True). Same device and dtype as features.
    """
    gram = None
    ##############################################################################
    # TODO: For every image in the batch, view its features as a C x (H*W)     #
    # matrix F and compute G = F F^T, so G[i, j] sums over positions the       #
    # product of channels i and j. Divide by H * W * C when normalize is True. #
    # Work on the whole batch at once and keep the device and dtype of         #
    # features.                                                                  #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    N, C, H, W = features.shape
    flat = features.reshape(N, C, H * W)
    gram = torch.bmm(flat, flat.transpose(1, 2))            # (N, C, C)
    if normalize:
        gram = gram / float(H * W * C)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return gram


def style_loss(feats, style_layers, style_targets, style_weights):
    """
    Style loss summed over several layers.

    Inputs:
    - feats: the features of the image being optimized at every layer, a list
      as returned by extract_features
    - style_layers: list of indices into feats, the layers that contribute
    - style_targets: list as long as style_layers; style_targets[i] is the Gram
      matrix (Tensor of shape (1, C, C)) of the style image at layer style_layers[i]
    - style_weights: list as long as style_layers; style_weights[i] is the scalar
      weight of layer style_layers[i]

    Returns:
    - style_loss: a scalar Tensor,
      sum_i style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) - style_targets[i])^2)
    """
    loss = None
    ##############################################################################
    # TODO: For each layer in style_layers, compute the Gram matrix of the      #
    # current features at that layer (with gram_matrix above), take the sum of #
    # squared differences from the matching style target, multiply by the      #
    # matching weight, and add the terms of all layers together.               #
    # A single loop over the layers is enough.                                  #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    terms = []
    for layer, target, weight in zip(style_layers, style_targets, style_weights):
        current = gram_matrix(feats[layer])
        terms.append(weight * ((current - target) ** 2).sum())
    loss = torch.stack(terms).sum() if terms else torch.zeros(())
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def tv_loss(img, tv_weight):
    """
    Weighted total-variation loss of an image.

    Inputs:
    - img: Tensor of shape (1, 3, H, W), the image
    - tv_weight: scalar weight w_t of the loss

    Returns:
    - loss: a scalar Tensor, w_t times the sum over channels of the squared
      differences between vertically adjacent pixels plus those between
      horizontally adjacent pixels.
    """
    loss = None
    ##############################################################################
    # TODO: Sum the squared differences between every pair of vertically       #
    # adjacent pixels and every pair of horizontally adjacent pixels, over all #
    # channels, and multiply the total by tv_weight.                           #
    # Your implementation should be vectorized and not require any loops!     #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    down = img[:, :, 1:, :] - img[:, :, :-1, :]
    across = img[:, :, :, 1:] - img[:, :, :, :-1]
    loss = tv_weight * ((down * down).sum() + (across * across).sum())
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def extract_features(x, cnn):
    """
    Run x through cnn one module at a time and keep every module's output.

    Inputs:
    - x: Tensor of shape (N, C, H, W), a batch of images
    - cnn: the feature extractor, a module whose children run in sequence
      (for SqueezeNet, model.features)

    Returns:
    - features: list with one entry per child module of cnn; features[i] is the
      output of module i, a Tensor of shape (N, C_i, H_i, W_i). Channels and
      spatial size vary from layer to layer.
    """
    features = []
    current = x
    for module in cnn._modules.values():
        current = module(current)
        features.append(current)
    return features


def features_from_img(imgpath, imgsize, cnn, dtype):
    """Load the image at imgpath, preprocess it to the given size, and return
    (extract_features of it, the preprocessed image tensor)."""
    import PIL.Image

    img = preprocess(PIL.Image.open(imgpath).convert('RGB'), size=imgsize)
    img_var = img.type(dtype)
    return extract_features(img_var, cnn), img_var


def style_transfer(content_img, style_img, cnn, content_layer, content_weight,
                   style_layers, style_weights, tv_weight, num_iterations=200,
                   init_random=False, initial_lr=3.0, decayed_lr=0.1, decay_lr_at=180,
                   generator=None):
    """
    Run style transfer on already-preprocessed images.

    Inputs:
    - content_img: the content image as preprocess() returns it, shape (1, 3, H, W)
    - style_img: the style image, shape (1, 3, H', W')
    - cnn: the feature extractor, e.g. a SqueezeNet's .features (an nn.Sequential)
    - content_layer: index of the layer whose features define the content loss
    - content_weight: weight of the content loss
    - style_layers: indices of the layers whose Gram matrices define the style loss
    - style_weights: one weight per entry of style_layers
    - tv_weight: weight of the total-variation loss
    - num_iterations: number of Adam steps on the image (the notebook runs 200)
    - init_random: start from uniform noise in [0, 1) instead of the content image
    - initial_lr, decayed_lr, decay_lr_at: Adam learning rate, replaced by
      decayed_lr (with a fresh optimizer, as in the notebook) at iteration decay_lr_at
    - generator: optional torch.Generator for the random initialization

    Returns a tuple of:
    - img: the final image, a Tensor of the shape of content_img (detached)
    - losses: list of floats, the total loss computed at each iteration
      (before that iteration's step)
    """
    dtype = content_img.dtype
    device = content_img.device

    # Targets: the content features and the style Gram matrices.
    with torch.no_grad():
        feats = extract_features(content_img, cnn)
        content_target = feats[content_layer].clone()
        feats = extract_features(style_img.to(device=device, dtype=dtype), cnn)
        style_targets = [gram_matrix(feats[idx].clone()) for idx in style_layers]

    # Start from the content image or from noise.
    if init_random:
        img = torch.rand(content_img.shape, generator=generator).to(device=device, dtype=dtype)
    else:
        img = content_img.detach().clone()
    img.requires_grad_()

    optimizer = torch.optim.Adam([img], lr=initial_lr)
    losses = []
    for t in range(num_iterations):
        if t < 190:
            img.data.clamp_(-1.5, 1.5)
        optimizer.zero_grad()

        feats = extract_features(img, cnn)
        c_loss = content_loss(content_weight, feats[content_layer], content_target)
        s_loss = style_loss(feats, style_layers, style_targets, style_weights)
        t_loss = tv_loss(img, tv_weight)
        loss = c_loss + s_loss + t_loss
        loss.backward()
        losses.append(float(loss.item()))

        if t == decay_lr_at:
            optimizer = torch.optim.Adam([img], lr=decayed_lr)
        optimizer.step()

    return img.detach(), losses
