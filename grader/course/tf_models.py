"""The seeded SqueezeNet 1.1 of the Q3/Q4 checks, in TensorFlow (the TensorFlow track).

CS182 HW2 lets students do Q3 and Q4 in TensorFlow.  Their code expects the
course's TensorFlow SqueezeNet, so the worker hands them one, with exactly the
weights of the PyTorch model the fixtures were made with
(``grader.course.models.squeezenet(seed)``): the same ``seeded_params`` draws
in the same parameter order, the same classifier calibration, converted to
TensorFlow's layout (NHWC activations, HWIO convolution kernels).  Two flavours:

- :class:`SqueezeNetTF1`: the 2017-2018 course API (TensorFlow 1.x, graph
  mode; ``cs231n/classifiers/squeezenet.py`` of CS231n 2017/2018 and CS182's
  ``deeplearning/classifiers/squeezenet.py``): ``model.image`` (float32
  placeholder, NHWC, shape [None, None, None, 3]), ``model.labels`` (int32
  placeholder [None]), ``model.classifier`` (scores, (N, 1000); 2018 calls it
  ``model.scores``: both are there), ``model.loss``, ``model.layers``,
  ``model.features`` and ``model.extract_features(input=None, reuse=True)``,
  which builds the 13 feature layers on any NHWC input with the shared weights.
  As in the course file, ``model.features`` is the LAST feature map (a
  tensor); the list of the 13 feature maps of ``model.image`` is
  ``model.feature_layers`` (= ``model.layers[:13]``).  Variables live in the
  course's scopes (``features/layer0/weights`` ...).  Build it inside a graph
  (``with graph.as_default():``), then ``model.initialize(sess)``.
- :func:`keras_squeezenet`: the 2019-2020 course API (TensorFlow 2, eager): a
  ``tf.keras.Model`` called as ``model(X)`` -> scores (N, 1000), with the
  layers in ``model.net`` (a Sequential; ``model.net.layers[:-2]`` are the
  feature layers, as the course's ``extract_features`` expects).

Feature layers correspond one-to-one to the PyTorch ``features`` children, so a
style-transfer layer index means the same thing in every flavour and in the
fixtures: 0 conv1 (before its ReLU), 1 ReLU, 2 max-pool, 3-4 fire, 5 pool,
6-7 fire, 8 pool, 9-12 fire.  The course's TF1 file has exactly these 13
layers.  The course's TF2 file merges conv1 and its ReLU into one Keras layer
(12 feature layers, so its notebooks use content layer 2 and style layers
0, 3, 5, 6 for PyTorch's 3 and 1, 4, 6, 7); here the Keras model keeps them
apart, so the indices are PyTorch's.  The grader supplies the layer lists
itself (extract_features is provided code), so this only matters to code that
indexes ``model.net.layers`` by hand.

Two further differences from the course files, both invisible at the course's
sizes: max-pooling is PyTorch's ``ceil_mode=True`` (the course's TF file uses
VALID, which is the same on odd sides; every side of a 224 or 64 input is odd
at every pool), and the classifier averages over whatever grid is left (the
course's file hard-codes a 13x13 average pool, which is 224-only; at the
checks' 64x64 the grid is 3x3).

Calibration (the last 1x1 conv) needs a float64 forward pass over the
calibration images; it is done here in numpy (:func:`_features64`), so no
TensorFlow runtime is started to compute the weights.  That matters: a
process that has run a ``tf.compat.v1.Session`` cannot safely ``fork`` (a
forked child's first session run hangs), and the worker is a forking zygote.

Measured agreement (tests/tf_track/measure_tf_model.py, seed 0, the 5 images of the
"notebook" saliency fixture case, 64x64, TensorFlow 2.20.0 CPU, 1 thread; error =
max |got - ref| / max |ref| against the grader's own float64 numpy model (grader side), after transposing NHWC -> NCHW):

- weights: all 52 arrays equal, bit for bit, to the PyTorch model's parameters
  (calibration included) after the layout change.
- class scores: TF1 graph 5.2e-7, TF2 Keras 5.2e-7 (PyTorch float32: 6.0e-7); the
  predicted class agrees on every image.
- feature maps, all 13 layers: worst 8.1e-7 for both flavours, 2.5e-7 (layer 0) to 8.1e-7
  (layer 10) (PyTorch float32: 8.5e-7); the Keras layers called one by one (the course's
  extract_features) give the same figures as the fast path below.
- saliency maps: 5.0e-7 for both flavours against the fixtures (made by the PyTorch
  reference), ~2000x inside the checks' 1e-3 tolerance, as PyTorch float32 is.

Cost on the 2-core development machine, shared with other work while measured (two runs of
the script, load average ~2 and ~5: the wall times moved by 2-3x between them, the memory
did not):

- ``import tensorflow``: 3.7 s / 8.2 s wall, +468 MB RSS / +464 MB PSS (median of 5 fresh
  interpreters; TF 2.20 imports Keras 3 with it; the README's figure for
  ``import torch, torchvision`` is 5.7 s and 769 MB PSS).
- weights (numpy draws + float64 calibration): 0.3-0.75 s, once per process.
- building the TF1 graph, its session and initializing the variables: 0.5 s (done for every
  TF1 call: each runs in a fresh graph); the Keras model: 1-3 s the first time in a process
  (its layers' lazy set-up), plus ~0.25 s to trace its forward function on the first call.
- one forward + backward pass, 64x64, batch 1 (median of 20): TF1 session 4.8 / 16 ms, TF2
  ``model(X)`` under a GradientTape 15 / 20 ms (Keras 3 layers called one by one: 90-110 ms,
  hence the fast path of :func:`keras_squeezenet`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from grader.course.models import _CALIBRATION_IMAGES, SQUEEZENET_IMAGE_SIZE, calibrate_classifier, seeded_params, \
    test_images

NUM_CLASSES = 1000

# torchvision.models.squeezenet1_1().features, child by child (index = PyTorch features index).
# ("fire", in, squeeze, expand1x1, expand3x3)
LAYERS = [
    ("conv", 3, 64), ("relu",), ("pool",),
    ("fire", 64, 16, 64, 64), ("fire", 128, 16, 64, 64), ("pool",),
    ("fire", 128, 32, 128, 128), ("fire", 256, 32, 128, 128), ("pool",),
    ("fire", 256, 48, 192, 192), ("fire", 384, 48, 192, 192), ("fire", 384, 64, 256, 256),
    ("fire", 512, 64, 256, 256)]
NUM_FEATURE_LAYERS = len(LAYERS)  # 13


def torch_param_shapes(num_classes: int = NUM_CLASSES) -> list[tuple]:
    """Shapes of torchvision's squeezenet1_1 parameters, in model.parameters() order."""
    shapes = []
    for layer in LAYERS:
        if layer[0] == "conv":
            shapes += [(layer[2], layer[1], 3, 3), (layer[2],)]
        elif layer[0] == "fire":
            _, cin, sq, e1, e3 = layer
            shapes += [(sq, cin, 1, 1), (sq,), (e1, sq, 1, 1), (e1,), (e3, sq, 3, 3), (e3,)]
    return shapes + [(num_classes, 512, 1, 1), (num_classes,)]


