"""The networks: the block-PCA autoencoder, the conditioned U-Net and its parts, the ControlNet wrapper, the
structure regressor, and the builders that make them from a bundle config."""
