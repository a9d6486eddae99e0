"""The tasks: generation (``BrainGenPipeline``) and lesion inpainting (``pipelines.inpaint``)."""