def to_tf_layout(arrays) -> list[np.ndarray]:
    """PyTorch parameters -> TensorFlow's: conv kernels (O, I, kh, kw) -> (kh, kw, I, O); biases as they are."""
    out = []
    for a in arrays:
        a = np.asarray(a)
        out.append(np.ascontiguousarray(a.transpose(2, 3, 1, 0)) if a.ndim == 4 else np.array(a))
    return out


# ---------------------------------------------------------------- float64 numpy forward (calibration only)
def _conv64(x, w, b, stride=1, pad=0):
    """NCHW float64 cross-correlation with (O, I, k, k) weights, as torch's Conv2d."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    if k == 1 and stride == 1:
        out = np.matmul(w[:, :, 0, 0], x.reshape(n, c, h * wd)).reshape(n, o, h, wd)
    else:
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
        ho, wo = win.shape[2], win.shape[3]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
        out = (cols @ w.reshape(o, -1).T).reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    return out + b[None, :, None, None]


def _pool_out(d: int, k: int = 3, s: int = 2) -> int:
    """Output side of MaxPool2d(k, s, ceil_mode=True) (a window must start inside the input)."""
    out = -(-(d - k) // s) + 1
    return out - 1 if (out - 1) * s >= d else out


def _maxpool64(x, k=3, s=2):
    n, c, h, w = x.shape
    ho, wo = _pool_out(h, k, s), _pool_out(w, k, s)
    xp = np.pad(x, ((0, 0), (0, 0), (0, max(0, (ho - 1) * s + k - h)), (0, max(0, (wo - 1) * s + k - w))),
                constant_values=-np.inf)
    out = None
    for i in range(k):
        for j in range(k):
            part = xp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
            out = part if out is None else np.maximum(out, part)
    return out


def _features64(arrays, x) -> np.ndarray:
    """Last feature map (N, 512, h, w) of NCHW images x, float64, torch-layout weights."""
    a = [np.asarray(v, dtype=np.float64) for v in arrays]
    cur, i = np.asarray(x, dtype=np.float64), 0
    for layer in LAYERS:
        if layer[0] == "conv":
            cur = _conv64(cur, a[i], a[i + 1], stride=2)
            i += 2
        elif layer[0] == "relu":
            cur = np.maximum(cur, 0.0)
        elif layer[0] == "pool":
            cur = _maxpool64(cur)
        else:
            sq = np.maximum(_conv64(cur, a[i], a[i + 1]), 0.0)
            cur = np.concatenate([np.maximum(_conv64(sq, a[i + 2], a[i + 3]), 0.0),
                                  np.maximum(_conv64(sq, a[i + 4], a[i + 5], pad=1), 0.0)], axis=1)
            i += 6
    return cur


@lru_cache(maxsize=None)
def _torch_layout_params(seed: int, num_classes: int) -> tuple:
    arrays = seeded_params(torch_param_shapes(num_classes), seed)
    feats = _features64(arrays, test_images(10 ** 6 + seed, _CALIBRATION_IMAGES, SQUEEZENET_IMAGE_SIZE))
    return tuple(calibrate_classifier(arrays, feats))


def torch_layout_params(seed: int = 0, num_classes: int = NUM_CLASSES) -> list[np.ndarray]:
    """The float32 parameters of grader.course.models.squeezenet(seed), in PyTorch's layout and order
    (computed without torch: numpy draws and a float64 numpy calibration pass)."""
    return [a.copy() for a in _torch_layout_params(int(seed), int(num_classes))]


@lru_cache(maxsize=None)
def _tf_params(seed: int, num_classes: int) -> tuple:
    return tuple(to_tf_layout(_torch_layout_params(seed, num_classes)))


def tf_params(seed: int = 0, num_classes: int = NUM_CLASSES) -> list[np.ndarray]:
    """The same parameters in TensorFlow's layout (HWIO kernels), fresh copies; cached per process."""
    return [a.copy() for a in _tf_params(int(seed), int(num_classes))]


