"""Training data: manifests, dataset adapters, preprocessing and shared file helpers."""
