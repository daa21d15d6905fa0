"""Weights outside the graph (DESIGN.md section 3): a pack's `.npz` side file expanded into initializers.

A graph that takes weights from the side file keeps each such initializer declared (name,
data type, dims) as external data in the side file (`location` the file; exporter.side_weights
adds the array's offset and length in the uncompressed npz); `onnx.external_weights` names the
file and its arrays:

    "onnx": {"model": "model.onnx", ...,
             "external_weights": {"file": "weights.npz", "initializers": ["layers.0.fc1.weight_t", ...]}}

The arrays are read with numpy (`allow_pickle=False`), checked against every graph's
declarations, and handed to onnxruntime with `SessionOptions.add_external_initializers`
(app.core.session.open_session), one array shared by model.onnx and contacts.onnx. The
declarations are read from the protobuf wire format (app.core.onnx_refs), so no `onnx` package.

TensorProto fields read here (onnx/onnx.proto): dims 1, data_type 2, name 8, external_data 13
(key 1, value 2), data_location 14, and the data fields float_data 4, int32_data 5,
string_data 6, int64_data 7, raw_data 9, double_data 10, uint64_data 11.
"""
from __future__ import annotations

import mmap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .onnx_refs import Buffer, OnnxWireError, fields, graph_initializers, packed_varints
from .pack_error import PackError
from .pack_files import MANIFEST, file_path, graph_files
from .side_codecs import CodecError, decode

# ONNX TensorProto.DataType -> numpy dtype of the arrays a graph may take from a side file (after
# decoding `onnx.side_codecs`: app/core/side_codecs.py)
DTYPES: dict[int, np.dtype] = {1: np.dtype(np.float32), 3: np.dtype(np.int8)}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class Declared:
    """A top-level graph initializer as the ONNX file declares it; `location` is its external-data
    file (None: data in the graph)."""
    name: str
    data_type: int
    dims: tuple[int, ...]
    location: Optional[str]


def _declared(buf: Buffer, start: int, end: int) -> Declared:
    name, data_type, dims, location, external = "", 0, [], None, False
    for number, wire, a, b in fields(buf, start, end):
        if number == 8 and wire == 2:
            name = bytes(buf[a:b]).decode("utf-8", "replace")
        elif number == 2 and wire == 0:
            data_type = a
        elif number == 1:
            dims += [a] if wire == 0 else packed_varints(buf, a, b)
        elif number == 14 and wire == 0:
            external = a == EXTERNAL
        elif number == 13 and wire == 2:
            entry = {k: bytes(buf[x:y]).decode("utf-8", "replace") for k, w, x, y in fields(buf, a, b) if w == 2}
            if entry.get(1) == "location":
                location = entry.get(2, "")
    return Declared(name, data_type, tuple(dims), location if external else None)


def declared_initializers_in(buf: Buffer) -> dict[str, Declared]:
    """{name: Declared} of the main graph's initializers (ModelProto.graph 7, GraphProto.initializer 5)."""
    found: dict[str, Declared] = {}
    for x, y in graph_initializers(buf):
        decl = _declared(buf, x, y)
        found[decl.name] = decl
    return found


def declared_initializers(path: Path) -> dict[str, Declared]:
    """declared_initializers_in() of an ONNX file, memory-mapped."""
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return {}
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return declared_initializers_in(buf)


def side_spec(manifest: dict) -> Optional[tuple[str, list[str]]]:
    """(file, initializer names) of `onnx.external_weights`, or None for a pack without it."""
    spec = manifest["onnx"].get("external_weights")
    return None if spec is None else (spec["file"], list(spec["initializers"]))


