"""Autograder for CS182 HW2 / CS231n assignment 3 (RNN/LSTM captioning, network visualization, style
transfer, GANs).

Data flows one way: submission -> staging (engine/) -> sandboxed worker (sandbox/, inworker/) ->
checks (checks/, checklib/, oracle/) -> scores -> results.json (engine/).  The folder says which
side of the trust boundary a module runs on; ``questions.py`` declares the assignment once and
``paths.py`` says where things are.
"""
__version__ = "2.0.0"
