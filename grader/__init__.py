"""Autograder for CS182 HW2 / CS231n assignment 3 (RNN/LSTM captioning, network
visualization, style transfer, GANs).

Data flows one way: submission -> staging -> sandboxed worker -> checks ->
scores -> results.json.
"""
__version__ = "1.0.0"
