"""Cross-cutting basics every layer may use: errors, progress and cancellation, devices, grids, intensities,
the output volume type and provenance records. Nothing here imports another part of the engine."""
