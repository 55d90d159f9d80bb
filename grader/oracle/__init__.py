"""The grader's own solution code: the grader process only.

Never imported by the worker, never shipped in the student pre-check bundle
(the checks import it optionally and fall back to the student's own code
there).  ``captioning`` recomputes a trained captioning model's loss,
``squeezenet`` re-classifies fooling images and re-scores style-transfer
results in float64 numpy, ``gan`` judges the trained GAN, ``style`` holds
correct style losses.
"""
