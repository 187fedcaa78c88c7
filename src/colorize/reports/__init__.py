"""Reports: scoring colorizations in one common space (with LPIPS and FID), evaluating a checkpoint, and comparing runs.

Importing this package imports nothing heavy; its modules import torch.
"""

# The shorter side, in pixels, that evaluate scales each test photo to by default (0: each photo as it is).
DEFAULT_EVAL_SIZE = 256
