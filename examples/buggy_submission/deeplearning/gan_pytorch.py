"""Generative Adversarial Networks on MNIST-sized images (PyTorch).

Vanilla GAN (fully connected), least-squares GAN losses and a deep
convolutional GAN (DCGAN).  Images are 28x28 grayscale, flattened to 784 values
in [-1, 1]; the discriminator returns one unnormalized score (a logit) per image.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import sampler

NOISE_DIM = 96

dtype = torch.FloatTensor


def sample_noise(batch_size, dim, seed=None):
    """
    Uniform noise for the generator's input.

    Input:
    - batch_size: number of noise vectors (rows)
    - dim: length of each noise vector
    - seed: optional integer; when given, torch's global random state is seeded
      with it first so the noise is reproducible

    Output:
    - a Tensor of shape (batch_size, dim) whose entries are independent and
      uniform in (-1, 1)
    """
    if seed is not None:
        torch.manual_seed(seed)

    noise = None
    ##############################################################################
    # TODO: Draw a (batch_size, dim) Tensor of independent values, uniformly   #
    # distributed between -1 and 1. HINT: torch.rand is uniform on [0, 1).      #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    noise = 2.0 * torch.rand(batch_size, dim) - 1.0
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return noise


class Flatten(nn.Module):
    """Reshape (N, ...) to (N, D): one row per example."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class Unflatten(nn.Module):
    """Reshape (N, C*H*W) to (N, C, H, W); the default N = -1 takes the batch
    size from the input."""

    def __init__(self, N=-1, C=128, H=7, W=7):
        super(Unflatten, self).__init__()
        self.N = N
        self.C = C
        self.H = H
        self.W = W

    def forward(self, x):
        return x.reshape(self.N, self.C, self.H, self.W)


def initialize_weights(m):
    """Xavier-uniform initialization of the weights of Linear and ConvTranspose2d
    layers (biases keep PyTorch's default).  Use as model.apply(initialize_weights)."""
    if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(m.weight.data)


def preprocess_img(x):
    """Map pixel values from [0, 1] to [-1, 1]."""
    return 2 * x - 1.0


def deprocess_img(x):
    """Map values from [-1, 1] back to [0, 1]."""
    return (x + 1.0) / 2.0


def rel_error(x, y):
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def count_params(model):
    """Count the number of parameters in the model."""
    return int(sum(int(np.prod(p.size())) for p in model.parameters()))


def bce_loss(input, target):
    """
    Binary cross-entropy computed from logits, averaged over all entries.

    For a logit s and a label y the loss is -y log(sigmoid(s)) - (1 - y) log(1 - sigmoid(s)),
    evaluated in the overflow-free form max(s, 0) - s * y + log(1 + exp(-|s|))
    (torch's binary_cross_entropy_with_logits).

    Inputs:
    - input: Tensor of logits, of shape (N,) or (N, 1) (or any shape)
    - target: the labels, 0 or 1, in any of the ways the course's notebooks pass them:
      a Tensor of input's shape, one label per logit in another shape ((N,) labels
      for (N, 1) logits and the other way round; a squeezed batch of one), or a
      single number such as 1 for every logit.  Labels may be on another device
      or of another dtype than the logits.

    Returns:
    - a scalar Tensor (shape ()), the mean loss over all entries; the same value
      as every earlier version of this function for each of those inputs
    """
    target = torch.as_tensor(target).to(dtype=input.dtype, device=input.device)
    if target.shape != input.shape:
        if target.numel() == input.numel():
            target = target.reshape(input.shape)
        elif target.numel() == 1:
            target = target.reshape(()).expand(input.shape)
        else:
            raise ValueError(f"bce_loss(input, target) got {target.numel()} labels (shape {tuple(target.shape)}) "
                             f"for {input.numel()} logits (shape {tuple(input.shape)}): pass one label per logit, "
                             "e.g. torch.ones_like(logits)")
    return F.binary_cross_entropy_with_logits(input, target, reduction='mean')


def discriminator(seed=None):
    """
    The fully connected GAN discriminator: 784 -> 256 -> 256 -> 1, LeakyReLU(0.01)
    between layers. Takes images of shape (N, 784) (or (N, 1, 28, 28)) and
    returns logits of shape (N, 1). seed, when given, seeds torch first so the
    initial weights are reproducible.
    """
    if seed is not None:
        torch.manual_seed(seed)

    model = nn.Sequential(
        ##########################################################################
        # TODO: Fill in the layers of the discriminator: flatten the input,     #
        # then Linear(784 -> 256), LeakyReLU(0.01), Linear(256 -> 256),          #
        # LeakyReLU(0.01), Linear(256 -> 1). Every Linear layer has a bias.      #
        ##########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        Flatten(),
        nn.Linear(784, 256),
        nn.LeakyReLU(0.01),
        nn.Linear(256, 256),
        nn.LeakyReLU(0.01),
        nn.Linear(256, 1),
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    )
    return model


