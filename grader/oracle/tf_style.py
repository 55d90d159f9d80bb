"""The grader's own TensorFlow Gram matrix, used inside the worker while grading a TensorFlow
style_loss (grader.inworker.tf_style), as grader/oracle/style.py is for PyTorch.

style_loss is graded with this correct gram_matrix swapped in, so a Gram-matrix bug costs only the
gram_matrix checks.  Gradescope-only (it is the gram_matrix solution); without it, as in the
student pre-check, style_loss runs with the student's own gram_matrix.  Works in graph mode (inside
a tf.Graph, TF1 notebooks) and eagerly (TF2).
"""
import tensorflow as tf


def gram(features, normalize=True):
    """The course's TensorFlow contract: features (1, H, W, C) of one image -> (C, C), divided by
    H * W * C when normalize."""
    features = tf.convert_to_tensor(features)
    c = tf.shape(features)[-1]
    flat = tf.reshape(features, tf.stack([-1, c]))
    g = tf.matmul(flat, flat, transpose_a=True)
    if normalize:
        g = g / tf.cast(tf.size(features), g.dtype)
    return g
