"""Using a trained colorizer: loading it, colorizing photos of any size, files, videos, and exporting it.

Nothing here imports Lightning: a cold ``predict`` costs little more than importing torch.
"""