def generator(noise_dim=NOISE_DIM, seed=None):
    """
    The fully connected GAN generator: noise_dim -> 1024 -> 1024 -> 784 with
    ReLUs between layers and a final Tanh. Maps noise of shape (N, noise_dim)
    to images of shape (N, 784) in (-1, 1). seed, when given, seeds torch first.
    """
    if seed is not None:
        torch.manual_seed(seed)

    model = nn.Sequential(
        ##########################################################################
        # TODO: Fill in the layers of the generator: Linear(noise_dim -> 1024), #
        # ReLU, Linear(1024 -> 1024), ReLU, Linear(1024 -> 784), Tanh.          #
        ##########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        nn.Linear(noise_dim, 1024),
        nn.ReLU(),
        nn.Linear(1024, 1024),
        nn.ReLU(),
        nn.Linear(1024, 784),
        nn.Tanh(),
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    )
    return model


def discriminator_loss(logits_real, logits_fake):
    """
    GAN loss of the discriminator, -mean log D(x) - mean log(1 - D(G(z))).

    Inputs:
    - logits_real: Tensor of shape (N,), discriminator logits on real images
    - logits_fake: Tensor of shape (N,), discriminator logits on generated images

    Returns:
    - loss: a scalar Tensor
    """
    loss = None
    ##############################################################################
    # TODO: Real images should be classified as 1 and generated ones as 0.     #
    # Use bce_loss on each set of logits with labels of the matching size and   #
    # type, and add the two averages together.                                  #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    real_part = bce_loss(logits_real, torch.ones_like(logits_real))
    fake_part = bce_loss(logits_fake, torch.zeros_like(logits_fake))
    loss = real_part + fake_part
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def generator_loss(logits_fake):
    """
    GAN loss of the generator, -mean log D(G(z)).

    Inputs:
    - logits_fake: Tensor of shape (N,), discriminator logits on generated images

    Returns:
    - loss: a scalar Tensor
    """
    loss = None
    ##############################################################################
    # TODO: The generator wants its images classified as real (label 1).       #
    # Use bce_loss, averaged over the batch.                                    #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    loss = bce_loss(logits_fake, torch.ones_like(logits_fake))
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def get_optimizer(model):
    """
    Adam over all parameters of model, with learning rate 1e-3, beta1 = 0.5 and
    beta2 = 0.999.

    Input:
    - model: the nn.Module to train

    Returns:
    - optimizer: a torch.optim.Adam instance
    """
    optimizer = None
    ##############################################################################
    # TODO: Build a torch.optim.Adam over the model's parameters with the       #
    # hyperparameters given above.                                              #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    optimizer = optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return optimizer


def ls_discriminator_loss(scores_real, scores_fake):
    """
    Least-squares GAN loss of the discriminator,
    0.5 * mean((D(x) - 1)^2) + 0.5 * mean(D(G(z))^2).

    Inputs:
    - scores_real: Tensor of shape (N,), discriminator outputs on real images
    - scores_fake: Tensor of shape (N,), discriminator outputs on generated images

    Outputs:
    - loss: a scalar Tensor
    """
    loss = None
    ##############################################################################
    # TODO: Half the batch mean of (D(x) - 1)^2 over the real scores plus half #
    # the batch mean of D(G(z))^2 over the fake scores.                         #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    loss = 0.5 * ((scores_real - 1) ** 2).mean() + 0.5 * (scores_fake ** 2).mean()
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def ls_generator_loss(scores_fake):
    """
    Least-squares GAN loss of the generator, 0.5 * mean((D(G(z)) - 1)^2).

    Inputs:
    - scores_fake: Tensor of shape (N,), discriminator outputs on generated images

    Outputs:
    - loss: a scalar Tensor
    """
    loss = None
    ##############################################################################
    # TODO: Half the batch mean of (D(G(z)) - 1)^2.                             #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    loss = 0.5 * ((scores_fake - 1) ** 2).mean()
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return loss


