"""Text fields of an uploaded protobuf that are not UTF-8.

ONNX is proto2, so protobuf hands back a ``string`` field whose bytes are not UTF-8 as ``bytes``:
a node named ``b"\\xff\\xfe..."`` would reach the analysis, the reports and the JSON of the API.
The upload check refuses such a model (422) and names the field.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message


def first_non_text(msg: Message, where: str = "") -> str | None:
    """``"graph.node.name b'\\xff...'"`` for the first string field that is not UTF-8, or None."""
    for field, value in msg.ListFields():
        values = [value] if isinstance(value, str | bytes | Message) else value  # one value, or a repeated field
        if field.type == FieldDescriptor.TYPE_STRING:
            for v in values:
                if isinstance(v, bytes):
                    return f"{where}{field.name} {v[:40]!r}"
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.name != "TensorProto":
            for v in values:
                found = first_non_text(v, f"{where}{field.name}.")
                if found:
                    return found
        elif field.type == FieldDescriptor.TYPE_MESSAGE:  # a tensor: its name and metadata, not its data
            for v in values:
                if isinstance(v.name, bytes):
                    return f"{where}{field.name}.name {v.name[:40]!r}"
    return None
