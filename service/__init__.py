"""sepconv's REST service: upload, convert, benchmark and download ONNX models.

Depends on ``converter`` (never the reverse). Start it with ``sepconv serve`` or
``python -m sepconv.service``; see :mod:`sepconv.service.settings` for the environment variables.
"""