def build_dc_classifier(batch_size=128):
    """
    The DCGAN discriminator (two 5x5 conv + max-pool stages, then two fully
    connected layers). Accepts images of shape (N, 1, 28, 28) or flattened ones
    of shape (N, 784) and returns logits of shape (N, 1). batch_size is kept
    for compatibility with the notebook; the batch size is taken from the input.
    """
    return nn.Sequential(
        ##########################################################################
        # TODO: Unflatten to (N, 1, 28, 28); Conv2d 32 filters 5x5 stride 1;    #
        # LeakyReLU(0.01); MaxPool 2x2 stride 2; Conv2d 64 filters 5x5 stride 1; #
        # LeakyReLU(0.01); MaxPool 2x2 stride 2; Flatten; Linear to 4*4*64;     #
        # LeakyReLU(0.01); Linear to 1.                                         #
        ##########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        Unflatten(-1, 1, 28, 28),
        nn.Conv2d(1, 32, kernel_size=5, stride=1),        # -> (N, 32, 24, 24)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(kernel_size=2, stride=2),            # -> (N, 32, 12, 12)
        nn.Conv2d(32, 64, kernel_size=5, stride=1),       # -> (N, 64, 8, 8)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(kernel_size=2, stride=2),            # -> (N, 64, 4, 4)
        Flatten(),
        nn.Linear(4 * 4 * 64, 4 * 4 * 64),
        nn.LeakyReLU(0.01),
        nn.Linear(4 * 4 * 64, 1),
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    )


def build_dc_generator(noise_dim=NOISE_DIM):
    """
    The DCGAN generator (InfoGAN's MNIST architecture): two fully connected
    layers, then two stride-2 transposed convolutions from 7x7 to 28x28. Maps
    noise of shape (N, noise_dim) to images of shape (N, 784) in (-1, 1).
    Contains batch normalization, so train it with batches of more than one.
    """
    return nn.Sequential(
        ##########################################################################
        # TODO: Linear to 1024; ReLU; BatchNorm1d; Linear to 7*7*128; ReLU;     #
        # BatchNorm1d; Unflatten to (N, 128, 7, 7); ConvTranspose2d to 64       #
        # channels, 4x4, stride 2, padding 1; ReLU; BatchNorm2d;                #
        # ConvTranspose2d to 1 channel, 4x4, stride 2, padding 1; Tanh;         #
        # Flatten back to (N, 784).                                             #
        ##########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        nn.Linear(noise_dim, 1024),
        nn.ReLU(),
        nn.BatchNorm1d(1024),
        nn.Linear(1024, 7 * 7 * 128),
        nn.ReLU(),
        nn.BatchNorm1d(7 * 7 * 128),
        Unflatten(-1, 128, 7, 7),
        nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1),   # -> 14x14
        nn.ReLU(),
        nn.BatchNorm2d(64),
        nn.ConvTranspose2d(64, 1, kernel_size=4, stride=2, padding=1),     # -> 28x28
        nn.Tanh(),
        Flatten(),
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    )


def run_a_gan(D, G, D_solver, G_solver, discriminator_loss, generator_loss, loader_train,
              show_every=250, batch_size=128, noise_size=96, num_epochs=10):
    """
    Alternate discriminator and generator updates over loader_train (no plotting).

    Inputs:
    - D, G: the discriminator and generator models
    - D_solver, G_solver: their optimizers
    - discriminator_loss, generator_loss: the loss functions to train with
    - loader_train: iterable of (images, labels) batches, images in [0, 1] of
      shape (batch, 1, 28, 28) (labels are ignored); incomplete batches are skipped.
    - show_every: record the losses and 16 generated images every show_every iterations
    - batch_size: expected size of a batch
    - noise_size: length of the generator's noise vectors
    - num_epochs: passes over loader_train

    Returns:
    - images: list of numpy arrays of shape (16, 784), generator samples
    - history: list of (iteration, discriminator loss, generator loss)
    """
    images = []
    history = []
    iter_count = 0
    for epoch in range(num_epochs):
        for x, _ in loader_train:
            if len(x) != batch_size:
                continue
            D_solver.zero_grad()
            real_data = x.type(dtype)
            logits_real = D(2 * (real_data - 0.5)).type(dtype)

            g_fake_seed = sample_noise(batch_size, noise_size).type(dtype)
            fake_images = G(g_fake_seed).detach()
            logits_fake = D(fake_images.view(batch_size, 1, 28, 28))

            d_total_error = discriminator_loss(logits_real, logits_fake)
            d_total_error.backward()
            D_solver.step()

            G_solver.zero_grad()
            g_fake_seed = sample_noise(batch_size, noise_size).type(dtype)
            fake_images = G(g_fake_seed)

            gen_logits_fake = D(fake_images.view(batch_size, 1, 28, 28))
            g_error = generator_loss(gen_logits_fake)
            g_error.backward()
            G_solver.step()

            if iter_count % show_every == 0:
                history.append((iter_count, float(d_total_error.item()), float(g_error.item())))
                images.append(fake_images.detach().cpu().numpy()[0:16])
            iter_count += 1
    return images, history


class ChunkSampler(sampler.Sampler):
    """Sampler that yields the indices start, start + 1, ..., start + num_samples - 1
    in order (a fixed train/validation split of a dataset)."""

    def __init__(self, num_samples, start=0):
        self.num_samples = num_samples
        self.start = start

    def __iter__(self):
        return iter(range(self.start, self.start + self.num_samples))

    def __len__(self):
        return self.num_samples
