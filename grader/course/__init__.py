"""Course facts and deterministic data, needed on both sides of the boundary and secret on neither.

``models``: the seeded SqueezeNet 1.1 (weights drawn from numpy, no download)
and synthetic images; ``gan``: the GAN questions' shapes, training
configuration and synthetic strokes; ``coco_synth``: the synthetic COCO
captioning data set and the overfit configuration.
"""
