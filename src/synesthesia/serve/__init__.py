"""``synesthesia serve``: a REST API under ``/v1`` and a web UI at ``/`` for trained runs.

The application is built by :func:`synesthesia.serve.app.create_app`; every call into the
pipeline goes through :mod:`synesthesia.serve.engine`, every request that generates waits in
the batching queue of :mod:`synesthesia.serve.scheduler`, and uploads are checked from their
headers by :mod:`synesthesia.serve.media` before anything is decoded.
"""
