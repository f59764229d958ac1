"""User-facing errors.

Everything a user can get wrong (a missing file, a model that is not ONNX, an npz whose
arrays do not fit) is raised as :class:`SepconvError` with a one-line message, so that the
CLI prints one line and the service answers a JSON 4xx, never a traceback.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name if empty), cut to ``limit``."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:limit]


class SepconvError(Exception):
    """A problem with the user's input, explained in one line.

    ``kind`` lets the service pick an HTTP status without parsing the message:
    ``invalid`` (422), ``not_found`` (404), ``unsupported`` (415), ``no_conv`` (422).
    """

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind

    def __str__(self) -> str:  # one line, always
        return " ".join(str(self.args[0]).split())
