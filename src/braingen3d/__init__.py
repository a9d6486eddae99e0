"""BrainGen3D engine: text-conditioned latent diffusion for synthetic 3D brain MRI.

The engine never imports slicer, qt, vtk or ctk.
"""

__version__ = "0.1.0"
