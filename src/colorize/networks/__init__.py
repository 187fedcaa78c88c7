"""Plain ``nn.Module`` networks and tensor functions, built from keyword arguments; they know nothing of Lightning,
files or the config. ``bodies`` (their options and builders) and ``losses`` import torch only when used."""
