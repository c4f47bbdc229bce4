"""The network: U-Net, input normalisation, checkpoints and tiled whole-image inference."""
