"""Plain ``nn.Module`` networks; they know nothing of Lightning, files, config or colour spaces."""

from colorize.networks.autoencoder import ConvAutoencoder
from colorize.networks.patchgan import PatchDiscriminator
from colorize.networks.unet import UNet

__all__ = ["ConvAutoencoder", "PatchDiscriminator", "UNet"]
