"""Move initializers out of ONNX graphs into a pack's `.npz` side file (DESIGN.md section 3).

    model.onnx (weights inside)  --split_initializers-->  model.onnx (placeholders) + {name: array}
                                 --write_pack-->          weights.npz, placeholders located in it

A placeholder keeps name, data type and dims, with `data_location: EXTERNAL` and external data
`location: weights.npz`, `offset`/`length` the array's bytes inside the (uncompressed) npz: the
side file is then an ordinary listed, hashed external-data file (app.core.pack_files), and a
plain onnxruntime session of the graph reads the same values. The app instead reads the arrays
with numpy and hands them to onnxruntime (app.core.side_weights), the hook for coded arrays
later. Arrays are stored as-is (float32 or int8) with np.savez, no pickle.
"""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import onnx
from onnx import numpy_helper

SIDE_FILE = "weights.npz"
SIDE_DTYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.INT8)  # what app.core.side_weights.DTYPES reads
Select = Callable[[onnx.TensorProto], bool]


def linear_weights(tensor: onnx.TensorProto) -> bool:
    """The Linear weight matrices of the ESM-2 graph (`*.weight_t`, 2-D, stored transposed)."""
    return tensor.name.endswith(".weight_t") and len(tensor.dims) == 2


def split_initializers(model: onnx.ModelProto, names: Iterable[str], location: str = SIDE_FILE
                       ) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A copy of `model` whose initializers `names` are placeholders in `location` (see the module
    docstring; write_pack adds offset and length), and {name: array} of their values. KeyError naming an initializer the graph lacks; ValueError for
    one of a type a side file cannot hold."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    by_name = {t.name: t for t in out.graph.initializer}
    arrays = {}
    for name in names:
        if name not in by_name:
            raise KeyError(f"graph {model.graph.name!r} has no initializer {name!r}")
        tensor = by_name[name]
        if tensor.data_type not in SIDE_DTYPES:
            raise ValueError(f"initializer {name!r} has ONNX data type {tensor.data_type}; a side file "
                             f"holds float32 or int8")
        arrays[name] = numpy_helper.to_array(tensor)
        placeholder = onnx.TensorProto(name=name, data_type=tensor.data_type, dims=list(tensor.dims),
                                       data_location=onnx.TensorProto.EXTERNAL)
        entry = placeholder.external_data.add()
        entry.key, entry.value = "location", location
        tensor.CopyFrom(placeholder)
    return out, arrays


def npz_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """{array name: (byte offset, byte length)} of each array's data inside an uncompressed npz:
    the zip member's local header (30 bytes + name + extra field), then the .npy header."""
    found = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{path}: member {info.filename!r} is compressed; side files are stored")
            fh.seek(info.header_offset)
            local = fh.read(30)
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            found[info.filename.removesuffix(".npy")] = (fh.tell(), nbytes)
    return found


def locate(model: onnx.ModelProto, location: str, offsets: dict[str, tuple[int, int]]) -> onnx.ModelProto:
    """A copy of `model` whose placeholders in `location` carry their `offset` and `length` there."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for tensor in out.graph.initializer:
        entries = {e.key: e.value for e in tensor.external_data}
        if tensor.data_location == onnx.TensorProto.EXTERNAL and entries.get("location") == location:
            offset, length = offsets[tensor.name]
            del tensor.external_data[:]
            for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
    return out


def split_models(models: dict[str, onnx.ModelProto], select: Select = linear_weights
                 ) -> tuple[dict[str, onnx.ModelProto], dict[str, np.ndarray]]:
    """split_initializers() of each graph on the initializers `select` picks; one array per name,
    shared by graphs (model.onnx and contacts.onnx), ValueError if two graphs disagree on its value."""
    out, arrays = {}, {}
    for fname, model in models.items():
        names = [t.name for t in model.graph.initializer if select(t)]
        out[fname], mine = split_initializers(model, names)
        for name, array in mine.items():
            if name in arrays and not (arrays[name].dtype == array.dtype and np.array_equal(arrays[name], array)):
                raise ValueError(f"initializer {name!r} differs between the pack's graphs ({fname})")
            arrays.setdefault(name, array)
    return out, arrays


def save_side_file(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez (uncompressed, no pickle) of the arrays, in name order."""
    with open(path, "wb") as fh:
        np.savez(fh, **{name: np.ascontiguousarray(arrays[name]) for name in sorted(arrays)})
    return Path(path)
