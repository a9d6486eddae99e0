"""The worker process the Slicer module runs: one JSON request on stdin, JSON-line events on stdout.

Run as ``python -m braingen3d.worker``; ``server`` reads the request and reports events, ``tasks`` runs them.
"""
