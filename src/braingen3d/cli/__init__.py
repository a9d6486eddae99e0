"""The ``braingen3d`` command line."""
