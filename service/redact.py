"""Messages without the server's own paths: a job's or a check's failure names the files the user
knows (their upload's name), never where the server keeps them (``/srv/data/tmp/upload-….part``)."""

from __future__ import annotations

import re

#: an absolute path of two components or more (a route like ``/v1/models`` never reaches these messages)
_PATH = re.compile(r"(?<![\w.~/-])/(?:[\w.@+~-]+/)+[\w.@+~-]*")


def hide_paths(text: str) -> str:
    """``text`` with every absolute path replaced by ``<server path>``."""
    return _PATH.sub("<server path>", text)
