"""Grader-side building blocks of the checks in ``grader/checks/``.

``compare`` turns a wrong value into feedback a student can act on;
``rnn_layers`` and ``captioning`` check Q1/Q2 (numeric gradients are computed
here from the student's own forward pass); ``tensors`` reads Q3/Q4 tensor
results.  They run in the grader process; what they read from the worker is
treated as hostile data.
"""
