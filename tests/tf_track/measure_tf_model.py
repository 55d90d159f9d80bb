"""Measure the TensorFlow SqueezeNet of grader/course/tf_models.py (the figures in its docstring).

    .venv/bin/python tests/tf_track/measure_tf_model.py [--repeats 5] [--no-import-cost]

Prints:
- whether its float32 weights equal the PyTorch model's (grader.course.models.squeezenet) bit for
  bit, after the layout change (needs torch; skipped without it);
- agreement of class scores and of all 13 feature maps with the grader's float64 numpy model
  (grader.oracle.squeezenet), for the TF1 graph model, the TF2 Keras model and (if present) PyTorch,
  as max |got - oracle| / max |oracle| after transposing NHWC -> NCHW;
- saliency maps of both TF flavours against the fixtures (made by the PyTorch reference);
- the cost of ``import tensorflow`` (wall time, RSS and PSS growth; median of fresh interpreters),
  of computing the weights, of building each model, and of one forward + backward pass.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Run as a script: put the repository (two folders up) on sys.path so that `grader` imports; every
# path after that comes from grader.paths.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_IMPORT_PROBE = r"""
import os, sys, time, json
def mem():
    rss = pss = 0
    with open('/proc/self/smaps_rollup') as f:
        for line in f:
            if line.startswith('Rss:'): rss = int(line.split()[1])
            if line.startswith('Pss:'): pss = int(line.split()[1])
    return rss / 1024, pss / 1024
import numpy
r0, p0 = mem(); t = time.time()
import tensorflow as tf
t1 = time.time() - t; r1, p1 = mem(); t = time.time()
import keras
t2 = time.time() - t; r2, p2 = mem()
print(json.dumps({"import_s": t1, "rss_mb": r1 - r0, "pss_mb": p1 - p0, "keras_s": t2, "keras_rss_mb": r2 - r1,
                  "keras_pss_mb": p2 - p1, "total_rss_mb": r2, "total_pss_mb": p2}))