def preload(seeds=(0,), num_classes: int = NUM_CLASSES) -> None:
    """Compute (and cache) the weights of these seeds: for a zygote, before it forks (numpy only)."""
    for s in seeds:
        _tf_params(int(s), int(num_classes))


def nchw_to_nhwc(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


def nhwc_to_nchw(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------- TensorFlow building blocks
def _tf():
    import tensorflow as tf  # imported lazily: importing this module must not cost a TF import
    return tf


def _maxpool_ceil(x, tf):
    """MaxPool 3x3 / 2 with PyTorch's ceil_mode=True on an NHWC tensor: an even side gets one more
    window, which runs one row/column past the edge (padded with the lowest float)."""
    shape = tf.shape(x)
    pad_h = tf.math.floormod(shape[1] + 1, 2)  # ceil mode adds a row exactly when the side is even
    pad_w = tf.math.floormod(shape[2] + 1, 2)
    x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], constant_values=x.dtype.min)
    return tf.nn.max_pool2d(x, ksize=3, strides=2, padding="VALID")


def _fire(x, p, tf):
    """p = (squeeze W, b, expand1x1 W, b, expand3x3 W, b), HWIO kernels."""
    s = tf.nn.relu(tf.nn.conv2d(x, p[0], 1, "VALID") + p[1])
    e1 = tf.nn.relu(tf.nn.conv2d(s, p[2], 1, "VALID") + p[3])
    e3 = tf.nn.relu(tf.nn.conv2d(s, p[4], 1, "SAME") + p[5])
    return tf.concat([e1, e3], axis=3)


