"""Research diagnostics: probes of what the autoencoder, the U-Nets and the regressor can learn and show.

Each is a script (``python -m training.diagnostics.<name> --help``) that measures one question about a trained
bundle or its latents; none is part of training or of the engine. Timing benchmarks live in ``benchmarks/``."""
