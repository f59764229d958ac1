"""sepconv's REST service: upload, convert, benchmark and download ONNX models.

Depends on ``converter`` (never the reverse). Start it with ``sepconv serve`` or
``python -m service``; see :mod:`service.settings` for the environment variables.
"""