# ---------------------------------------------------------------- TF1 (graph mode) course API
class SqueezeNetTF1:
    """The course's TensorFlow 1.x ``SqueezeNet`` (graph mode), with the seeded weights.

    Build it inside the graph it belongs to::

        g = tf.Graph()
        with g.as_default():
            model = SqueezeNetTF1(seed=0)
            sess = tf.compat.v1.Session(graph=g)
            model.initialize(sess)

    Works whether or not eager execution was disabled globally: every op goes
    into the current default graph.  ``save_path``/``sess`` are accepted as in
    the course's constructor (no checkpoint is read; with ``sess`` the
    variables are initialized in it).
    """

    NUM_CLASSES = NUM_CLASSES

    def __init__(self, save_path=None, sess=None, seed: int = 0, num_classes: int = NUM_CLASSES, params=None):
        tf = _tf()
        v1 = tf.compat.v1
        if tf.executing_eagerly():
            raise RuntimeError("SqueezeNetTF1 builds a graph: create it inside `with tf.Graph().as_default():` "
                               "(or after tf.compat.v1.disable_eager_execution())")
        self.num_classes = int(num_classes)
        self._params = list(params) if params is not None else tf_params(seed, num_classes)
        self.image = v1.placeholder("float", shape=[None, None, None, 3], name="input_image")
        self.labels = v1.placeholder("int32", shape=[None], name="labels")
        self.layers = self.extract_features(self.image, reuse=False)
        self.feature_layers = list(self.layers)
        self.features = self.layers[-1]
        w, b = self._params[-2], self._params[-1]
        with v1.variable_scope("classifier"):
            with v1.variable_scope("layer0"):
                x = self.features
                self.layers.append(x)
            with v1.variable_scope("layer1"):
                W = v1.get_variable("weights", initializer=w)
                bias = v1.get_variable("bias", initializer=b)
                x = tf.nn.bias_add(tf.nn.conv2d(x, W, [1, 1, 1, 1], "VALID"), bias)
                self.layers.append(x)
            with v1.variable_scope("layer2"):
                x = tf.nn.relu(x)
                self.layers.append(x)
            with v1.variable_scope("layer3"):
                x = tf.reduce_mean(x, axis=[1, 2], keepdims=True)  # the course: avg_pool 13x13 at 224
                self.layers.append(x)
        self.classifier = tf.reshape(x, [-1, self.num_classes])
        self.scores = self.classifier  # CS231n 2018's name
        self.loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
            labels=tf.one_hot(self.labels, self.num_classes), logits=self.classifier))
        self.variables = [v for v in v1.global_variables()
                          if v.name.startswith(("features/", "classifier/"))]
        if sess is not None:
            self.initialize(sess)

    def extract_features(self, input=None, reuse=True):
        """The 13 feature maps (PyTorch's ``features`` children) of an NHWC input (default: model.image)."""
        tf = _tf()
        v1 = tf.compat.v1
        x = self.image if input is None else input
        p = self._params
        layers = []
        with v1.variable_scope("features", reuse=reuse):
            i = 0
            for idx, layer in enumerate(LAYERS):
                with v1.variable_scope("layer%d" % idx):
                    if layer[0] == "conv":
                        W = v1.get_variable("weights", initializer=p[i])
                        b = v1.get_variable("bias", initializer=p[i + 1])
                        x = tf.nn.bias_add(tf.nn.conv2d(x, W, [1, 2, 2, 1], "VALID"), b)
                        i += 2
                    elif layer[0] == "relu":
                        x = tf.nn.relu(x)
                    elif layer[0] == "pool":
                        x = _maxpool_ceil(x, tf)
                    else:
                        with v1.variable_scope("fire"):
                            ws = []
                            for part, k in (("squeeze", 0), ("e11", 2), ("e33", 4)):
                                with v1.variable_scope(part):
                                    ws += [v1.get_variable("weights", initializer=p[i + k]),
                                           v1.get_variable("bias", initializer=p[i + k + 1])]
                            x = _fire(x, ws, tf)
                        i += 6
                    layers.append(x)
        return layers

    def initialize(self, sess) -> None:
        sess.run(_tf().compat.v1.variables_initializer(self.variables))


