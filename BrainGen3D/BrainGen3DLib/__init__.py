"""The BrainGen3D Slicer module's library: panel sections, worker process, scene import, dependencies.

``BrainGen3D.py`` holds only the Slicer module classes; everything else lives here, one job per file.
"""
