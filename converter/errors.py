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


def whole_message(exc: BaseException, limit: int = 600) -> str:
    """An exception's whole message on one line (ONNX Runtime's say what is wrong on their later
    lines: "... for the following indices / index: 2 Got: 12 Expected: 16"), cut to ``limit``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


class OptionError(SepconvError):
    """A bad option, named by its field (``max_error``, ``input_shapes``) rather than by any front
    end's spelling of it: the CLI renders the field as its flag (``--max-error``), the API as its
    JSON field, each with :meth:`render`. ``key`` names an entry of a dict option (an input's name
    in ``input_shapes``); ``value`` is shown after the name where it helps."""

    def __init__(self, field: str, detail: str, value: object = None, key: str | None = None) -> None:
        self.field, self.detail, self.value, self.key = field, detail, value, key
        super().__init__(self.render(field), "invalid")

    def render(self, name: str, keyed: str = "{name} {key}") -> str:
        """The message with the field called ``name`` (``keyed`` places a dict entry's key)."""
        subject = keyed.format(name=name, key=self.key) if self.key is not None else name
        if self.value is not None:
            subject += f" {self.value}"
        return f"{subject}: {self.detail}"