# ---------------------------------------------------------------- TF2 (eager, Keras) course API
def _features_fast(x, ws, tf):
    """The 13 feature maps of NHWC x with weights ``ws`` (TF layout, PyTorch's order), plain tf ops."""
    feats, cur, i = [], x, 0
    for layer in LAYERS:
        if layer[0] == "conv":
            cur = tf.nn.bias_add(tf.nn.conv2d(cur, ws[i], 2, "VALID"), ws[i + 1])
            i += 2
        elif layer[0] == "relu":
            cur = tf.nn.relu(cur)
        elif layer[0] == "pool":
            cur = _maxpool_ceil(cur, tf)
        else:
            cur = _fire(cur, ws[i:i + 6], tf)
            i += 6
        feats.append(cur)
    return feats


def keras_squeezenet(seed: int = 0, num_classes: int = NUM_CLASSES, params=None, input_side: int = 64):
    """The course's TF2 ``SqueezeNet`` (a tf.keras.Model, eager) with the seeded weights.

    ``model(X)`` -> scores (N, num_classes) for NHWC X (numpy array or tensor, cast to float32);
    ``model.net`` is the Sequential of layers (13 feature layers, then the 1x1 classifier conv
    with its ReLU and the global average pool), so ``model.net.layers[:-2]`` are the feature
    layers, as the course's ``extract_features`` expects; ``model.trainable`` is False, as the
    notebooks set it.  ``input_side`` only sizes the build call.

    Speed: calling Keras 3 layers one by one costs ~60-90 ms per forward + backward pass at 64x64
    on the development machine, which would make a 100-step fooling loop or a style-transfer run
    slow.  So ``model(X)`` (and :func:`keras_features`) compute the same ops on the same weight
    variables in one ``tf.function`` with a shape-agnostic signature (traced once, ~0.2 s), which
    a student's GradientTape differentiates through like any op; the layers in ``model.net`` stay
    usable one by one."""
    tf = _tf()
    keras = tf.keras
    arrays = list(params) if params is not None else tf_params(seed, num_classes)

    class Fire(keras.layers.Layer):
        def __init__(self, squeeze_planes, expand1x1_planes, expand3x3_planes, name=None):
            super().__init__(name=name)
            self.squeeze = keras.layers.Conv2D(squeeze_planes, 1, padding="valid", activation="relu",
                                               name="squeeze")
            self.expand1x1 = keras.layers.Conv2D(expand1x1_planes, 1, padding="valid", activation="relu",
                                                 name="e11")
            self.expand3x3 = keras.layers.Conv2D(expand3x3_planes, 3, padding="same", activation="relu",
                                                 name="e33")

        def call(self, x):
            x = self.squeeze(x)
            return tf.concat([self.expand1x1(x), self.expand3x3(x)], axis=3)

    class MaxPoolCeil(keras.layers.Layer):
        def call(self, x):
            return _maxpool_ceil(x, tf)

    class SqueezeNet(keras.Model):
        def __init__(self, num_classes=NUM_CLASSES):
            super().__init__(name="squeeze_net")
            self.num_classes = num_classes
            layers = []
            for idx, layer in enumerate(LAYERS):
                name = "features_layer%d" % idx
                if layer[0] == "conv":
                    layers.append(keras.layers.Conv2D(layer[2], 3, strides=2, padding="valid", name=name))
                elif layer[0] == "relu":
                    layers.append(keras.layers.ReLU(name=name))
                elif layer[0] == "pool":
                    layers.append(MaxPoolCeil(name=name))
                else:
                    layers.append(Fire(*layer[2:], name=name))
            layers += [keras.layers.Conv2D(num_classes, 1, padding="valid", activation="relu",
                                           name="classifier_layer1"),
                       keras.layers.GlobalAveragePooling2D(keepdims=True, name="classifier_layer3")]
            self.net = keras.Sequential(layers, name="net")
            self._fast = None

        def conv_layers(self):
            """The Conv2D layers in PyTorch's parameter order."""
            out = []
            for layer in self.net.layers:
                if isinstance(layer, Fire):
                    out += [layer.squeeze, layer.expand1x1, layer.expand3x3]
                elif isinstance(layer, keras.layers.Conv2D):
                    out.append(layer)
            return out

        def weight_variables(self):
            ws = []
            for conv in self.conv_layers():
                ws += [conv.kernel, conv.bias]
            return [getattr(w, "value", w) for w in ws]  # the tf.Variable under a Keras variable

        def fast(self):
            if self._fast is None:
                ws = self.weight_variables()
                spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]

                @tf.function(input_signature=spec, autograph=False)
                def features(x):
                    return _features_fast(x, ws, tf)

                @tf.function(input_signature=spec, autograph=False)
                def scores(x):
                    f = _features_fast(x, ws, tf)[-1]
                    s = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(f, ws[-2], 1, "VALID"), ws[-1]))
                    return tf.reduce_mean(s, axis=[1, 2])

                self._fast = (features, scores)
            return self._fast

        def call(self, x, save_path=None, training=None):
            if not self.built or not tf.executing_eagerly():
                x = self.net(x)  # building, or traced by Keras: the layers themselves
                return tf.reshape(x, (-1, self.num_classes))
            return self.fast()[1](tf.cast(x, tf.float32))

    model = SqueezeNet(num_classes)
    model.net(np.zeros((1, input_side, input_side, 3), np.float32))  # builds every layer
    model.built = True
    convs = model.conv_layers()
    assert 2 * len(convs) == len(arrays), (len(convs), len(arrays))
    for i, conv in enumerate(convs):
        conv.set_weights([arrays[2 * i], arrays[2 * i + 1]])
    model.trainable = False
    return model


def keras_features(model, x) -> list:
    """The 13 feature maps of x under a keras_squeezenet (what the course's extract_features returns)."""
    return list(model.fast()[0](_tf().cast(x, "float32")))


# ---------------------------------------------------------------- plain forward (scores only)
def scores_numpy(img_nhwc, seed: int = 0) -> np.ndarray:
    """Class scores (N, 1000) of NHWC float32 images, computed in a throw-away graph and session (works
    in eager and in graph mode)."""
    tf = _tf()
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        model = SqueezeNetTF1(seed=seed)
        with v1.Session(graph=g, config=session_config()) as sess:
            model.initialize(sess)
            return sess.run(model.classifier, {model.image: np.asarray(img_nhwc, np.float32)})


def session_config(threads: int = 1):
    """ConfigProto for grading sessions: a fixed number of threads (the worker's budget), and no Grappler
    graph rewriting (every call runs a fresh graph once or a few dozen times, so optimizing it first does not
    pay: measured ~25% faster TF1 fooling and class-visualization checks, same numbers)."""
    v1 = _tf().compat.v1
    config = v1.ConfigProto(intra_op_parallelism_threads=int(threads), inter_op_parallelism_threads=int(threads),
                            allow_soft_placement=True)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config
