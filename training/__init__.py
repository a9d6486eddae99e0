"""BrainGen3D training code: data (cohort, manifests, captions, preprocessing) and trainers.

The engine (``braingen3d``) never imports this package; this package imports the engine.
"""
