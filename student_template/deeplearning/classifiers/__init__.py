"""Model classes built from the layers in ``deeplearning``."""
