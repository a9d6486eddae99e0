"""Trainers that write BrainGen3D bundles: the KL autoencoder and the text-conditioned latent diffusion U-Net.

Entry points: ``python -m training.train_autoencoder`` and ``python -m training.train_diffusion``.
"""