def _read_arrays(pack_dir: Path, fpath: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The side file's arrays; PackError naming the file and array when one is missing or extra."""
    try:
        with np.load(fpath, allow_pickle=False) as npz:
            present = set(npz.files)
            missing = [n for n in names if n not in present]
            extra = sorted(present - set(names))
            if missing:
                raise PackError(f"{fpath}: array {missing[0]!r} listed in 'onnx.external_weights.initializers' "
                                f"is missing from the side file ({len(missing)} missing)", pack_dir)
            if extra:
                raise PackError(f"{fpath}: array {extra[0]!r} is not listed in "
                                f"'onnx.external_weights.initializers' ({len(extra)} unlisted)", pack_dir)
            return {n: npz[n] for n in names}
    except PackError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:  # bad zip, a pickled object array
        raise PackError(f"{fpath}: not a readable .npz of plain arrays ({e})", pack_dir) from None


def _check_graph(pack_dir: Path, gpath: Path, decls: dict[str, Declared], arrays: dict[str, np.ndarray],
                 spec_file: Optional[str]) -> dict[str, np.ndarray]:
    """The arrays graph `gpath` takes from the side file; PackError on a placeholder with no array,
    an array for an initializer stored elsewhere, or a dtype / shape other than the declaration."""
    wanted = {}
    for name, decl in decls.items():
        in_side = spec_file is not None and decl.location == spec_file
        if name not in arrays:
            if in_side:
                raise PackError(f"{pack_dir / spec_file}: array {name!r}, which {gpath.name} reads from it, "
                                f"is not in the side file", pack_dir)
            continue
        if not in_side:
            raise PackError(f"{gpath}: initializer {name!r} has an array in {spec_file!r} but the graph "
                            f"stores it {'in ' + repr(decl.location) if decl.location else 'itself'}", pack_dir)
        array, want = arrays[name], DTYPES.get(decl.data_type)
        if want is None:
            raise PackError(f"{gpath}: initializer {name!r} has ONNX data type {decl.data_type}; a side file "
                            f"holds only {', '.join(str(d) for d in DTYPES.values())}", pack_dir)
        if array.dtype != want or tuple(array.shape) != decl.dims:
            raise PackError(f"{pack_dir / spec_file}: array {name!r} is {array.dtype} {list(array.shape)}, but "
                            f"{gpath.name} declares {want} {list(decl.dims)}", pack_dir)
        wanted[name] = array
    return wanted


def _decoded(pack_dir: Path, side_file: str, arrays: dict[str, np.ndarray], codecs: object
             ) -> dict[str, np.ndarray]:
    """The side file's arrays with each `onnx.side_codecs` entry decoded (app.core.side_codecs)."""
    if not isinstance(codecs, dict):
        raise PackError(f"{pack_dir / MANIFEST}: 'onnx.side_codecs' must be an object, got {type(codecs).__name__}",
                        pack_dir)
    unknown = sorted(set(codecs) - set(arrays))
    if unknown:
        raise PackError(f"{pack_dir / MANIFEST}: 'onnx.side_codecs' names {unknown[0]!r}, which is not an array "
                        f"of {side_file}", pack_dir)
    out = dict(arrays)
    for name, spec in codecs.items():
        try:
            out[name] = decode(name, arrays[name], spec)
        except CodecError as e:
            raise PackError(f"{pack_dir / side_file}: {e}", pack_dir) from None
    return out


def load_side_weights(pack_dir: Path, manifest: dict) -> dict[str, dict[str, np.ndarray]]:
    """{graph file: {initializer: array}} for each graph of a masked-LM pack (empty dicts without a
    side file). Sizes and hashes are load_pack's (the side file is listed in `files`)."""
    pack_dir = Path(pack_dir)
    spec = side_spec(manifest)
    arrays: dict[str, np.ndarray] = {}
    if spec is not None:
        arrays = _decoded(pack_dir, spec[0], _read_arrays(pack_dir, file_path(pack_dir, spec[0]), spec[1]),
                          manifest["onnx"].get("side_codecs", {}))
    per_graph, used = {}, set()
    for name in graph_files(manifest):
        gpath = file_path(pack_dir, name)
        try:
            decls = declared_initializers(gpath)
        except (OnnxWireError, OSError) as e:
            raise PackError(f"{gpath}: cannot load the model: not a valid ONNX file ({e})", pack_dir) from None
        per_graph[name] = _check_graph(pack_dir, gpath, decls, arrays, spec and spec[0])
        used |= set(per_graph[name])
    unused = [n for n in arrays if n not in used]
    if unused:
        raise PackError(f"{pack_dir / spec[0]}: array {unused[0]!r} is used by no graph of the pack "
                        f"({len(unused)} unused; {pack_dir / MANIFEST} lists it)", pack_dir)
    return per_graph
