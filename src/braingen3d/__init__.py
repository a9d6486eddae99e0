"""BrainGen3D engine: text-conditioned latent diffusion for synthetic 3D brain MRI.

Public API (imported on first use, so ``braingen3d --help`` does not load torch)::

    from braingen3d import BrainGenPipeline, LesionInpainter, write_volume

    pipe = BrainGenPipeline.from_bundle()
    volume = pipe("T1-weighted MRI of a 45-year-old man", seed=7).volumes[0]
    write_volume(volume, "brain.nii.gz")

Rooms, lowest layer first: ``core`` (errors, progress, devices, grids, provenance), ``io`` and ``prompts``
(vocabulary, parser, attributes, text encoder), ``export`` and ``sampling`` (schedulers, guidance, the
denoising loop), ``models`` (networks), ``bundle`` (config, loading, weights), ``requests`` (one request per
task), ``pipelines`` (generation, inpainting, export), ``batch``, ``worker`` and ``cli``. The engine never
imports slicer, qt, vtk or ctk.
"""

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    "BrainGenPipeline": ".pipelines.generation",
    "LesionInpainter": ".pipelines.inpaint.inpainter",
    "InpaintResult": ".pipelines.inpaint.inpainter",
    "Resampling": ".sampling.repaint",
    "GenerationRequest": ".requests.generation",
    "InpaintRequest": ".requests.inpaint",
    "ExportRequest": ".requests.export",
    "export_volume": ".pipelines.export",
    "GenerationOutput": ".core.volume",
    "SyntheticVolume": ".core.volume",
    "CancelToken": ".core.progress",
    "ProgressEvent": ".core.progress",
    "BrainGenError": ".core.errors",
    "BundleError": ".core.errors",
    "InvalidInputError": ".core.errors",
    "CancelledError": ".core.errors",
    "load_bundle": ".bundle",
    "read_volume": ".io",
    "write_volume": ".io",
    "read_provenance": ".export",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
__all__ = ["__version__", *sorted(_EXPORTS)]