"""


def import_cost(repeats: int) -> dict:
    import json
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def err(got, ref) -> float:
    import numpy as np
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-import-cost", action="store_true")
    args = ap.parse_args(argv)

    if not args.no_import_cost:
        c = import_cost(args.repeats)
        print(f"import tensorflow: {c['import_s']:.2f} s, +{c['rss_mb']:.0f} MB RSS, +{c['pss_mb']:.0f} MB PSS "
              f"(median of {args.repeats}); then import keras: +{c['keras_s']:.2f} s, +{c['keras_rss_mb']:.0f} MB RSS, "
              f"+{c['keras_pss_mb']:.0f} MB PSS; process total {c['total_rss_mb']:.0f} MB RSS / "
              f"{c['total_pss_mb']:.0f} MB PSS")

    import numpy as np
    from grader.course import tf_models as tm
    from grader.engine.cases import cases
    from grader.oracle.squeezenet import grader_model

    case = cases("compute_saliency_maps")[0]
    X = case.inputs["X"]
    t = time.time()
    params = tm.torch_layout_params(0)
    print(f"weights (numpy draws + float64 calibration): {time.time() - t:.2f} s")
    # PyTorch first: importing torchvision (its triton, with the CUDA build) AFTER tensorflow segfaults
    torch_out = None
    try:
        import torch
        from grader.course.models import squeezenet
        torch_model = squeezenet(0)
        same = [np.array_equal(a, p.detach().numpy()) for a, p in zip(params, torch_model.parameters())]
        print(f"weights equal to the PyTorch model's: {sum(same)}/{len(same)} arrays bit for bit")
        with torch.no_grad():
            st = torch_model(torch.from_numpy(X)).numpy()
            cur, ft = torch.from_numpy(X), []
            for mod in torch_model.features:
                cur = mod(cur)
                ft.append(cur.clone().numpy())  # clone: torchvision's ReLUs are in place
        torch_out = (st, ft)
    except ImportError:
        print("weights vs PyTorch: skipped (no torch)")

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    y, want_sal = case.inputs["y"], case.expected["saliency"]
    Xh = tm.nchw_to_nhwc(X)
    oracle = grader_model(0)
    f64, s64 = oracle.features(X), oracle.scores(X)

    # TF1 graph
    g = tf.Graph()
    with g.as_default():
        t = time.time()
        m1 = tm.SqueezeNetTF1(seed=0)
        sess = tf.compat.v1.Session(graph=g, config=tm.session_config(1))
        m1.initialize(sess)
        t_build1 = time.time() - t
        correct = tf.gather_nd(m1.classifier, tf.stack([tf.range(tf.shape(m1.image)[0]), m1.labels], axis=1))
        sal_op = tf.reduce_max(tf.abs(tf.compat.v1.gradients(tf.reduce_sum(correct), m1.image)[0]), axis=3)
        out = sess.run([m1.classifier, sal_op] + m1.feature_layers, {m1.image: Xh, m1.labels: y})
        x1 = Xh[:1]
        one = tf.compat.v1.gradients(m1.classifier[0, 0], m1.image)[0]
        sess.run(one, {m1.image: x1})
        times = []
        for _ in range(20):
            t = time.time()
            sess.run([m1.classifier, one], {m1.image: x1})
            times.append(time.time() - t)
        t_step1 = statistics.median(times)
    s1, sal1, feats1 = out[0], out[1], out[2:]

    # TF2 Keras
    t = time.time()
    m2 = tm.keras_squeezenet(0)
    t_build2 = time.time() - t
    s2 = m2(Xh).numpy()
    feats2 = [f.numpy() for f in tm.keras_features(m2, tf.constant(Xh))]
    cur, feats2_layers = tf.constant(Xh), []
    for layer in m2.net.layers[:-2]:  # the course's extract_features: the Keras layers one by one
        cur = layer(cur)
        feats2_layers.append(cur.numpy())
    s2_layers = tf.reshape(m2.net(tf.constant(Xh)), (-1, 1000)).numpy()
    xt = tf.constant(Xh)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        sc = m2(xt)
        total = tf.reduce_sum(tf.gather(sc, y, axis=1, batch_dims=1))
    sal2 = tf.reduce_max(tf.abs(tape.gradient(total, xt)), axis=3).numpy()
    x1 = tf.constant(Xh[:1])
    times = []
    for _ in range(20):
        t = time.time()
        with tf.GradientTape() as tape:
            tape.watch(x1)
            sc = m2(x1)[0, 0]
        tape.gradient(sc, x1)
        times.append(time.time() - t)
    t_step2 = statistics.median(times)

    print(f"scores vs oracle: TF1 {err(s1, s64):.1e}, TF2 {err(s2, s64):.1e}; predictions agree: "
          f"TF1 {bool((s1.argmax(1) == s64.argmax(1)).all())}, TF2 {bool((s2.argmax(1) == s64.argmax(1)).all())}")
    e1 = [err(tm.nhwc_to_nchw(a), b) for a, b in zip(feats1, f64)]
    e2 = [err(tm.nhwc_to_nchw(a), b) for a, b in zip(feats2, f64)]
    print(f"feature maps vs oracle (13 layers), worst: TF1 {max(e1):.1e}, TF2 {max(e2):.1e}")
    e3 = [err(tm.nhwc_to_nchw(a), b) for a, b in zip(feats2_layers, f64)]
    print(f"Keras layers called one by one (model.net): scores {err(s2_layers, s64):.1e}, feature maps worst "
          f"{max(e3):.1e}")
    print("  per layer TF1: " + " ".join(f"{e:.1e}" for e in e1))
    print("  per layer TF2: " + " ".join(f"{e:.1e}" for e in e2))
    if torch_out is not None:
        st, ft = torch_out
        print(f"PyTorch float32 for comparison: scores {err(st, s64):.1e}, feature maps worst "
              f"{max(err(a, b) for a, b in zip(ft, f64)):.1e}")
    print(f"saliency vs fixtures ({case.name}): TF1 {err(sal1, want_sal):.1e}, TF2 {err(sal2, want_sal):.1e}")
    print(f"build: TF1 graph + session {t_build1:.2f} s, Keras model {t_build2:.2f} s (first build in the "
          "process, includes lazy imports)")
    g = tf.Graph()
    with g.as_default():
        t = time.time()
        m1b = tm.SqueezeNetTF1(seed=0)
        with tf.compat.v1.Session(graph=g, config=tm.session_config(1)) as s:
            m1b.initialize(s)
        t_rebuild1 = time.time() - t
    t = time.time()
    tm.keras_squeezenet(0)
    t_rebuild2 = time.time() - t
    print(f"rebuild: TF1 graph + session {t_rebuild1:.2f} s, Keras model {t_rebuild2:.2f} s")
    print(f"forward + backward, 64x64, batch 1 (median of 20): TF1 session {t_step1 * 1000:.1f} ms, "
          f"TF2 eager {t_step2 * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
