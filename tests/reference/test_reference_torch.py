"""Tests of the PyTorch reference solutions (Q3 network visualization, Q4 style
transfer, Q5 GANs) and of the deterministic models in grader.course.models.

Everything runs on the CPU in a few seconds: SqueezeNet is the seeded one from
grader.course.models (no download) at SQUEEZENET_IMAGE_SIZE.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from deeplearning import gan_pytorch as gan
from deeplearning import image_utils
from deeplearning import network_visualization as nv
from deeplearning import style_transfer as st
from grader.course import models as tm

torch.set_num_threads(1)

SIZE = tm.SQUEEZENET_IMAGE_SIZE


@pytest.fixture(scope="module")
def squeezenet():
    return tm.squeezenet(seed=0)


@pytest.fixture(scope="module")
def images():
    return torch.from_numpy(tm.test_images(seed=0, n=4, size=SIZE))


def _bce_by_hand(logits, labels):
    s = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-s))
    return float(np.mean(-(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))))


# --------------------------------------------------------------------------
# Q5: parameter counts and shapes
# --------------------------------------------------------------------------

def test_discriminator_param_count():
    count = gan.count_params(gan.discriminator())
    print("discriminator params:", count)
    assert count == 267009


def test_generator_param_count():
    count = gan.count_params(gan.generator(4))
    print("generator(4) params:", count)
    assert count == 1858320


def test_dc_classifier_param_count():
    count = gan.count_params(gan.build_dc_classifier())
    print("build_dc_classifier params:", count)
    assert count == 1102721


def test_dc_generator_param_count():
    count = gan.count_params(gan.build_dc_generator(4))
    print("build_dc_generator(4) params:", count)
    assert count == 6580801


def test_gan_forward_shapes():
    torch.manual_seed(0)
    assert gan.discriminator()(torch.randn(128, 784)).shape == (128, 1)
    assert gan.discriminator()(torch.randn(128, 1, 28, 28)).shape == (128, 1)

    with torch.no_grad():
        out = gan.generator(4)(torch.randn(128, 4))
    assert out.shape == (128, 784)
    assert float(out.abs().max()) < 1.0

    dc = gan.build_dc_classifier()
    assert dc(torch.randn(128, 1, 28, 28)).shape == (128, 1)
    assert dc(torch.randn(128, 784)).shape == (128, 1)
    assert dc(torch.randn(16, 784)).shape == (16, 1)

    g = gan.build_dc_generator()
    g.apply(gan.initialize_weights)
    with torch.no_grad():
        out = g(torch.randn(128, gan.NOISE_DIM))
    assert out.shape == (128, 784)
    assert float(out.abs().max()) <= 1.0


def test_seeded_builders_are_reproducible():
    a = gan.discriminator(seed=3)
    b = gan.discriminator(seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    a = gan.generator(seed=5)
    b = gan.generator(seed=5)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


# --------------------------------------------------------------------------
# grader.course.models: weights by parameter order
# --------------------------------------------------------------------------

def test_load_params_by_order_ignores_layer_indices():
    reference = gan.discriminator()
    # Same layers without the Flatten (keys 0/2/4 instead of 1/3/5) and with
    # two Flattens (keys 2/4/6): only the order of the parameters matters.
    variants = [
        nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.01), nn.Linear(256, 256),
                      nn.LeakyReLU(0.01), nn.Linear(256, 1)),
        nn.Sequential(nn.Flatten(), gan.Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01),
                      nn.Linear(256, 256), nn.LeakyReLU(0.01), nn.Linear(256, 1)),
    ]
    shapes = [p.shape for p in reference.parameters()]
    arrays = tm.seeded_params(shapes, seed=7)
    assert [a.dtype for a in arrays] == [np.float32] * len(arrays)
    tm.load_params_by_order(reference, arrays)
    x = torch.from_numpy(np.random.RandomState(1).standard_normal((5, 784)).astype(np.float32))
    expected = reference(x)
    for model in variants:
        assert list(model.state_dict().keys()) != list(reference.state_dict().keys())
        tm.load_params_by_order(model, arrays)
        assert torch.equal(model(x), expected)


def test_load_params_by_order_rejects_mismatches():
    model = gan.discriminator()
    arrays = tm.seeded_params([p.shape for p in model.parameters()], seed=0)
    bad = list(arrays)
    bad[2] = np.zeros((256, 255), dtype=np.float32)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError) as err:
        tm.load_params_by_order(model, bad)
    message = str(err.value)
    print(message)
    assert "parameter 2" in message and "(256, 256)" in message and "(256, 255)" in message
    # Nothing was copied.
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    with pytest.raises(ValueError):
        tm.load_params_by_order(model, arrays[:-1])


def test_seeded_params_are_deterministic_and_scaled():
    shapes = [(64, 32, 3, 3), (64,), (10, 400)]
    a = tm.seeded_params(shapes, seed=11)
    b = tm.seeded_params(shapes, seed=11)
    c = tm.seeded_params(shapes, seed=12)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert [x.shape for x in a] == shapes
    assert abs(a[0].std() - math.sqrt(2.0 / (32 * 9))) < 0.01
    assert a[1].std() < 0.2
    assert abs(a[2].std() - math.sqrt(2.0 / 400)) < 0.01


def test_seeded_squeezenet_is_deterministic_and_not_degenerate(squeezenet):
    other = tm.squeezenet(seed=0)
    for p, q in zip(squeezenet.parameters(), other.parameters()):
        assert torch.equal(p, q)
        assert not p.requires_grad
    assert not squeezenet.training
    X = torch.from_numpy(tm.test_images(seed=1, n=12, size=SIZE))
    assert np.array_equal(X.numpy(), tm.test_images(seed=1, n=12, size=SIZE))
    assert X.dtype == torch.float32 and X.shape == (12, 3, SIZE, SIZE)
    with torch.no_grad():
        scores = squeezenet(X)
    preds = scores.argmax(1).tolist()
    print("predicted classes:", preds)
    assert scores.shape == (12, 1000)
    assert torch.isfinite(scores).all()
    assert len(set(preds)) >= 6            # the prediction depends on the image
    assert float(scores.std(dim=0).mean()) > 0.05
    assert float((scores > 0).float().mean()) > 0.99   # classes are not switched off


def test_test_images_look_like_preprocess_output():
    X = tm.test_images(seed=3, n=5, size=32)
    mean = image_utils.SQUEEZENET_MEAN[None, :, None, None]
    std = image_utils.SQUEEZENET_STD[None, :, None, None]
    pixels = X * std + mean
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert pixels.std() > 0.05
    # Smooth: neighbouring pixels differ much less than the image varies.
    # (White noise of the same spread would give about 1.1 * std.)
    step = np.abs(np.diff(pixels, axis=3)).mean()
    assert step < 0.3 * pixels.std()


# --------------------------------------------------------------------------
# Q4: style transfer losses
# --------------------------------------------------------------------------

def test_gram_matrix_batch_and_normalization():
    rs = np.random.RandomState(0)
    feats = torch.from_numpy(rs.standard_normal((3, 5, 4, 6)).astype(np.float64))
    gram = st.gram_matrix(feats)
    assert gram.shape == (3, 5, 5) and gram.dtype == torch.float64
    for n in range(3):
        single = st.gram_matrix(feats[n:n + 1])[0]
        assert torch.allclose(gram[n], single)
        F = feats[n].reshape(5, -1).numpy()
        np.testing.assert_allclose(gram[n].numpy(), F @ F.T / (4 * 6 * 5), rtol=1e-12)
    raw = st.gram_matrix(feats, normalize=False)
    np.testing.assert_allclose(raw.numpy(), gram.numpy() * (4 * 6 * 5), rtol=1e-12)


def test_tv_loss_matches_double_loop():
    rs = np.random.RandomState(1)
    img = rs.standard_normal((1, 3, 4, 5))
    expected = 0.0
    for c in range(3):
        for i in range(4):
            for j in range(5):
                if i + 1 < 4:
                    expected += (img[0, c, i + 1, j] - img[0, c, i, j]) ** 2
                if j + 1 < 5:
                    expected += (img[0, c, i, j + 1] - img[0, c, i, j]) ** 2
    got = st.tv_loss(torch.from_numpy(img), 0.37)
    assert got.dim() == 0
    assert abs(float(got) - 0.37 * expected) < 1e-10


def test_content_loss_by_hand():
    rs = np.random.RandomState(2)
    a = rs.standard_normal((1, 8, 3, 3))
    b = rs.standard_normal((1, 8, 3, 3))
    got = st.content_loss(6e-2, torch.from_numpy(a), torch.from_numpy(b))
    assert got.dim() == 0
    assert abs(float(got) - 6e-2 * np.sum((a - b) ** 2)) < 1e-10


def test_style_loss_sums_weighted_layer_terms():
    rs = np.random.RandomState(3)
    feats = [torch.from_numpy(rs.standard_normal((1, c, h, h))) for c, h in
             [(4, 6), (6, 5), (8, 4), (3, 3)]]
    layers = [0, 2, 3]
    targets = [torch.from_numpy(rs.standard_normal((1, feats[l].shape[1], feats[l].shape[1])))
               for l in layers]
    weights = [300.0, 10.0, 0.5]
    expected = 0.0
    for l, t, w in zip(layers, targets, weights):
        F = feats[l][0].reshape(feats[l].shape[1], -1).numpy()
        G = F @ F.T / F.size
        expected += w * np.sum((G - t[0].numpy()) ** 2)
    got = st.style_loss(feats, layers, targets, weights)
    assert got.dim() == 0
    np.testing.assert_allclose(float(got), expected, rtol=1e-10)


def test_style_transfer_lowers_the_loss(squeezenet, images):
    cnn = squeezenet.features
    feats = st.extract_features(images[:1], cnn)
    assert len(feats) == len(cnn)
    out, losses = st.style_transfer(images[:1], images[1:2], cnn, content_layer=3,
                                    content_weight=6e-2, style_layers=[1, 4, 6, 7],
                                    style_weights=[300000, 1000, 15, 3], tv_weight=2e-2,
                                    num_iterations=15)
    print("style transfer losses:", ["%.4g" % v for v in losses])
    assert out.shape == images[:1].shape
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]
    assert min(losses[-3:]) < losses[0]


# --------------------------------------------------------------------------
# Q3: network visualization
# --------------------------------------------------------------------------

def test_saliency_matches_autograd(squeezenet, images):
    y = torch.tensor([3, 76, 500, 999])
    sal = nv.compute_saliency_maps(images.clone(), y, squeezenet)
    assert sal.shape == (4, SIZE, SIZE)
    assert bool((sal >= 0).all())
    assert float(sal.max()) > 0
    X = images.clone().requires_grad_()
    scores = squeezenet(X)
    (scores[torch.arange(4), y]).sum().backward()
    expected = X.grad.abs().max(dim=1)[0]
    assert torch.allclose(sal.detach(), expected, rtol=1e-5, atol=1e-8)
    # Each image's map only depends on its own score.
    one = nv.compute_saliency_maps(images[1:2].clone(), y[1:2], squeezenet)
    assert torch.allclose(one.detach()[0], expected[1], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("image_seed,target", [(0, 6), (1, 76), (2, 683)])
def test_fooling_image(squeezenet, image_seed, target):
    X = torch.from_numpy(tm.test_images(seed=image_seed, n=1, size=SIZE))
    X_before = X.clone()
    with torch.no_grad():
        pred = int(squeezenet(X).argmax())
    assert pred != target
    X_fool = nv.make_fooling_image(X, target, squeezenet)
    assert torch.equal(X, X_before)
    assert X_fool.shape == X.shape
    with torch.no_grad():
        fooled = int(squeezenet(X_fool).argmax())
    rel = float((X_fool.detach() - X).norm() / X.norm())
    print("fooling image seed %d: %d -> %d (target %d), relative change %.4f"
          % (image_seed, pred, fooled, target, rel))
    assert fooled == target
    assert rel < 0.25


def test_update_class_visulization_one_step(squeezenet, images):
    target, l2_reg, lr = 76, 1e-3, 25.0
    start = images[2:3].clone()
    img = start.clone().requires_grad_()
    storage = img.data_ptr()
    result = nv.update_class_visulization(squeezenet, target, l2_reg, lr, img)
    assert result is None
    assert img.data_ptr() == storage            # updated in place
    assert img.grad is None or float(img.grad.abs().max()) == 0.0

    ref = start.clone().requires_grad_()
    squeezenet(ref)[0, target].backward()
    expected = start + lr * (ref.grad - 2 * l2_reg * start)
    assert torch.allclose(img.detach(), expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(img.detach(), start)

    # CS231n's name and argument order take the same step.
    img2 = start.clone().requires_grad_()
    nv.class_visualization_update_step(img2, squeezenet, target, l2_reg, lr)
    assert torch.allclose(img2.detach(), img.detach())


def test_create_class_visualization_is_seeded(squeezenet):
    a = nv.create_class_visualization(76, squeezenet, torch.FloatTensor, img_size=32,
                                      num_iterations=6, blur_every=3, seed=4, show_every=1)
    b = nv.create_class_visualization(76, squeezenet, torch.FloatTensor, img_size=32,
                                      num_iterations=6, blur_every=3, seed=4)
    assert a.shape == (1, 3, 32, 32)
    assert torch.equal(a, b)
    for c in range(3):
        lo = -image_utils.SQUEEZENET_MEAN[c] / image_utils.SQUEEZENET_STD[c]
        hi = (1 - image_utils.SQUEEZENET_MEAN[c]) / image_utils.SQUEEZENET_STD[c]
        assert float(a[:, c].min()) >= lo - 1e-5 and float(a[:, c].max()) <= hi + 1e-5


# --------------------------------------------------------------------------
# image_utils
# --------------------------------------------------------------------------

def _reflect_blur_1d(x, sigma, axis):
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis, mode='reflect') in numpy."""
    radius = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    xp = np.pad(x, pad, mode="symmetric")
    out = np.zeros_like(x)
    n = x.shape[axis]
    for i, w in enumerate(k):
        out += w * np.take(xp, np.arange(i, i + n), axis=axis)
    return out


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_blur_image_matches_gaussian_filter(sigma):
    rs = np.random.RandomState(5)
    x = rs.standard_normal((2, 3, 9, 7))
    X = torch.from_numpy(x.copy())
    out = image_utils.blur_image(X, sigma=sigma)
    assert out is X
    expected = _reflect_blur_1d(_reflect_blur_1d(x, sigma, 2), sigma, 3)
    np.testing.assert_allclose(X.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_jitter_is_a_roll():
    X = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).reshape(2, 3, 5, 6)
    for ox, oy in [(0, 0), (2, 1), (-3, 4), (5, -2)]:
        assert torch.equal(image_utils.jitter(X, ox, oy), torch.roll(X, (oy, ox), dims=(2, 3)))
        assert torch.equal(image_utils.jitter(image_utils.jitter(X, ox, oy), -ox, -oy), X)


