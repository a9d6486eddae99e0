"""Sampling: the swappable schedulers, classifier-free guidance, structure guidance, RePaint's schedule and the
denoising loop. It works on any U-Net passed in."""
