"""The external-data files an ONNX model makes onnxruntime read, from the protobuf wire format.

The app does not depend on the `onnx` package, and `onnx.load` would read the external data
anyway; this walks the file (memory-mapped, tensor bytes skipped by length) through every
place a TensorProto can sit and reports each tensor's `external_data` `location`.

Field numbers are onnx/onnx.proto's (IR version 10):

    ModelProto.graph 7, .training_info 20, .functions 25     TrainingInfoProto 1, 2: GraphProto
    GraphProto.node 1, .initializer 5, .sparse_initializer 15 FunctionProto.node 7
    NodeProto.attribute 5                                     SparseTensorProto.values 1, .indices 2
    AttributeProto.t 5, .g 6, .tensors 10, .graphs 11, .sparse_tensor 22, .sparse_tensors 23
    TensorProto.name 8, .external_data 13 (key 1, value 2), .data_location 14 (EXTERNAL = 1)
"""
from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

Buffer = Union[bytes, mmap.mmap]
# message -> {field number: message type of that (length-delimited) field}
CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class OnnxWireError(ValueError):
    """Bytes that are not a well-formed protobuf message; the message gives the byte offset."""


@dataclass(frozen=True)
class ExternalRef:
    """One tensor stored outside the model file; `location` is None when the file names none."""
    tensor: str
    location: Optional[str]


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise OnnxWireError(f"bad varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def packed_varints(buf: Buffer, start: int, end: int) -> list[int]:
    """The values of a packed repeated varint field's payload buf[start:end] (e.g. TensorProto.dims)."""
    out, pos = [], start
    while pos < end:
        value, pos = _varint(buf, pos, end)
        out.append(value)
    return out


def graph_initializers(buf: Buffer) -> Iterator[tuple[int, int]]:
    """(start, end) of each TensorProto in the main graph's initializers (ModelProto.graph 7,
    GraphProto.initializer 5) of a serialized model."""
    for number, wire, a, b in fields(buf, 0, len(buf)):
        if number == 7 and wire == 2:
            for n, w, x, y in fields(buf, a, b):
                if n == 5 and w == 2:
                    yield x, y


def fields(buf: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value or payload start, payload end) of each field in buf[start:end]."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise OnnxWireError(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
            continue
        if wire == 2:
            length, pos = _varint(buf, pos, end)
            first, pos = pos, pos + length
        elif wire in (1, 5):
            first, pos = pos, pos + (8 if wire == 1 else 4)
        else:  # 3/4: groups (unused by ONNX), 6/7: invalid
            raise OnnxWireError(f"unsupported wire type {wire} at byte {pos}")
        if pos > end:
            raise OnnxWireError(f"field {number} runs past the end of its message (byte {end})")
        yield number, wire, first, pos


def _text(buf: Buffer, start: int, end: int) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise OnnxWireError(f"string at byte {start} is not UTF-8") from None


def _tensor(buf: Buffer, start: int, end: int) -> list[ExternalRef]:
    name, locations, external = "", [], False
    for number, wire, a, b in fields(buf, start, end):
        if number == 8 and wire == 2:
            name = _text(buf, a, b)
        elif number == 14 and wire == 0:
            external = a == EXTERNAL
        elif number == 13 and wire == 2:
            entry = {k: _text(buf, x, y) for k, w, x, y in fields(buf, a, b) if w == 2 and k in (1, 2)}
            if entry.get(1) == "location":
                locations.append(entry.get(2, ""))
    if external and not locations:
        return [ExternalRef(name, None)]
    return [ExternalRef(name, loc) for loc in locations]


def external_refs_in(buf: Buffer) -> list[ExternalRef]:
    """Every tensor of a serialized ModelProto that names (or needs) an external-data file."""
    refs, stack = [], [("model", 0, len(buf))]
    while stack:
        kind, start, end = stack.pop()
        if kind == "tensor":
            refs += _tensor(buf, start, end)
            continue
        children = CHILDREN[kind]
        stack += [(children[n], a, b) for n, w, a, b in fields(buf, start, end) if w == 2 and n in children]
    return refs


def external_refs(path: Union[str, Path]) -> list[ExternalRef]:
    """external_refs_in() of an ONNX file, memory-mapped (a 2 GB model is not read into memory)."""
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return external_refs_in(buf)