def test_preprocess_deprocess_round_trip():
    from PIL import Image

    rs = np.random.RandomState(6)
    arr = rs.randint(0, 256, size=(20, 24, 3)).astype(np.uint8)
    x = image_utils.preprocess(Image.fromarray(arr), size=20)
    assert x.shape == (1, 3, 20, 24) and x.dtype == torch.float32
    back = np.asarray(image_utils.deprocess(x, should_rescale=False))
    assert back.shape == (20, 24, 3)
    assert np.abs(back.astype(int) - arr.astype(int)).max() <= 1
    r = image_utils.rescale(torch.tensor([2.0, 4.0, 3.0]))
    assert torch.allclose(r, torch.tensor([0.0, 1.0, 0.5]))



@pytest.mark.parametrize("shape, size", [((300, 400), 224), ((400, 300), 64), ((50, 77), (30, 40)), ((224, 224), 224),
                                         ((513, 200), 192)])
def test_preprocess_deprocess_are_torchvisions(shape, size):
    """image_utils does what the notebooks' torchvision transforms do (Resize, ToTensor, Normalize; ToPILImage)
    without importing torchvision in the worker (seconds of CPU, torch._dynamo included): the same values."""
    import torchvision.transforms as T
    from PIL import Image
    mean, std = image_utils.SQUEEZENET_MEAN.tolist(), image_utils.SQUEEZENET_STD.tolist()
    img = Image.fromarray(np.random.RandomState(sum(shape)).randint(0, 256, shape + (3,)).astype(np.uint8))
    theirs = T.Compose([T.Resize(size), T.ToTensor(), T.Normalize(mean=mean, std=std), T.Lambda(lambda x: x[None])])
    assert torch.equal(image_utils.preprocess(img, size), theirs(img))
    x = torch.randn(1, 3, 9, 13)
    for rescale in (True, False):
        plain = x[0] * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
        plain = image_utils.rescale(plain) if rescale else plain
        want = np.asarray(T.ToPILImage()(plain.clamp(0, 1)))
        assert np.array_equal(np.asarray(image_utils.deprocess(x, should_rescale=rescale)), want)

# --------------------------------------------------------------------------
# Q5: noise, optimizer, losses
# --------------------------------------------------------------------------

def test_sample_noise():
    torch.manual_seed(231)
    z = gan.sample_noise(3, 4)
    assert torch.is_tensor(z) and z.shape == (3, 4)
    big = gan.sample_noise(1000, 8)
    assert float(big.min()) >= -1.0 and float(big.max()) <= 1.0
    assert bool((big < 0).any()) and bool((big > 0).any())
    assert float(big.min()) < -0.9 and float(big.max()) > 0.9
    assert abs(float(big.mean())) < 0.05
    assert not torch.equal(gan.sample_noise(3, 4), gan.sample_noise(3, 4))
    assert torch.equal(gan.sample_noise(3, 4, seed=9), gan.sample_noise(3, 4, seed=9))


def test_get_optimizer():
    model = gan.discriminator()
    opt = gan.get_optimizer(model)
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert group["lr"] == 1e-3
    assert tuple(group["betas"]) == (0.5, 0.999)
    assert len(group["params"]) == len(list(model.parameters()))


def test_gan_losses_by_hand():
    rs = np.random.RandomState(8)
    real = rs.standard_normal(10) * 3
    fake = rs.standard_normal(10) * 3
    tr = torch.from_numpy(real.astype(np.float32))
    tf = torch.from_numpy(fake.astype(np.float32))

    d = float(gan.discriminator_loss(tr, tf))
    g = float(gan.generator_loss(tf))
    assert abs(d - (_bce_by_hand(real, np.ones(10)) + _bce_by_hand(fake, np.zeros(10)))) < 1e-5
    assert abs(g - _bce_by_hand(fake, np.ones(10))) < 1e-5

    ls_d = float(gan.ls_discriminator_loss(tr, tf))
    ls_g = float(gan.ls_generator_loss(tf))
    assert abs(ls_d - (0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2))) < 1e-5
    assert abs(ls_g - 0.5 * np.mean((fake - 1) ** 2)) < 1e-5

    # bce_loss stays finite for huge logits and matches the formula.
    big = torch.tensor([1000.0, -1000.0, 0.0])
    labels = torch.tensor([0.0, 1.0, 1.0])
    value = float(gan.bce_loss(big, labels))
    assert math.isfinite(value)
    assert abs(value - (1000.0 + 1000.0 + math.log(2.0)) / 3) < 1e-3

    # Column-shaped logits (N, 1), as the discriminators return them.
    d_col = float(gan.discriminator_loss(tr[:, None], tf[:, None]))
    assert abs(d_col - d) < 1e-6


def test_run_a_gan_smoke():
    torch.manual_seed(0)
    data = [(torch.rand(8, 1, 28, 28), torch.zeros(8)) for _ in range(3)]
    D, G = gan.discriminator(seed=1), gan.generator(seed=2)
    images, history = gan.run_a_gan(D, G, gan.get_optimizer(D), gan.get_optimizer(G),
                                    gan.ls_discriminator_loss, gan.ls_generator_loss, data,
                                    show_every=2, batch_size=8, num_epochs=1)
    assert [h[0] for h in history] == [0, 2]
    assert images[0].shape == (8, 784)
    assert all(math.isfinite(h[1]) and math.isfinite(h[2]) for h in history)
